//! `AlertService.Watch`: a reader's live stream of the alerts that concern
//! their agency. The opening of the stream is recorded (or why it was
//! refused), then each delivery, before it is sent.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use concord_audit::Door;
use concord_audit::access::Access;
use concord_core::pb::alert_service_server::AlertService;
use concord_core::{AgencyId, pb};
use concord_directory::Following;
use concord_identity::Role;
use concord_read::Views;
use concord_read::{blocking, follow_live};
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::rules::raised_by;

const WATCH: &str = "/concord.v1.AlertService/Watch";

/// The gRPC alert API.
pub struct AlertApi {
    views: Arc<Views>,
    door: Door,
}

impl AlertApi {
    /// Alerts readers over `views`, every call through `door`.
    pub fn new(views: Arc<Views>, door: Door) -> Self {
        AlertApi { views, door }
    }
}

/// The caller's agency's cohort a watch follows (none asked: `None`), as
/// of the position it starts after.
async fn following(
    views: &Views,
    agency: &AgencyId,
    request: &pb::WatchAlertsRequest,
) -> Result<Option<Mutex<Following>>, Status> {
    if request.cohort.is_empty() {
        return Ok(None);
    }
    let (log, agency, name, after) =
        (views.log().clone(), agency.clone(), request.cohort.clone(), request.after_position);
    let cohort = blocking(move || Following::read(&log, &agency, &name, after)).await?;
    Ok(Some(Mutex::new(cohort)))
}

type AlertStream = Pin<Box<dyn Stream<Item = Result<pb::Alert, Status>> + Send>>;

#[tonic::async_trait]
impl AlertService for AlertApi {
    type WatchStream = AlertStream;

    async fn watch(&self, request: Request<pb::WatchAlertsRequest>) -> Result<Response<AlertStream>, Status> {
        self.door
            .call(Access::of(WATCH, &request), request, async |call, request| {
                let caller = call.caller()?;
                // Alerts are for those who act on them, not for analysis or audit.
                if !matches!(caller.role, Role::Practitioner | Role::BriefingLead) {
                    return Err(Status::permission_denied("alerts are for practitioners and briefing leads"));
                }
                let agency = caller.agency.clone();
                let cohort = following(&self.views, &agency, request.get_ref()).await?;
                // The opening of the stream is recorded; then each delivery.
                call.record_now().await?;
                let deliveries = call.deliveries()?;
                let (tx, rx) = mpsc::channel(4);
                let views = self.views.clone();
                tokio::spawn(
                    follow_live(
                        self.views.clone(),
                        deliveries,
                        request.get_ref().after_position,
                        move |_, event| {
                            // Every event passes the cohort, which follows its changes and merges.
                            if let Some(cohort) = &cohort {
                                let mut cohort = cohort.lock().unwrap_or_else(PoisonError::into_inner);
                                if !cohort.admits(event) {
                                    return Ok(None);
                                }
                            }
                            let raised = raised_by(&views, event)?;
                            Ok(raised.filter(|r| r.concerns(&agency)))
                        },
                        |view, raised| pb::Alert {
                            rule: raised.rule.to_string(),
                            reason: raised.reason.clone(),
                            event: Some(view),
                        },
                        tx,
                    )
                    .instrument(tracing::Span::current()),
                );
                Ok(Box::pin(ReceiverStream::new(rx)) as AlertStream)
            })
            .await
    }
}
