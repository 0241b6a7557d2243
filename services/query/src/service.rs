//! `QueryService`: single events, subject timelines, search and live
//! subscriptions, each result passed through the decision point.
//!
//! A withheld event and a missing one look the same to the reader: the same
//! NOT_FOUND, no counts, page tokens that carry only a cursor.

use concord_read::blocking;
use std::pin::Pin;
use std::sync::Arc;

use concord_core::pb::query_service_server::QueryService;
use concord_core::pb::{self, EventView};
use concord_core::status::invalid_argument;
use concord_core::{EventId, EventType, SubjectId, millis};
use concord_directory::Following;
use concord_eventlog::{BY_AGENCY, BY_TYPE, Merges};
use concord_identity::Principal;
use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::merged;
use crate::page::{PageKey, page_size};
use concord_audit::access::{Access, Tally, shown};
use concord_audit::{Call, Door};
use concord_read::{Decoded, Views, storage_unavailable};

/// How many entries one Search request examines at most before returning a
/// (possibly short) page with a token to continue.
const SCAN_BUDGET: usize = 10_000;

/// The gRPC query API.
pub struct QueryApi {
    views: Arc<Views>,
    door: Door,
    pages: Arc<PageKey>,
}

impl QueryApi {
    /// Serves reads from `views`, every call through `door`.
    pub fn new(views: Arc<Views>, door: Door) -> Self {
        QueryApi { views, door, pages: Arc::default() }
    }
}

/// A search's filters, checked.
struct Filter {
    event_type: Option<EventType>,
    agency: Option<String>,
    ward: Option<String>,
    subject: Option<SubjectId>,
    from: Option<i64>,
    to: Option<i64>,
}

impl Filter {
    fn matches(&self, event: &pb::Event) -> bool {
        let Some(body) = &event.body else {
            return false;
        };
        self.event_type.is_none_or(|t| EventType::of(body) == t)
            && self.agency.as_ref().is_none_or(|a| *a == event.agency_id)
            && self.ward.as_ref().is_none_or(|w| w.eq_ignore_ascii_case(event.ward.trim()))
            && self.subject.as_ref().is_none_or(|s| event.subjects.iter().any(|r| *r == s.to_ref()))
            && self.from.is_none_or(|f| event.occurred_at.as_ref().is_some_and(|t| millis(t) >= f))
            && self.to.is_none_or(|to| event.occurred_at.as_ref().is_some_and(|t| millis(t) < to))
    }
}

fn parse_type(s: &str) -> Result<Option<EventType>, Status> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|e: concord_core::IdError| invalid_argument("event_type", &e.to_string()))
}

fn parse_subject(s: Option<&pb::SubjectRef>, field: &str) -> Result<Option<SubjectId>, Status> {
    s.map(|r| SubjectId::from_ref(r).map_err(|e| invalid_argument(field, &e.to_string()))).transpose()
}

type EventStream = Pin<Box<dyn Stream<Item = Result<EventView, Status>> + Send>>;

/// A read's result and what the agreement withheld from it; the outer error
/// is a failure before anything was decided.
type Outcome<T> = Result<(Result<T, Status>, Tally), Status>;

const GET_EVENT: &str = "/concord.v1.QueryService/GetEvent";
const SUBJECT_TIMELINE: &str = "/concord.v1.QueryService/SubjectTimeline";
const SEARCH: &str = "/concord.v1.QueryService/Search";
const SUBSCRIBE: &str = "/concord.v1.QueryService/Subscribe";

/// Tells the door what a read decided and returned (its record lists it).
fn report<T>(call: &Call, outcome: Outcome<T>, shown_in: impl Fn(&T) -> Vec<pb::ShownEvent>) -> Result<T, Status> {
    let (result, tally) = outcome?;
    call.decided(&tally);
    let value = result?;
    call.shows(shown_in(&value));
    Ok(value)
}

impl QueryApi {
    async fn get_event_inner(&self, principal: &Principal, request: pb::GetEventRequest) -> Outcome<EventView> {
        let id = EventId::parse(&request.event_id).map_err(|e| invalid_argument("event_id", &e.to_string()))?;
        let views = self.views.clone();
        let principal = principal.clone();
        let visible = blocking(move || {
            let Some(position) = views.log().position_of(id.as_bytes()).map_err(storage_unavailable)? else {
                return Ok(None);
            };
            views.load(&principal, &[position]).map(Some)
        })
        .await?;
        let mut tally = Tally::default();
        if let Some(v) = &visible {
            tally.add(v.withheld, &v.policy_hash);
        }
        let view = visible.and_then(|v| v.events.into_iter().next());
        Ok((view.ok_or_else(|| Status::not_found(format!("no event {id} that you may see"))), tally))
    }

    async fn timeline_inner(
        &self,
        principal: &Principal,
        request: pb::SubjectTimelineRequest,
    ) -> Outcome<pb::EventPage> {
        let subject = parse_subject(request.subject.as_ref(), "subject")?
            .ok_or_else(|| invalid_argument("subject", "required"))?;
        let limit = page_size(request.page_size)?;
        let log = self.views.log().clone();
        let merges = blocking(move || Merges::read(&log).map_err(storage_unavailable)).await?;
        if merged::involves(&merges, &subject) {
            return self.merged_timeline(principal, &merges, subject, limit, &request.page_token).await;
        }
        let scope = format!("timeline {subject}");
        let after = self
            .pages
            .decode(&scope, &request.page_token)
            .ok_or_else(|| invalid_argument("page_token", "not a token from this timeline"))?;
        let views = self.views.clone();
        let pages = self.pages.clone();
        let principal = principal.clone();
        let page = blocking(move || {
            let mut tally = Tally::default();
            // Fill the page with visible events (up to a scan budget), so a
            // short page never hints that withheld events were skipped.
            let (mut events, mut cursor, mut scanned) = (Vec::new(), after, 0);
            let more = loop {
                let want = limit - events.len();
                let versions = views.log().stream(&subject.stream(), cursor, want).map_err(storage_unavailable)?;
                let positions: Vec<u64> = versions.iter().map(|(_, p)| *p).collect();
                let visible = views.load(&principal, &positions)?;
                tally.add(visible.withheld, &visible.policy_hash);
                events.extend(visible.events);
                scanned += versions.len();
                let Some((last, _)) = versions.last() else { break false };
                cursor = *last;
                if versions.len() < want {
                    break false;
                }
                if events.len() == limit || scanned >= SCAN_BUDGET {
                    break true;
                }
            };
            let next = if more { pages.encode(&scope, cursor) } else { String::new() };
            Ok((pb::EventPage { events, next_page_token: next }, tally))
        })
        .await?;
        Ok((Ok(page.0), page.1))
    }

    /// A timeline that merges involve (see [`merged`]); its page tokens
    /// carry a log position, in their own scope.
    async fn merged_timeline(
        &self,
        principal: &Principal,
        merges: &Merges,
        subject: SubjectId,
        limit: usize,
        token: &str,
    ) -> Outcome<pb::EventPage> {
        let scope = format!("merged timeline {subject}");
        let after = self
            .pages
            .decode(&scope, token)
            .ok_or_else(|| invalid_argument("page_token", "not a token from this timeline"))?;
        let (views, merges, principal) = (self.views.clone(), merges.clone(), principal.clone());
        let page =
            blocking(move || merged::page(&views, &principal, &merges, &subject, after, limit, SCAN_BUDGET)).await?;
        let next = page.next.map(|cursor| self.pages.encode(&scope, cursor)).unwrap_or_default();
        Ok((Ok(pb::EventPage { events: page.events, next_page_token: next }), page.tally))
    }

    /// The caller's agency's cohort a subscription follows, as of the
    /// position it starts after.
    async fn cohort(
        &self,
        principal: &Principal,
        request: &pb::SubscribeRequest,
    ) -> Result<Option<std::sync::Mutex<Following>>, Status> {
        if request.cohort.is_empty() {
            return Ok(None);
        }
        let (log, agency, name, after) =
            (self.views.log().clone(), principal.agency.clone(), request.cohort.clone(), request.after_position);
        let cohort = blocking(move || Following::read(&log, &agency, &name, after)).await?;
        Ok(Some(std::sync::Mutex::new(cohort)))
    }

    async fn search_inner(&self, principal: &Principal, request: pb::SearchRequest) -> Outcome<pb::EventPage> {
        let limit = page_size(request.page_size)?;
        let filter = Filter {
            event_type: parse_type(&request.event_type)?,
            agency: (!request.agency_id.is_empty()).then(|| request.agency_id.clone()),
            ward: (!request.ward.is_empty()).then(|| request.ward.trim().to_string()),
            subject: None,
            from: request.from.as_ref().map(millis),
            to: request.to.as_ref().map(millis),
        };
        if let (Some(f), Some(t)) = (filter.from, filter.to)
            && f >= t
        {
            return Err(invalid_argument("to", "must be after `from`"));
        }
        let scope = format!(
            "search {}|{}|{}|{:?}|{:?}",
            request.event_type, request.agency_id, request.ward, filter.from, filter.to
        );
        let mut after = self
            .pages
            .decode(&scope, &request.page_token)
            .ok_or_else(|| invalid_argument("page_token", "not a token from this search"))?;
        let views = self.views.clone();
        let pages = self.pages.clone();
        let principal = principal.clone();
        let page = blocking(move || {
            let mut tally = Tally::default();
            let log = views.log();
            // Fill the page with visible events (up to a scan budget): a short
            // page must not hint at how many matching events were withheld.
            let (mut events, mut scanned) = (Vec::new(), 0);
            let more = loop {
                let chunk = limit.max(64);
                // A chunk's entries are read together, in one read transaction.
                let stored = match (&filter.event_type, &filter.agency) {
                    (Some(t), _) => views.stored_many(&exact(log, BY_TYPE, t.as_str().as_bytes(), after, chunk)?)?,
                    (None, Some(a)) => views.stored_many(&exact(log, BY_AGENCY, a.as_bytes(), after, chunk)?)?,
                    (None, None) => log
                        .read_from(after, chunk)
                        .map_err(storage_unavailable)?
                        .into_iter()
                        .map(|e| (e.position, e.bytes))
                        .collect(),
                };
                let Some(&(last, _)) = stored.last() else { break false };
                let mut matched = Vec::new();
                for (position, bytes) in stored {
                    scanned += 1;
                    let decoded = Decoded::of(position, &bytes)?;
                    if filter.matches(&decoded.event) {
                        matched.push(decoded);
                    }
                }
                let mut full = false;
                let matched_at: Vec<u64> = matched.iter().map(|d| d.position).collect();
                let visible = views.decide_decoded(&principal, matched)?;
                let mut withheld = visible.withheld;
                for (shown, view) in visible.events.into_iter().enumerate() {
                    let position = view.position;
                    events.push(view);
                    if events.len() == limit {
                        // The next page starts after the last event shown,
                        // and only what this page passed over was withheld
                        // from it.
                        after = position;
                        full = true;
                        withheld = matched_at.iter().filter(|p| **p <= position).count() - (shown + 1);
                        break;
                    }
                }
                tally.add(withheld, &visible.policy_hash);
                if full {
                    break true;
                }
                after = last;
                if scanned >= SCAN_BUDGET {
                    break true;
                }
            };
            let next = if more { pages.encode(&scope, after) } else { String::new() };
            Ok((pb::EventPage { events, next_page_token: next }, tally))
        })
        .await?;
        Ok((Ok(page.0), page.1))
    }
}

fn page_shown(page: &pb::EventPage) -> Vec<pb::ShownEvent> {
    page.events.iter().flat_map(shown).collect()
}

#[tonic::async_trait]
impl QueryService for QueryApi {
    async fn get_event(&self, request: Request<pb::GetEventRequest>) -> Result<Response<EventView>, Status> {
        self.door
            .call(Access::of(GET_EVENT, &request), request, async |call: &Call, request: Request<_>| {
                report(call, self.get_event_inner(call.caller()?, request.into_inner()).await, shown)
            })
            .await
    }

    async fn subject_timeline(
        &self,
        request: Request<pb::SubjectTimelineRequest>,
    ) -> Result<Response<pb::EventPage>, Status> {
        let access = Access::of(SUBJECT_TIMELINE, &request).about(request.get_ref().subject.as_ref());
        self.door
            .call(access, request, async |call: &Call, request: Request<_>| {
                report(call, self.timeline_inner(call.caller()?, request.into_inner()).await, page_shown)
            })
            .await
    }

    async fn search(&self, request: Request<pb::SearchRequest>) -> Result<Response<pb::EventPage>, Status> {
        self.door
            .call(Access::of(SEARCH, &request), request, async |call: &Call, request: Request<_>| {
                report(call, self.search_inner(call.caller()?, request.into_inner()).await, page_shown)
            })
            .await
    }

    type SubscribeStream = EventStream;

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        self.door
            .call(Access::of(SUBSCRIBE, &request), request, async |call: &Call, request: Request<_>| {
                let filter = subscribe_filter(request.get_ref())?;
                let cohort = self.cohort(call.caller()?, request.get_ref()).await?;
                // The opening of the subscription is recorded (or why it was refused); then each delivery.
                call.record_now().await?;
                let deliveries = call.deliveries()?;
                // A small buffer: each event is decided just before it is handed over.
                let (tx, rx) = mpsc::channel(4);
                tokio::spawn(
                    concord_read::follow_live(
                        self.views.clone(),
                        deliveries,
                        request.get_ref().after_position,
                        move |_, event| {
                            // Membership as it stands at each event: the
                            // cohort's own changes and merges are applied as
                            // they pass (one that takes a member out is still theirs).
                            if let Some(cohort) = &cohort {
                                let mut cohort = cohort.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                                if !cohort.admits(event) {
                                    return Ok(None);
                                }
                            }
                            Ok(filter.matches(event).then_some(()))
                        },
                        |view, _| view,
                        tx,
                    )
                    .instrument(tracing::Span::current()),
                );
                Ok(Box::pin(ReceiverStream::new(rx)) as EventStream)
            })
            .await
    }
}

fn subscribe_filter(request: &pb::SubscribeRequest) -> Result<Filter, Status> {
    Ok(Filter {
        event_type: parse_type(&request.event_type)?,
        agency: None,
        ward: None,
        subject: parse_subject(request.subject.as_ref(), "subject")?,
        from: None,
        to: None,
    })
}

fn exact(log: &concord_log::log::Log, index: &str, value: &[u8], after: u64, limit: usize) -> Result<Vec<u64>, Status> {
    let mut to = value.to_vec();
    to.push(0);
    log.scan_index(index, value, &to, after, limit).map_err(storage_unavailable)
}
