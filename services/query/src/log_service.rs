//! `LogService`: the event log's signed checkpoints and Merkle proofs, so any
//! reader can check that the log only ever grows.

use std::sync::Arc;

use concord_core::pb;
use concord_core::pb::log_service_server::LogService;
use concord_core::status::invalid_argument;
use concord_identity::Verifier;
use concord_log::log::{Log, LogError};
use tonic::{Request, Response, Status};

/// The gRPC log API.
pub struct LogApi {
    log: Arc<Log>,
    verifier: Arc<Verifier>,
}

impl LogApi {
    /// Serves proofs over `log`.
    pub fn new(log: Arc<Log>, verifier: Arc<Verifier>) -> Self {
        LogApi { log, verifier }
    }
}

fn to_status(e: LogError, field: &str) -> Status {
    match e {
        LogError::OutOfRange { .. } => invalid_argument(field, &e.to_string()),
        other => Status::unavailable(other.to_string()),
    }
}

fn proof(hashes: Vec<[u8; 32]>) -> pb::Proof {
    pb::Proof { hashes: hashes.into_iter().map(|h| h.to_vec()).collect() }
}

#[tonic::async_trait]
impl LogService for LogApi {
    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::Checkpoint>, Status> {
        self.verifier.authenticate(request.metadata())?;
        let log = self.log.clone();
        let signed = tokio::task::spawn_blocking(move || log.checkpoint())
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| to_status(e, "checkpoint"))?;
        Ok(Response::new(pb::Checkpoint {
            size: signed.checkpoint.size,
            root: signed.checkpoint.root.to_vec(),
            signed_note: signed.text().to_string(),
        }))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::ConsistencyProofRequest>,
    ) -> Result<Response<pb::Proof>, Status> {
        self.verifier.authenticate(request.metadata())?;
        let r = request.into_inner();
        let hashes = self.log.consistency_proof(r.old_size, r.new_size).map_err(|e| to_status(e, "new_size"))?;
        Ok(Response::new(proof(hashes)))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::InclusionProofRequest>,
    ) -> Result<Response<pb::Proof>, Status> {
        self.verifier.authenticate(request.metadata())?;
        let r = request.into_inner();
        let hashes = self.log.inclusion_proof(r.position, r.tree_size).map_err(|e| to_status(e, "position"))?;
        Ok(Response::new(proof(hashes)))
    }
}
