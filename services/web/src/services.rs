//! The platform's services as the console calls them: the very
//! implementations the gRPC server serves, called in-process with the
//! signed-in reader's token, so each page view passes the same door (token
//! check, agreement, audit) as a gRPC call.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use concord_core::pb;
use concord_core::pb::audit_service_server::AuditService;
use concord_core::pb::directory_service_server::DirectoryService;
use concord_core::pb::query_service_server::QueryService;
use futures::Stream;
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::server::TcpConnectInfo;

/// A live subscription's stream, as `QueryService` implementations give it.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<pb::EventView, tonic::Status>> + Send>>;

/// The services pages read through.
#[derive(Clone)]
pub struct Services {
    /// `QueryService`: timelines and single events.
    pub query: Arc<dyn QueryService<SubscribeStream = EventStream>>,
    /// `DirectoryService`: finding a subject by name and date of birth.
    pub directory: Arc<dyn DirectoryService>,
    /// `AuditService`: who read or added what (auditors).
    pub audit: Arc<dyn AuditService>,
}

/// Who a page reads as: the signed-in reader's token, and the browser's
/// address (the access record's peer).
pub struct Reader<'a> {
    /// The bearer token the session holds.
    pub token: &'a str,
    /// The browser's address.
    pub peer: SocketAddr,
}

impl Reader<'_> {
    /// `message` as a request from this reader, as a gRPC client would send
    /// it: the token in `authorization`, the peer as the connection's.
    pub fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        // A token that is no header value (it never is: JWTs are ASCII) is
        // sent as none, and the door refuses the call as unauthenticated.
        if let Ok(value) = MetadataValue::try_from(format!("Bearer {}", self.token)) {
            request.metadata_mut().insert("authorization", value);
        }
        request.extensions_mut().insert(TcpConnectInfo { local_addr: None, remote_addr: Some(self.peer) });
        request
    }
}
