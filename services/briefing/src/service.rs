//! `BriefingService`: generate, retrieve and list briefings. Briefings are
//! for practitioners and briefing leads of the recipient agency only; every
//! call, refused or not, is recorded in the audit log, and a briefing is
//! released only once its access record (listing every event it shows) is
//! durable.

use concord_read::blocking;
use std::sync::Arc;

use concord_audit::access::Access;
use concord_audit::{Call, Door};
use concord_core::pb::briefing_service_server::BriefingService;
use concord_core::status::invalid_argument;
use concord_core::{millis, now_millis, pb, timestamp};
use concord_identity::{Principal, Role, Verifier};
use concord_read::Views;
use tonic::{Request, Response, Status};

use crate::assemble::{Assembled, Header, assemble};
use crate::collect;
use crate::store::{BriefingStore, Published};
use crate::window::{BriefingTime, Window};

const GENERATE: &str = "/concord.v1.BriefingService/Generate";
const GET_BRIEFING: &str = "/concord.v1.BriefingService/GetBriefing";
const LIST_BRIEFINGS: &str = "/concord.v1.BriefingService/ListBriefings";

/// The gRPC briefing API.
pub struct BriefingApi {
    views: Arc<Views>,
    door: Door,
    store: Arc<BriefingStore>,
    time: BriefingTime,
}

fn store_unavailable(e: crate::BriefingError) -> Status {
    tracing::error!(error = %e, "briefing store failed");
    Status::unavailable(e.to_string())
}

/// Whether `role` may read briefings: the practitioners who attend the
/// briefing and the leads who run it. Analysts (pseudonymised data only),
/// auditors (no content) and admins (data protection requests) may not.
pub fn may_read_briefings(role: Role) -> bool {
    matches!(role, Role::Practitioner | Role::BriefingLead)
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

impl BriefingApi {
    /// Briefings from `views`, for callers authenticated by `verifier`,
    /// published into `store`, with default windows ending at `time`.
    pub fn new(views: Arc<Views>, verifier: Arc<Verifier>, store: Arc<BriefingStore>, time: BriefingTime) -> Self {
        let door = Door::new(verifier, views.recorder().clone());
        BriefingApi { views, door, store, time }
    }

    /// The partnership's briefing time.
    pub fn time(&self) -> &BriefingTime {
        &self.time
    }

    /// The published briefings.
    pub fn store(&self) -> &Arc<BriefingStore> {
        &self.store
    }

    /// Generates (and, if asked, publishes) `principal`'s agency's briefing
    /// as the platform itself (the schedule), audited like a caller's.
    pub async fn generate_as(
        &self,
        principal: &Principal,
        request: &Request<pb::GenerateBriefingRequest>,
    ) -> Result<pb::Briefing, Status> {
        let call = Call::on_behalf_of(Access::of(GENERATE, request), principal.clone(), self.door.recorder().clone());
        call.run(async |call| self.generate_in(call, request.get_ref()).await).await
    }

    /// Generates (and, if asked, publishes) the caller's agency's briefing;
    /// the caller is already allowed. Its record lists every event it shows.
    async fn generate_in(&self, call: &Call, asked: &pb::GenerateBriefingRequest) -> Result<pb::Briefing, Status> {
        let principal = call.caller()?;
        let window = self
            .time
            .window(asked.from.as_ref().map(millis), asked.to.as_ref().map(millis), now_millis())
            .map_err(|(field, reason)| invalid_argument(field, &reason))?;
        let briefing_id = uuid::Uuid::now_v7().to_string();
        // The record names the window the briefing covered and the briefing itself.
        let parameters = serde_json::json!({
            "request": asked,
            "briefing_id": briefing_id,
            "from": rfc3339(window.from),
            "to": rfc3339(window.to),
        });
        call.parameters(parameters.to_string());
        let history_from = self.time.year_before(window.from).map_err(|e| invalid_argument("from", &e.to_string()))?;
        let header = Header {
            briefing_id,
            recipient: principal.agency.to_string(),
            window,
            history_from,
            generated_at: now_millis(),
            generated_by: principal.sub.clone(),
            published: asked.publish,
            boroughs: asked.boroughs.iter().map(|b| b.trim().to_string()).filter(|b| !b.is_empty()).collect(),
        };
        let (views, who) = (self.views.clone(), principal.clone());
        let boroughs = header.boroughs.clone();
        let cohort = Some(asked.cohort.trim().to_string()).filter(|c| !c.is_empty());
        let (parts, tally) =
            blocking(move || collect::gather(&views, &who, window, history_from, &boroughs, cohort.as_deref())).await?;
        call.decided(&tally);
        let assembled = assemble(&header, parts, &self.time);
        let assembled = if asked.publish { self.publish(&header, assembled).await? } else { assembled };
        call.shows(assembled.shown);
        Ok(assembled.briefing)
    }

    /// Stores an assembled briefing; it is released only if this succeeds.
    async fn publish(&self, header: &Header, assembled: Assembled) -> Result<Assembled, Status> {
        let b = &assembled.briefing;
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let published = Published {
            briefing_id: header.briefing_id.clone(),
            recipient: header.recipient.clone(),
            from: header.window.from,
            to: header.window.to,
            history_from: header.history_from,
            generated_at: header.generated_at,
            generated_by: header.generated_by.clone(),
            window: assembled.kept.window.clone(),
            history: assembled.kept.history.clone(),
            items: assembled.kept.items.clone(),
            counts: (count(b.groups.len()), count(assembled.kept.window.len()), count(b.open_actions.len())),
            boroughs: header.boroughs.clone(),
        };
        let store = self.store.clone();
        blocking(move || store.put(&published).map_err(store_unavailable)).await?;
        Ok(assembled)
    }

    async fn get_briefing_in(&self, call: &Call, request: pb::GetBriefingRequest) -> Result<pb::Briefing, Status> {
        let principal = call.caller()?;
        let id =
            uuid::Uuid::parse_str(&request.briefing_id).map_err(|e| invalid_argument("briefing_id", &e.to_string()))?;
        let store = self.store.clone();
        let published = blocking(move || store.get(&id).map_err(store_unavailable))
            .await?
            .ok_or_else(|| Status::not_found(format!("no published briefing {id}")))?;
        if published.recipient != principal.agency.as_str() {
            return Err(Status::permission_denied(format!(
                "briefing {id} is for {}'s readers only",
                published.recipient
            )));
        }
        let header = Header {
            briefing_id: published.briefing_id.clone(),
            recipient: published.recipient.clone(),
            window: Window { from: published.from, to: published.to },
            history_from: published.history_from,
            generated_at: published.generated_at,
            generated_by: published.generated_by.clone(),
            published: true,
            boroughs: published.boroughs.clone(),
        };
        // Decided again, for this reader, by the agreement as it stands now.
        let (views, who, kept) = (self.views.clone(), principal.clone(), published.kept());
        let (parts, tally) = blocking(move || collect::reload(&views, &who, &kept)).await?;
        call.decided(&tally);
        let assembled = assemble(&header, parts, &self.time);
        call.shows(assembled.shown);
        Ok(assembled.briefing)
    }

    async fn list_as(
        &self,
        principal: &Principal,
        request: pb::ListBriefingsRequest,
    ) -> Result<pb::BriefingList, Status> {
        let agency = if request.agency_id.is_empty() { principal.agency.to_string() } else { request.agency_id };
        if agency != principal.agency.as_str() {
            return Err(Status::permission_denied(format!("{agency}'s briefings are for its own readers only")));
        }
        let limit = match request.page_size {
            0 => 100,
            n @ 1..=1000 => n as usize,
            _ => return Err(invalid_argument("page_size", "at most 1000")),
        };
        let after = match request.page_token.as_str() {
            "" => None,
            token => {
                Some(hex::decode(token).map_err(|_| invalid_argument("page_token", "not a token from this list"))?)
            }
        };
        let (from, to) = (request.from.as_ref().map(millis), request.to.as_ref().map(millis));
        let store = self.store.clone();
        let listed = blocking(move || {
            store.list(&agency, from, to, after.as_deref(), limit).map_err(|e| match e {
                crate::BriefingError::Corrupt { .. } if after.is_some() => {
                    invalid_argument("page_token", "not a token from this list")
                }
                e => store_unavailable(e),
            })
        })
        .await?;
        let (page, next) = listed;
        let briefings = page
            .into_iter()
            .map(|p| pb::BriefingSummary {
                briefing_id: p.briefing_id,
                recipient_agency_id: p.recipient,
                from: Some(timestamp(p.from)),
                to: Some(timestamp(p.to)),
                generated_at: Some(timestamp(p.generated_at)),
                generated_by: p.generated_by,
                groups: p.counts.0,
                events: p.counts.1,
                open_actions: p.counts.2,
            })
            .collect();
        Ok(pb::BriefingList { briefings, next_page_token: next.map(hex::encode).unwrap_or_default() })
    }
}

/// The caller, if they may read briefings.
fn reader(call: &Call) -> Result<&Principal, Status> {
    let caller = call.caller()?;
    if !may_read_briefings(caller.role) {
        return Err(Status::permission_denied(format!(
            "briefings are for practitioners and briefing leads, not role {}",
            caller.role
        )));
    }
    Ok(caller)
}

#[tonic::async_trait]
impl BriefingService for BriefingApi {
    async fn generate(&self, request: Request<pb::GenerateBriefingRequest>) -> Result<Response<pb::Briefing>, Status> {
        self.door
            .call(Access::of(GENERATE, &request), request, async |call, request| {
                reader(call)?;
                self.generate_in(call, request.get_ref()).await
            })
            .await
    }

    async fn get_briefing(&self, request: Request<pb::GetBriefingRequest>) -> Result<Response<pb::Briefing>, Status> {
        self.door
            .call(Access::of(GET_BRIEFING, &request), request, async |call, request| {
                reader(call)?;
                self.get_briefing_in(call, request.into_inner()).await
            })
            .await
    }

    async fn list_briefings(
        &self,
        request: Request<pb::ListBriefingsRequest>,
    ) -> Result<Response<pb::BriefingList>, Status> {
        self.door
            .call(Access::of(LIST_BRIEFINGS, &request), request, async |call, request| {
                self.list_as(reader(call)?, request.into_inner()).await
            })
            .await
    }
}
