//! The platform's services as the console calls them: the very
//! implementations the gRPC server serves, called in-process with the
//! signed-in reader's token, so each page view passes the same door (token
//! check, agreement, audit) as a gRPC call.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use concord_core::pb;
use concord_core::pb::admin_service_server::AdminService;
use concord_core::pb::alert_service_server::AlertService;
use concord_core::pb::audit_service_server::AuditService;
use concord_core::pb::briefing_service_server::BriefingService;
use concord_core::pb::directory_service_server::DirectoryService;
use concord_core::pb::log_service_server::LogService;
use concord_core::pb::publish_service_server::PublishService;
use concord_core::pb::query_service_server::QueryService;
use concord_core::pb::replay_service_server::ReplayService;
use futures::Stream;
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::server::TcpConnectInfo;

/// A live subscription's stream, as `QueryService` implementations give it.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<pb::EventView, tonic::Status>> + Send>>;

/// A live alert stream, as `AlertService` implementations give it.
pub type AlertStream = Pin<Box<dyn Stream<Item = Result<pb::Alert, tonic::Status>> + Send>>;

/// A replay's stream of batches, as `ReplayService` implementations give it.
pub type ReplayStream = Pin<Box<dyn Stream<Item = Result<pb::ReplayBatch, tonic::Status>> + Send>>;

/// The services pages read (and publish) through. The first three every
/// console has; the others only where the process runs them (a query
/// replica publishes nothing, so it has no `publish`).
#[derive(Clone)]
pub struct Services {
    /// `QueryService`: timelines and single events.
    pub query: Arc<dyn QueryService<SubscribeStream = EventStream>>,
    /// `DirectoryService`: finding a subject by name and date of birth.
    pub directory: Arc<dyn DirectoryService>,
    /// `AuditService`: who read or added what (auditors).
    pub audit: Arc<dyn AuditService>,
    /// `LogService`: the event log's signed checkpoint.
    pub log: Option<Arc<dyn LogService>>,
    /// `PublishService`: events published as the reader's agency, through
    /// the agency's node (forms, action updates).
    pub publish: Option<Arc<dyn PublishService>>,
    /// `BriefingService`: the daily VVE briefing.
    pub briefing: Option<Arc<dyn BriefingService>>,
    /// `AlertService`: live alerts for the reader's agency.
    pub alerts: Option<Arc<dyn AlertService<WatchStream = AlertStream>>>,
    /// `AdminService`: subject access, erasure and retention.
    pub admin: Option<Arc<dyn AdminService>>,
    /// `ReplayService`: the pseudonymised replay analysts' profiles read.
    pub replay: Option<Arc<dyn ReplayService<ReplayStream = ReplayStream>>>,
}

/// Who a page reads as: the signed-in reader's token, and the browser's
/// address (the access record's peer).
pub struct Reader<'a> {
    /// The bearer token the session holds.
    pub token: &'a str,
    /// The browser's address.
    pub peer: SocketAddr,
}

impl Reader<'_> {
    /// `message` as a request from this reader, as a gRPC client would send
    /// it: the token in `authorization`, the peer as the connection's.
    pub fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        // A token that is no header value (it never is: JWTs are ASCII) is
        // sent as none, and the door refuses the call as unauthenticated.
        if let Ok(value) = MetadataValue::try_from(format!("Bearer {}", self.token)) {
            request.metadata_mut().insert("authorization", value);
        }
        request.extensions_mut().insert(TcpConnectInfo { local_addr: None, remote_addr: Some(self.peer) });
        request
    }
}
