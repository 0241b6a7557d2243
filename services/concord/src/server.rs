//! The gRPC server: every service of this process on one address, plus the
//! standard health and reflection services so any gRPC client can be pointed
//! at it.

use std::future::Future;
use std::sync::Arc;

use anyhow::Result;
use concord_core::pb::log_service_server::LogServiceServer;
use concord_core::pb::publish_service_server::PublishServiceServer;
use concord_core::pb::query_service_server::QueryServiceServer;
use concord_node::PublishApi;
use concord_query::{LogApi, QueryApi};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::platform::Platform;

/// Serves the platform's APIs on `listener` until `shutdown` completes.
pub async fn serve(platform: &Platform, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<QueryServiceServer<QueryApi>>().await;
    health.set_serving::<LogServiceServer<LogApi>>().await;
    health.set_serving::<PublishServiceServer<PublishApi>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(concord_core::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let verifier = platform.verifier.clone();
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(QueryServiceServer::new(QueryApi::new(platform.views.clone(), verifier.clone())))
        .add_service(LogServiceServer::new(LogApi::new(platform.log.clone(), verifier.clone())))
        .add_service(PublishServiceServer::new(PublishApi::new(platform.nodes.iter().cloned(), Arc::clone(&verifier))))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
}
