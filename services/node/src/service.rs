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

use concord_audit::Recorder;
use concord_audit::access::{Access, Tally, audit_unavailable, listed, record_call};
use concord_core::AgencyId;
use concord_core::pb;
use concord_core::pb::publish_service_server::PublishService;
use concord_core::seal::SealError;
use concord_core::status::invalid_argument;
use concord_identity::{Principal, Role, Verifier};
use tonic::{Request, Response, Status};

use crate::node::{Node, NodeError};

/// How long a publish waits for the ledger's receipt when asked to.
const RECEIPT_WAIT: Duration = Duration::from_secs(30);

/// The method recorded for a publish.
const RPC: &str = "/concord.v1.PublishService/Publish";

/// The gRPC publishing API over the nodes this process runs.
pub struct PublishApi {
    nodes: HashMap<AgencyId, Arc<Node>>,
    verifier: Arc<Verifier>,
    recorder: Arc<Recorder>,
}

impl PublishApi {
    /// Serves the given nodes, authenticating callers with `verifier` and
    /// recording every call with `recorder`.
    pub fn new(nodes: impl IntoIterator<Item = Arc<Node>>, verifier: Arc<Verifier>, recorder: Arc<Recorder>) -> Self {
        let nodes = nodes.into_iter().map(|n| (n.agency().clone(), n)).collect();
        PublishApi { nodes, verifier, recorder }
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
        let published = node.publish(event, wait).await?;
        added.event_id = published.event_id.to_string();
        let response = pb::PublishResponse {
            event_id: published.event_id.to_string(),
            position: published.position.unwrap_or_default(),
            duplicate: published.duplicate,
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
        let principal = match self.verifier.authenticate(request.metadata()) {
            Ok(p) => p,
            Err(status) => return record_call(&self.recorder, &access, None, Err(status)).await,
        };
        let (response, added) = match self.publish_as(&principal, request.into_inner()).await {
            Ok(done) => done,
            Err(status) => return record_call(&self.recorder, &access, Some(&principal), Err(status)).await,
        };
        let mut record = access.record(Some(&principal), Vec::new(), &Tally::default(), None);
        record.added = vec![added];
        if let Err(e) = self.recorder.record(record).await {
            let status = audit_unavailable(e);
            return Err(Status::unavailable(format!(
                "event {} was accepted, but {}; publish it again with this event_id (it is deduplicated)",
                response.event_id,
                status.message()
            )));
        }
        Ok(Response::new(response))
    }
}
