//! The console over TLS: its certificate, a listener that hands axum only
//! connections whose TLS handshake is done, and the header (HSTS) that
//! tells browsers to come back only over TLS.
//!
//! Handshakes run each on a task of its own (at most [`HANDSHAKE_TIMEOUT`]),
//! so a client that connects and says nothing holds up nobody else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

/// How long a client has to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The Strict-Transport-Security of every answer over TLS: a year.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// Why the console's certificate cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate chain or key is not usable PEM.
    #[error("the web console's {what}: {reason}")]
    Pem {
        /// Which of the two.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// rustls refuses the pair.
    #[error("the web console's certificate: {0}")]
    Rustls(#[from] tokio_rustls::rustls::Error),
}

/// The console's TLS configuration.
#[derive(Clone)]
pub struct Tls {
    config: Arc<ServerConfig>,
}

impl Tls {
    /// From a certificate chain and its private key, both PEM (HTTP/1.1
    /// only, as the console serves; TLS 1.2 and 1.3 with ring's safe defaults).
    pub fn from_pem(chain: &[u8], key: &[u8]) -> Result<Tls, TlsError> {
        let chain = CertificateDer::pem_slice_iter(chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Pem { what: "certificate chain", reason: e.to_string() })?;
        if chain.is_empty() {
            return Err(TlsError::Pem { what: "certificate chain", reason: "no certificate in it".into() });
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| TlsError::Pem { what: "private key", reason: e.to_string() })?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls { config: Arc::new(config) })
    }
}

/// A listener giving the connections on a TCP listener once their TLS
/// handshake is done.
pub struct TlsListener {
    handshaken: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `listener`, handshaking with `tls`. Needs a Tokio runtime.
    pub fn new(listener: TcpListener, tls: &Tls) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, handshaken) = mpsc::channel(64);
        tokio::spawn(accept(listener, TlsAcceptor::from(tls.config.clone()), tx));
        Ok(TlsListener { handshaken, local })
    }
}

/// Accepts connections and handshakes each on a task of its own, until the
/// [`TlsListener`] is gone.
async fn accept(listener: TcpListener, acceptor: TlsAcceptor, tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>) {
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait, as axum does.
                    tracing::debug!(%error, "the web console cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = tx.closed() => return,
        };
        let (acceptor, tx) = (acceptor.clone(), tx.clone());
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    let _ = tx.send((tls, peer)).await;
                }
                Ok(Err(error)) => tracing::debug!(%peer, %error, "a TLS handshake with the web console failed"),
                Err(_) => tracing::debug!(%peer, "a TLS handshake with the web console took too long"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(connection) => connection,
            // The accepting task never ends while this listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Adds Strict-Transport-Security to every answer (only ever sent over TLS).
pub async fn strict_transport(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(STRICT_TRANSPORT_SECURITY));
    response
}
