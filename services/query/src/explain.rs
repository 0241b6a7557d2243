//! `PolicyService`: why the sharing agreement shows, redacts or withholds an
//! event for a given reader, for information governance reviews. Admins only.

use std::sync::Arc;

use concord_core::pb::policy_service_server::PolicyService;
use concord_core::pb::{self, Visibility};
use concord_core::status::invalid_argument;
use concord_core::{AgencyId, EventId};
use concord_identity::{Principal, Purpose, Role};
use concord_policy::Decision;
use tonic::{Request, Response, Status};

use concord_audit::Door;
use concord_audit::access::Access;
use concord_read::Views;

/// The gRPC policy API.
pub struct PolicyApi {
    views: Arc<Views>,
    door: Door,
}

impl PolicyApi {
    /// Explains decisions over `views`, every call through `door`.
    pub fn new(views: Arc<Views>, door: Door) -> Self {
        PolicyApi { views, door }
    }
}

/// The reader an explanation is for.
fn reader(request: &pb::ExplainRequest) -> Result<Principal, Status> {
    let agency = AgencyId::parse(&request.agency_id).map_err(|e| invalid_argument("agency_id", &e.to_string()))?;
    let role: Role = request.role.parse().map_err(|e: String| invalid_argument("role", &e))?;
    let purpose: Purpose = request.purpose.parse().map_err(|e: String| invalid_argument("purpose", &e))?;
    Ok(Principal { sub: "explain".into(), agency, role, purpose, token_id: None, expires_at: 0 })
}

#[tonic::async_trait]
impl PolicyService for PolicyApi {
    async fn explain(&self, request: Request<pb::ExplainRequest>) -> Result<Response<pb::ExplainResponse>, Status> {
        // The explanation names no content, but who asked about which event is recorded.
        let access = Access::of("/concord.v1.PolicyService/Explain", &request);
        self.door
            .call(access, request, async |call, request| {
                if call.caller()?.role != Role::Admin {
                    return Err(Status::permission_denied("explaining the sharing agreement is for admins"));
                }
                self.explain_for(request.into_inner()).await
            })
            .await
    }
}

impl PolicyApi {
    async fn explain_for(&self, request: pb::ExplainRequest) -> Result<pb::ExplainResponse, Status> {
        let reader = reader(&request)?;
        let id = EventId::parse(&request.event_id).map_err(|e| invalid_argument("event_id", &e.to_string()))?;
        let views = self.views.clone();
        let (explanation, event, consent) = tokio::task::spawn_blocking(move || {
            let position = views
                .log()
                .position_of(id.as_bytes())
                .map_err(concord_read::storage_unavailable)?
                .ok_or_else(|| Status::not_found(format!("no event {id} in the log")))?;
            views.explain(&reader, position)
        })
        .await
        .map_err(|e| Status::internal(format!("explain task failed: {e}")))??;
        let decision = match explanation.decision {
            Decision::Show => Visibility::Show,
            Decision::ShowRedacted => Visibility::ShowRedacted,
            Decision::Withhold => Visibility::Withheld,
        };
        Ok(pb::ExplainResponse {
            decision: decision as i32,
            see_rules: explanation.see,
            see_detail_rules: explanation.see_detail,
            forbidden_by: explanation.forbidden_by,
            policy_hash: explanation.policy_hash,
            consent_ref: event.consent_ref,
            consent_state: consent.status.as_str().to_string(),
        })
    }
}
