//! TLS options: the gRPC server's certificate (and the CA its clients'
//! certificates must chain to), and the CA and client certificate of NATS
//! connections. Plaintext gRPC is allowed on loopback only.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// The gRPC server's TLS options (`serve`, `node`, `up`).
#[derive(Debug, Clone, clap::Args)]
pub struct GrpcTlsArgs {
    /// The gRPC server's certificate chain (PEM), e.g. grpc-server.pem from
    /// `concord certs`. Required to listen on anything but loopback.
    #[arg(long, env = "CONCORD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, env = "CONCORD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require every gRPC client to present a certificate signed by this CA (PEM).
    #[arg(long, env = "CONCORD_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
}

impl GrpcTlsArgs {
    /// The server's TLS configuration, or `None` for plaintext, which is
    /// refused unless `addr` is a loopback address.
    pub fn server_config(&self, addr: SocketAddr) -> Result<Option<ServerTlsConfig>> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            if !addr.ip().is_loopback() {
                bail!(
                    "refusing to serve gRPC in plaintext on {addr}: give --tls-cert and --tls-key \
                     (plaintext is allowed only on a loopback address such as 127.0.0.1)"
                );
            }
            return Ok(None);
        };
        let identity = Identity::from_pem(read(cert)?, read(key)?);
        let mut config = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &self.tls_client_ca {
            config = config.client_ca_root(Certificate::from_pem(read(ca)?));
        }
        Ok(Some(config))
    }
}

/// The TLS options of NATS connections (`ledger`, `serve`, `node`, `up`,
/// `keys rotate-master`).
#[derive(Debug, Clone, clap::Args)]
pub struct NatsTlsArgs {
    /// CA (PEM) the NATS servers' certificates are checked against, e.g.
    /// ca.pem from `concord certs`. With `tls://` URLs, a server without TLS
    /// is refused.
    #[arg(long, env = "CONCORD_NATS_CA")]
    pub nats_ca: Option<PathBuf>,
    /// This process's client certificate (PEM), if the NATS servers ask for one.
    #[arg(long, env = "CONCORD_NATS_CERT", requires = "nats_key")]
    pub nats_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, env = "CONCORD_NATS_KEY", requires = "nats_cert")]
    pub nats_key: Option<PathBuf>,
}

impl NatsTlsArgs {
    /// Makes every NATS connection of this process use these options.
    pub fn apply(&self) -> Result<()> {
        for path in [&self.nats_ca, &self.nats_cert, &self.nats_key].into_iter().flatten() {
            read(path)?;
        }
        let client = self.nats_cert.clone().zip(self.nats_key.clone());
        if self.nats_ca.is_some() || client.is_some() {
            concord_bus::use_tls(concord_bus::NatsTls { ca: self.nats_ca.clone(), client });
        }
        Ok(())
    }
}

/// Reads a PEM file, saying which one could not be read.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}
