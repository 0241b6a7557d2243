//! `DirectoryService` over gRPC: every search goes through the one door
//! (authenticated, and recorded with its terms as keyed hashes before the
//! answer leaves), and answers only with what the agreement lets the
//! caller see.

use std::sync::Arc;

use concord_audit::Door;
use concord_audit::access::Access;
use concord_core::pb::{self, directory_service_server::DirectoryService};
use concord_read::blocking;
use tonic::{Request, Response, Status};

use crate::directory::Directory;
use crate::query::Query;

const FIND: &str = "/concord.v1.DirectoryService/Find";

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
                Ok(pb::FindResponse { hits: found.hits })
            })
            .await
    }
}
