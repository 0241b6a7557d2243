//! The gRPC server: the services a process runs on one address, plus the
//! standard health and reflection services so any gRPC client can be pointed
//! at it.

use std::future::Future;
use std::sync::Arc;

use anyhow::Result;
use concord_alerts::AlertApi;
use concord_audit::{AuditLog, Door, Recorder};
use concord_briefing::BriefingApi;
use concord_core::pb::admin_service_server::AdminServiceServer;
use concord_core::pb::alert_service_server::AlertServiceServer;
use concord_core::pb::audit_service_server::AuditServiceServer;
use concord_core::pb::briefing_service_server::BriefingServiceServer;
use concord_core::pb::directory_service_server::DirectoryServiceServer;
use concord_core::pb::log_service_server::LogServiceServer;
use concord_core::pb::policy_service_server::PolicyServiceServer;
use concord_core::pb::publish_service_server::PublishServiceServer;
use concord_core::pb::query_service_server::QueryServiceServer;
use concord_core::pb::replay_service_server::ReplayServiceServer;
use concord_directory::{Directory, DirectoryApi};
use concord_identity::Verifier;
use concord_lifecycle::AdminApi;
use concord_log::log::Log;
use concord_node::{Node, PublishApi, UnheardAlert};
use concord_query::replay::Pseudonyms;
use concord_query::{AuditApi, LogApi, PolicyApi, QueryApi, ReplayApi};
use concord_read::Views;
use tokio::net::TcpListener;
use tonic_health::ServingStatus;

/// What one process serves.
pub struct Services {
    /// Checks every caller's token.
    pub verifier: Arc<Verifier>,
    /// Records every call before it is answered.
    pub recorder: Arc<Recorder>,
    /// The read side (`QueryService`, `PolicyService`), if this process has a log.
    pub views: Option<Arc<Views>>,
    /// The audit log (`AuditService`, with `views`), if this process keeps one.
    pub audit: Option<Arc<AuditLog>>,
    /// Analysts' pseudonyms: the partnership's secret and time zone
    /// (`ReplayService`, with `views`).
    pub replay: Option<Pseudonyms>,
    /// The log's proofs (`LogService`).
    pub log: Option<Arc<Log>>,
    /// Nodes publishing through `PublishService`.
    pub nodes: Vec<Arc<Node>>,
    /// Erasure, subject access and retention (`AdminService`).
    pub admin: Option<Arc<AdminApi>>,
    /// The daily VVE briefing (`BriefingService`).
    pub briefing: Option<Arc<BriefingApi>>,
    /// The partnership directory (`DirectoryService`).
    pub directory: Option<Arc<Directory>>,
    /// Whether the process can work (its store and bus); gRPC health says
    /// NOT_SERVING while it cannot.
    pub ready: Option<concord_telemetry::Readiness>,
}

/// Serves `services` on `listener` until `shutdown` completes, over TLS if
/// given a configuration.
pub async fn serve(
    services: Services,
    listener: TcpListener,
    tls: Option<tonic::transport::ServerTlsConfig>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    // Reflection in both versions: v1, and v1alpha for the clients that
    // speak only that (Python's grpcio-reflection, older grpcurl and Postman).
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(concord_core::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let (reflection_v1, reflection_v1alpha) = (reflection().build_v1()?, reflection().build_v1alpha()?);
    // Every RPC of every service below goes through this one door.
    let door = Door::new(services.verifier, services.recorder);
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    let mut router = builder
        .trace_fn(concord_telemetry::trace::grpc_server_span)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    if let (Some(views), Some(pseudonyms)) = (&services.views, services.replay) {
        health.set_serving::<ReplayServiceServer<ReplayApi>>().await;
        let api = ReplayApi::new(views.clone(), door.clone(), pseudonyms);
        router = router.add_service(ReplayServiceServer::new(api));
    }
    // Publishers beside a read side are told when their alert reaches nobody.
    let unheard = services.views.clone().map(unheard_alerts);
    // Auditors' questions about events and subjects need the event log to
    // locate them (replays name what they showed by position).
    let events = services.views.as_ref().map(|views| views.log().clone());
    if let Some(views) = services.views {
        health.set_serving::<QueryServiceServer<QueryApi>>().await;
        health.set_serving::<PolicyServiceServer<PolicyApi>>().await;
        health.set_serving::<AlertServiceServer<AlertApi>>().await;
        router = router.add_service(QueryServiceServer::new(QueryApi::new(views.clone(), door.clone())));
        router = router.add_service(AlertServiceServer::new(AlertApi::new(views.clone(), door.clone())));
        router = router.add_service(PolicyServiceServer::new(PolicyApi::new(views, door.clone())));
    }
    if let (Some(audit), Some(events)) = (services.audit, events) {
        health.set_serving::<AuditServiceServer<AuditApi>>().await;
        let api = AuditApi::new(audit, events, door.clone());
        router = router.add_service(AuditServiceServer::new(api));
    }
    if let Some(briefing) = services.briefing {
        health.set_serving::<BriefingServiceServer<BriefingApi>>().await;
        router = router.add_service(BriefingServiceServer::from_arc(briefing));
    }
    if let Some(directory) = services.directory {
        health.set_serving::<DirectoryServiceServer<DirectoryApi>>().await;
        router = router.add_service(DirectoryServiceServer::new(DirectoryApi::new(directory, door.clone())));
    }
    if let Some(admin) = services.admin {
        health.set_serving::<AdminServiceServer<AdminApi>>().await;
        router = router.add_service(AdminServiceServer::from_arc(admin));
    }
    if let Some(log) = services.log {
        health.set_serving::<LogServiceServer<LogApi>>().await;
        router = router.add_service(LogServiceServer::new(LogApi::new(log, door.clone())));
    }
    if !services.nodes.is_empty() {
        health.set_serving::<PublishServiceServer<PublishApi>>().await;
        let mut api = PublishApi::new(services.nodes, door);
        if let Some(unheard) = unheard {
            api = api.telling_unheard_alerts(unheard);
        }
        router = router.add_service(PublishServiceServer::new(api));
    }
    if let Some(ready) = services.ready {
        tokio::spawn(report_readiness(health, ready));
    }
    // A listener passed in by hand gets none of the builder's socket options:
    // without TCP_NODELAY, Nagle's algorithm and delayed ACKs hold small
    // answers back for tens of milliseconds.
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    router.serve_with_incoming_shutdown(incoming, shutdown).await?;
    Ok(())
}

/// Tells a publisher beside `views` when an event's alert reaches none of
/// the agencies it concerns.
pub fn unheard_alerts(views: Arc<Views>) -> UnheardAlert {
    Arc::new(move |event: &concord_core::pb::Event| match concord_alerts::reach::unheard(&views, event) {
        Ok(unheard) => unheard,
        Err(error) => {
            tracing::warn!(%error, "cannot tell whether an alert reaches anyone");
            None
        }
    })
}

/// Keeps the server's overall gRPC health (service "") in step with whether
/// the process can work, checking every second.
async fn report_readiness(health: tonic_health::server::HealthReporter, ready: concord_telemetry::Readiness) {
    let mut was = None;
    loop {
        let now = tokio::task::spawn_blocking({
            let ready = ready.clone();
            move || ready()
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        let serving = now.is_ok();
        if was != Some(serving) {
            let status = if serving { ServingStatus::Serving } else { ServingStatus::NotServing };
            if let Err(why) = &now {
                tracing::warn!(why = %why, "not serving: gRPC health says NOT_SERVING until it recovers");
            } else if was.is_some() {
                tracing::info!("serving again");
            }
            health.set_service_status("", status).await;
            was = Some(serving);
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
