//! `PublishService` over gRPC: an agency system publishes as its own agency.
//!
//! The caller's token must be for the agency the event names, with a role
//! that publishes (practitioner, briefing lead or admin); anything else is
//! refused before the event reaches a node. Every call, refused or not, is
//! recorded (who, as which agency, which event id and type and subjects:
//! never the event's content) before it is answered.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use concord_audit::access::{Access, listed};
use concord_audit::{Call, Door};
use concord_core::AgencyId;
use concord_core::pb;
use concord_core::pb::publish_service_server::PublishService;
use concord_core::seal::SealError;
use concord_core::status::invalid_argument;
use concord_identity::{Principal, Role};
use tonic::{Request, Response, Status};

use crate::node::{Node, NodeError};

/// How long a publish waits for the ledger's receipt when asked to.
const RECEIPT_WAIT: Duration = Duration::from_secs(30);

/// The method recorded for a publish.
const RPC: &str = "/concord.v1.PublishService/Publish";

/// Says, for an accepted event, why the immediate alert it raises reaches
/// nobody (if it does): judged by the read side, which holds the agreement
/// and the consents (`concord_alerts::reach::unheard`).
pub type UnheardAlert = Arc<dyn Fn(&pb::Event) -> Option<String> + Send + Sync>;

/// The gRPC publishing API over the nodes this process runs.
pub struct PublishApi {
    nodes: HashMap<AgencyId, Arc<Node>>,
    door: Door,
    unheard: Option<UnheardAlert>,
}

impl PublishApi {
    /// Serves the given nodes, every call through `door`.
    pub fn new(nodes: impl IntoIterator<Item = Arc<Node>>, door: Door) -> Self {
        let nodes = nodes.into_iter().map(|n| (n.agency().clone(), n)).collect();
        PublishApi { nodes, door, unheard: None }
    }

    /// Tells publishers, in `PublishResponse.unheard_alert`, when the alert
    /// their event raises reaches nobody, as `unheard` judges.
    pub fn telling_unheard_alerts(mut self, unheard: UnheardAlert) -> Self {
        self.unheard = Some(unheard);
        self
    }

    /// Publishes for `principal`; on success also gives the event as the
    /// access record lists it.
    async fn publish_as(
        &self,
        principal: &Principal,
        request: pb::PublishRequest,
    ) -> Result<(pb::PublishResponse, pb::ShownEvent), Status> {
        if !matches!(principal.role, Role::Practitioner | Role::BriefingLead | Role::Admin) {
            return Err(Status::permission_denied(format!(
                "the {} role does not publish events",
                principal.role.as_str()
            )));
        }
        let mut event = request.event.ok_or_else(|| invalid_argument("event", "required"))?;
        if event.agency_id.is_empty() {
            event.agency_id = principal.agency.to_string();
        }
        if event.agency_id != principal.agency.as_str() {
            return Err(Status::permission_denied(format!(
                "your token is for {}; you cannot publish as {}",
                principal.agency, event.agency_id
            )));
        }
        let node = self
            .nodes
            .get(&principal.agency)
            .ok_or_else(|| Status::failed_precondition(format!("no node for {} runs here", principal.agency)))?;
        let mut added = listed(&event, pb::Visibility::Unspecified as i32);
        let wait = request.wait_for_ledger.then_some(RECEIPT_WAIT);
        let judged = self.unheard.as_ref().map(|unheard| {
            let mut event = event.clone();
            if event.agency_kind == 0 {
                event.agency_kind = principal.agency.kind() as i32;
            }
            (unheard.clone(), event)
        });
        let published = node.publish(event, wait).await?;
        added.event_id = published.event_id.to_string();
        let unheard_alert = match judged {
            // The judge reads the log: off the async threads.
            Some((unheard, event)) => {
                tokio::task::spawn_blocking(move || unheard(&event)).await.unwrap_or_default().unwrap_or_default()
            }
            None => String::new(),
        };
        let response = pb::PublishResponse {
            event_id: published.event_id.to_string(),
            position: published.position.unwrap_or_default(),
            duplicate: published.duplicate,
            unheard_alert,
        };
        Ok((response, added))
    }
}

/// What a publish records of its request: the event's id (if the caller gave
/// one) and type, never its content.
fn parameters(request: &pb::PublishRequest) -> String {
    let event = request.event.as_ref();
    serde_json::json!({
        "event_id": event.map(|e| e.event_id.as_str()).unwrap_or_default(),
        "event_type": event.and_then(|e| e.body.as_ref()).map(|b| concord_core::EventType::of(b).to_string()),
        "wait_for_ledger": request.wait_for_ledger,
    })
    .to_string()
}

impl From<NodeError> for Status {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::Invalid(v) => v.into(),
            // The keys could not be had (no replica answering, the store down): try again.
            NodeError::Seal(e @ SealError::KeyStore(_)) => Status::unavailable(e.to_string()),
            NodeError::Seal(e) => Status::invalid_argument(e.to_string()),
            NodeError::Bus(e) => Status::unavailable(e.to_string()),
            NodeError::Outbox(e) => Status::unavailable(e),
            NodeError::Task(_) => Status::internal(e.to_string()),
            NodeError::Rejected { conflict: true, .. } => Status::failed_precondition(e.to_string()),
            NodeError::Rejected { .. } => Status::invalid_argument(e.to_string()),
            NodeError::ReceiptTimeout(_) => Status::deadline_exceeded(e.to_string()),
        }
    }
}

#[tonic::async_trait]
impl PublishService for PublishApi {
    async fn publish(&self, request: Request<pb::PublishRequest>) -> Result<Response<pb::PublishResponse>, Status> {
        let access = Access::with_parameters(RPC, &request, parameters(request.get_ref()));
        self.door
            .call(access, request, async |call: &Call, request: Request<_>| {
                let (response, added) = self.publish_as(call.caller()?, request.into_inner()).await?;
                call.adds(added);
                // The event is accepted already: say so if it cannot be recorded.
                call.record_now().await.map_err(|status| {
                    Status::unavailable(format!(
                        "event {} was accepted and is on its way to the log, but {}; do not publish it again \
                         (it would be sealed anew and refused as a reused event_id)",
                        response.event_id,
                        status.message()
                    ))
                })?;
                Ok(response)
            })
            .await
    }
}
