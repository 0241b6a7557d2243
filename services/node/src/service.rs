//! `PublishService` over gRPC: an agency system publishes as its own agency.
//!
//! The caller's token must be for the agency the event names, with a role
//! that publishes (practitioner, briefing lead or admin); anything else is
//! refused before the event reaches a node.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use concord_core::AgencyId;
use concord_core::pb;
use concord_core::pb::publish_service_server::PublishService;
use concord_core::status::invalid_argument;
use concord_identity::{Role, Verifier};
use tonic::{Request, Response, Status};

use crate::node::{Node, NodeError};

/// How long a publish waits for the ledger's receipt when asked to.
const RECEIPT_WAIT: Duration = Duration::from_secs(30);

/// The gRPC publishing API over the nodes this process runs.
pub struct PublishApi {
    nodes: HashMap<AgencyId, Arc<Node>>,
    verifier: Arc<Verifier>,
}

impl PublishApi {
    /// Serves the given nodes, authenticating callers with `verifier`.
    pub fn new(nodes: impl IntoIterator<Item = Arc<Node>>, verifier: Arc<Verifier>) -> Self {
        let nodes = nodes.into_iter().map(|n| (n.agency().clone(), n)).collect();
        PublishApi { nodes, verifier }
    }
}

impl From<NodeError> for Status {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::Invalid(v) => v.into(),
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
        let principal = self.verifier.authenticate(request.metadata())?;
        if !matches!(principal.role, Role::Practitioner | Role::BriefingLead | Role::Admin) {
            return Err(Status::permission_denied(format!(
                "the {} role does not publish events",
                principal.role.as_str()
            )));
        }
        let request = request.into_inner();
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
        let wait = request.wait_for_ledger.then_some(RECEIPT_WAIT);
        let published = node.publish(event, wait).await?;
        Ok(Response::new(pb::PublishResponse {
            event_id: published.event_id.to_string(),
            position: published.position.unwrap_or_default(),
            duplicate: published.duplicate,
        }))
    }
}
