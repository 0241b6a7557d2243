//! `AlertService.Watch`: a reader's live stream of the alerts that concern
//! their agency. The opening of the stream is recorded (or why it was
//! refused), then each delivery, before it is sent.

use std::pin::Pin;
use std::sync::Arc;

use concord_audit::access::{Access, record_call};
use concord_core::pb;
use concord_core::pb::alert_service_server::AlertService;
use concord_identity::{Role, Verifier};
use concord_query::live::follow;
use concord_query::view::{Views, storage_unavailable};
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
    verifier: Arc<Verifier>,
}

impl AlertApi {
    /// Alerts readers over `views`, authenticating them with `verifier`.
    pub fn new(views: Arc<Views>, verifier: Arc<Verifier>) -> Self {
        AlertApi { views, verifier }
    }
}

type AlertStream = Pin<Box<dyn Stream<Item = Result<pb::Alert, Status>> + Send>>;

#[tonic::async_trait]
impl AlertService for AlertApi {
    type WatchStream = AlertStream;

    async fn watch(&self, request: Request<pb::WatchAlertsRequest>) -> Result<Response<AlertStream>, Status> {
        let access = Access::of(WATCH, &request);
        let recorder = self.views.recorder();
        let caller = match self.verifier.authenticate(request.metadata()) {
            Ok(caller) => caller,
            Err(status) => return record_call(recorder, &access, None, Err(status)).await,
        };
        // Alerts are for those who act on them, not for analysis or audit.
        let opened = if matches!(caller.role, Role::Practitioner | Role::BriefingLead) {
            Ok(())
        } else {
            Err(Status::permission_denied("alerts are for practitioners and briefing leads"))
        };
        record_call(recorder, &access, Some(&caller), opened).await?;
        let agency = caller.agency.clone();
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(
            follow(
                self.views.clone(),
                caller,
                access,
                request.get_ref().after_position,
                move |log, event| {
                    let raised = raised_by(log, event).map_err(storage_unavailable)?;
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
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
