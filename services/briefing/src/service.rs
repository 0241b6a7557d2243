//! `BriefingService`: generate, retrieve and list briefings. Briefings are
//! for practitioners and briefing leads of the recipient agency only; every
//! call, refused or not, is recorded in the audit log, and a briefing is
//! released only once its access record (listing every event it shows) is
//! durable.

use std::sync::Arc;

use concord_audit::access::{Access, Tally, audit_unavailable, record_call};
use concord_core::pb::briefing_service_server::BriefingService;
use concord_core::status::invalid_argument;
use concord_core::{millis, now_millis, pb, timestamp};
use concord_identity::{Principal, Role, Verifier};
use concord_query::view::Views;
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
    verifier: Arc<Verifier>,
    store: Arc<BriefingStore>,
    time: BriefingTime,
}

/// Runs blocking store work off the async runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, Status> + Send + 'static) -> Result<T, Status> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Status::internal(format!("briefing task failed: {e}")))?
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
        BriefingApi { views, verifier, store, time }
    }

    /// The partnership's briefing time.
    pub fn time(&self) -> &BriefingTime {
        &self.time
    }

    /// The published briefings.
    pub fn store(&self) -> &Arc<BriefingStore> {
        &self.store
    }

    /// The caller, if they may read briefings; a refusal is recorded first.
    async fn reader<T>(&self, access: &Access, request: &Request<T>) -> Result<Principal, Status> {
        let recorder = self.views.recorder();
        let caller = match self.verifier.authenticate(request.metadata()) {
            Ok(caller) => caller,
            Err(status) => return record_call(recorder, access, None, Err(status)).await,
        };
        if !may_read_briefings(caller.role) {
            let denied = Status::permission_denied(format!(
                "briefings are for practitioners and briefing leads, not role {}",
                caller.role
            ));
            return record_call(recorder, access, Some(&caller), Err(denied)).await;
        }
        Ok(caller)
    }

    /// Records a briefing (or how producing it failed) and only then releases it.
    async fn release(
        &self,
        access: &Access,
        principal: &Principal,
        outcome: Result<Assembled, Status>,
        tally: &Tally,
    ) -> Result<pb::Briefing, Status> {
        let record = match &outcome {
            Ok(assembled) => access.record(Some(principal), assembled.shown.clone(), tally, None),
            Err(status) => access.record(Some(principal), Vec::new(), tally, Some(status)),
        };
        self.views.recorder().record(record).await.map_err(audit_unavailable)?;
        outcome.map(|a| a.briefing)
    }

    /// Generates (and, if asked, publishes) `principal`'s agency's briefing.
    /// `principal` is already authenticated and allowed: a caller of the
    /// API, or the schedule. Audited like any read.
    pub async fn generate_as(
        &self,
        principal: &Principal,
        request: &Request<pb::GenerateBriefingRequest>,
    ) -> Result<pb::Briefing, Status> {
        let asked = request.get_ref();
        let window =
            match self.time.window(asked.from.as_ref().map(millis), asked.to.as_ref().map(millis), now_millis()) {
                Ok(window) => window,
                Err((field, reason)) => {
                    let access = Access::of(GENERATE, request);
                    return record_call(
                        self.views.recorder(),
                        &access,
                        Some(principal),
                        Err(invalid_argument(field, &reason)),
                    )
                    .await;
                }
            };
        let briefing_id = uuid::Uuid::now_v7().to_string();
        // The record names the window the briefing covered and the briefing itself.
        let parameters = serde_json::json!({
            "request": asked,
            "briefing_id": briefing_id,
            "from": rfc3339(window.from),
            "to": rfc3339(window.to),
        });
        let access = Access::with_parameters(GENERATE, request, parameters.to_string());
        let history_from = match self.time.year_before(window.from) {
            Ok(from) => from,
            Err(e) => {
                let status = invalid_argument("from", &e.to_string());
                return self.release(&access, principal, Err(status), &Tally::default()).await;
            }
        };
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
        let gathered = blocking(move || collect::gather(&views, &who, window, history_from, &boroughs)).await;
        let (parts, tally) = match gathered {
            Ok(gathered) => gathered,
            Err(status) => return self.release(&access, principal, Err(status), &Tally::default()).await,
        };
        let assembled = assemble(&header, parts, &self.time);
        let outcome = if asked.publish { self.publish(&header, assembled).await } else { Ok(assembled) };
        self.release(&access, principal, outcome, &tally).await
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

    async fn get_briefing_as(
        &self,
        principal: &Principal,
        access: &Access,
        request: pb::GetBriefingRequest,
    ) -> Result<pb::Briefing, Status> {
        let refuse = |status: Status| record_call(self.views.recorder(), access, Some(principal), Err(status));
        let id = match uuid::Uuid::parse_str(&request.briefing_id) {
            Ok(id) => id,
            Err(e) => return refuse(invalid_argument("briefing_id", &e.to_string())).await,
        };
        let store = self.store.clone();
        let published = match blocking(move || store.get(&id).map_err(store_unavailable)).await {
            Ok(Some(published)) => published,
            Ok(None) => return refuse(Status::not_found(format!("no published briefing {id}"))).await,
            Err(status) => return refuse(status).await,
        };
        if published.recipient != principal.agency.as_str() {
            let status =
                Status::permission_denied(format!("briefing {id} is for {}'s readers only", published.recipient));
            return refuse(status).await;
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
        let (outcome, tally) = match blocking(move || collect::reload(&views, &who, &kept)).await {
            Ok((parts, tally)) => (Ok(assemble(&header, parts, &self.time)), tally),
            Err(status) => (Err(status), Tally::default()),
        };
        self.release(access, principal, outcome, &tally).await
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

#[tonic::async_trait]
impl BriefingService for BriefingApi {
    async fn generate(&self, request: Request<pb::GenerateBriefingRequest>) -> Result<Response<pb::Briefing>, Status> {
        let access = Access::of(GENERATE, &request);
        let principal = self.reader(&access, &request).await?;
        self.generate_as(&principal, &request).await.map(Response::new)
    }

    async fn get_briefing(&self, request: Request<pb::GetBriefingRequest>) -> Result<Response<pb::Briefing>, Status> {
        let access = Access::of(GET_BRIEFING, &request);
        let principal = self.reader(&access, &request).await?;
        self.get_briefing_as(&principal, &access, request.into_inner()).await.map(Response::new)
    }

    async fn list_briefings(
        &self,
        request: Request<pb::ListBriefingsRequest>,
    ) -> Result<Response<pb::BriefingList>, Status> {
        let access = Access::of(LIST_BRIEFINGS, &request);
        let principal = self.reader(&access, &request).await?;
        let result = self.list_as(&principal, request.into_inner()).await;
        record_call(self.views.recorder(), &access, Some(&principal), result).await.map(Response::new)
    }
}
