//! `DirectoryService` over gRPC: every search goes through the one door
//! (authenticated, and recorded with its terms as keyed hashes before the
//! answer leaves), and answers only with what the agreement lets the
//! caller see.

use std::sync::Arc;

use concord_audit::Door;
use concord_audit::access::Access;
use concord_core::SubjectId;
use concord_core::pb::{self, directory_service_server::DirectoryService};
use concord_core::status::invalid_argument;
use concord_read::blocking;
use tonic::{Request, Response, Status};

use crate::directory::Directory;
use crate::query::Query;

const FIND: &str = "/concord.v1.DirectoryService/Find";
const DUPLICATES: &str = "/concord.v1.DirectoryService/Duplicates";
const PROFILE: &str = "/concord.v1.DirectoryService/Profile";
const COHORT: &str = "/concord.v1.DirectoryService/Cohort";

/// The most events a cohort call returns.
const MAX_NEWEST_EVENTS: u32 = 200;

/// The gRPC directory API.
pub struct DirectoryApi {
    directory: Arc<Directory>,
    door: Door,
}

impl DirectoryApi {
    /// Answers searches of `directory`, every call through `door`.
    pub fn new(directory: Arc<Directory>, door: Door) -> Self {
        DirectoryApi { directory, door }
    }
}

/// The parameters a search's access record holds: its terms as tokens, or,
/// for a malformed search, only that it was malformed (never the text).
fn audited(directory: &Directory, request: &pb::FindRequest) -> String {
    match Query::from_request(request) {
        Ok(query) => query.audited(directory.key()),
        Err(status) => serde_json::json!({ "invalid": status.message() }).to_string(),
    }
}

/// A search's answer: its hits, and what it may have missed.
fn answer(hits: Vec<pb::DirectoryHit>, missed_at_most: f64, too_common: &[pb::MatchField]) -> pb::FindResponse {
    let too_common = too_common.iter().map(|f| *f as i32).collect();
    pb::FindResponse { hits, missed_at_most, too_common }
}

#[tonic::async_trait]
impl DirectoryService for DirectoryApi {
    async fn find(&self, request: Request<pb::FindRequest>) -> Result<Response<pb::FindResponse>, Status> {
        let access = Access::with_parameters(FIND, &request, audited(&self.directory, request.get_ref()));
        self.door
            .call(access, request, async |call, request: Request<pb::FindRequest>| {
                let principal = call.caller()?.clone();
                let query = Query::from_request(request.get_ref())?;
                let directory = self.directory.clone();
                let found = blocking(move || directory.find(&principal, &query)).await?;
                call.decided(&found.tally);
                call.shows(found.shown);
                Ok(answer(found.hits, found.missed_at_most, &found.too_common))
            })
            .await
    }

    async fn duplicates(&self, request: Request<pb::DuplicatesRequest>) -> Result<Response<pb::FindResponse>, Status> {
        let access = Access::of(DUPLICATES, &request).about(request.get_ref().subject.as_ref());
        self.door
            .call(access, request, async |call, request: Request<pb::DuplicatesRequest>| {
                let principal = call.caller()?.clone();
                let request = request.into_inner();
                let subject = request.subject.as_ref().ok_or_else(|| invalid_argument("subject", "required"))?;
                let subject = SubjectId::from_ref(subject).map_err(|e| invalid_argument("subject", &e.to_string()))?;
                let limit = Query::limit(request.limit)?;
                let directory = self.directory.clone();
                let found = blocking(move || directory.duplicates(&principal, &subject, limit)).await?;
                call.decided(&found.tally);
                call.shows(found.shown);
                Ok(answer(found.hits, found.missed_at_most, &found.too_common))
            })
            .await
    }

    async fn profile(&self, request: Request<pb::ProfileRequest>) -> Result<Response<pb::SubjectProfile>, Status> {
        let access = Access::of(PROFILE, &request).about(request.get_ref().subject.as_ref());
        self.door
            .call(access, request, async |call, request: Request<pb::ProfileRequest>| {
                let principal = call.caller()?.clone();
                let subject =
                    request.get_ref().subject.as_ref().ok_or_else(|| invalid_argument("subject", "required"))?;
                let subject = SubjectId::from_ref(subject).map_err(|e| invalid_argument("subject", &e.to_string()))?;
                let (directory, who) = (self.directory.clone(), subject.clone());
                let profiled = blocking(move || directory.profile(&principal, &who)).await?;
                call.decided(&profiled.tally);
                let profile = profiled
                    .profile
                    .ok_or_else(|| Status::not_found(format!("no subject {subject} that you may see")))?;
                call.shows(profiled.shown);
                Ok(profile)
            })
            .await
    }

    async fn cohort(&self, request: Request<pb::CohortRequest>) -> Result<Response<pb::CohortMembers>, Status> {
        self.door
            .call(Access::of(COHORT, &request), request, async |call, request: Request<pb::CohortRequest>| {
                let principal = call.caller()?.clone();
                let pb::CohortRequest { cohort: name, newest_events } = request.into_inner();
                if name.trim().is_empty() {
                    return Err(invalid_argument("cohort", "required: the name of one of your agency's cohorts"));
                }
                if newest_events > MAX_NEWEST_EVENTS {
                    let why = format!("at most {MAX_NEWEST_EVENTS} events at a time");
                    return Err(invalid_argument("newest_events", &why));
                }
                let directory = self.directory.clone();
                let newest = newest_events as usize;
                let feed = blocking(move || directory.cohort(&principal, &name, newest)).await?;
                call.decided(&feed.tally);
                call.shows(feed.shown);
                Ok(pb::CohortMembers { members: feed.members, events: feed.events })
            })
            .await
    }
}
