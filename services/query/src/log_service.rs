//! `LogService`: the event log's signed checkpoints and Merkle proofs, so any
//! reader can check that the log only ever grows. Every call goes through
//! the door, so it is authenticated and recorded like any read.

use std::sync::Arc;

use concord_audit::Door;
use concord_audit::access::Access;
use concord_core::pb;
use concord_core::pb::log_service_server::LogService;
use concord_core::status::invalid_argument;
use concord_log::log::{Log, LogError};
use tonic::{Request, Response, Status};

/// A Merkle log's checkpoints and proofs (the event log's here, the audit
/// log's in `AuditService`), with no door of their own.
pub struct Proofs {
    log: Arc<Log>,
}

impl Proofs {
    /// Proofs over `log`.
    pub fn new(log: Arc<Log>) -> Self {
        Proofs { log }
    }

    /// The log's latest signed checkpoint.
    pub async fn checkpoint(&self) -> Result<pb::Checkpoint, Status> {
        let log = self.log.clone();
        let signed = tokio::task::spawn_blocking(move || log.checkpoint())
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| to_status(e, "checkpoint"))?;
        Ok(pb::Checkpoint {
            size: signed.checkpoint.size,
            root: signed.checkpoint.root.to_vec(),
            signed_note: signed.text().to_string(),
        })
    }

    /// A proof that the tree of `old_size` is a prefix of the tree of `new_size`.
    pub fn consistency(&self, r: &pb::ConsistencyProofRequest) -> Result<pb::Proof, Status> {
        let hashes = self.log.consistency_proof(r.old_size, r.new_size).map_err(|e| to_status(e, "new_size"))?;
        Ok(proof(hashes))
    }

    /// A proof that the entry at `position` is in the tree of `tree_size`.
    pub fn inclusion(&self, r: &pb::InclusionProofRequest) -> Result<pb::Proof, Status> {
        let hashes = self.log.inclusion_proof(r.position, r.tree_size).map_err(|e| to_status(e, "position"))?;
        Ok(proof(hashes))
    }
}

/// The gRPC log API.
pub struct LogApi {
    proofs: Proofs,
    door: Door,
}

impl LogApi {
    /// Serves proofs over `log`, every call through `door`.
    pub fn new(log: Arc<Log>, door: Door) -> Self {
        LogApi { proofs: Proofs::new(log), door }
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
        let access = Access::of("/concord.v1.LogService/GetCheckpoint", &request);
        self.door.call(access, request, async |_, _| self.proofs.checkpoint().await).await
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::ConsistencyProofRequest>,
    ) -> Result<Response<pb::Proof>, Status> {
        let access = Access::of("/concord.v1.LogService/GetConsistencyProof", &request);
        self.door.call(access, request, async |_, r| self.proofs.consistency(r.get_ref())).await
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::InclusionProofRequest>,
    ) -> Result<Response<pb::Proof>, Status> {
        let access = Access::of("/concord.v1.LogService/GetInclusionProof", &request);
        self.door.call(access, request, async |_, r| self.proofs.inclusion(r.get_ref())).await
    }
}
