//! Connecting to a Concord server as a client, with a bearer token.

use std::path::Path;

use anyhow::{Context, Result, bail};
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// Connects to `addr` (e.g. `http://127.0.0.1:50051`) in plaintext.
pub async fn connect(addr: &str) -> Result<Channel> {
    connect_tls(addr, None).await
}

/// Connects to `addr`: over TLS with `tls` (an `https://` address), else
/// in plaintext (an `http://` one).
pub async fn connect_tls(addr: &str, tls: Option<ClientTlsConfig>) -> Result<Channel> {
    let mut endpoint =
        Endpoint::from_shared(addr.to_string()).with_context(|| format!("`{addr}` is not a server address"))?;
    match (tls, addr.starts_with("https://")) {
        (Some(tls), true) => endpoint = endpoint.tls_config(tls).context("the TLS settings are not usable")?,
        (Some(_), false) => bail!("`{addr}`: use an https:// address with --ca"),
        (None, true) => bail!("connecting to `{addr}` needs --ca (the CA that signed the server's certificate)"),
        (None, false) => {}
    }
    endpoint.connect().await.with_context(|| format!("cannot reach Concord at {addr}: is `concord up` running?"))
}

/// The TLS settings of a client trusting the CA in `ca`, presenting the
/// certificate and key in `identity` if given (all PEM files).
pub fn client_tls(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<ClientTlsConfig> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(crate::tls::read(ca)?));
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(crate::tls::read(cert)?, crate::tls::read(key)?));
    }
    Ok(tls)
}

/// A request carrying `authorization: Bearer <token>`.
pub fn authorized<T>(message: T, token: &str) -> Result<Request<T>> {
    let mut request = Request::new(message);
    let value: MetadataValue<_> =
        format!("Bearer {token}").parse().context("the token has characters a header cannot carry")?;
    request.metadata_mut().insert("authorization", value);
    Ok(request)
}

/// Parses an RFC 3339 time or a date (`2026-11-01`, midnight UTC).
pub fn parse_time(s: &str) -> Result<pbjson_types::Timestamp> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(s, &format).map(|d| d.midnight().assume_utc())
        })
        .with_context(|| format!("`{s}` is not a time: use 2026-11-01 or 2026-11-01T09:00:00Z"))?;
    Ok(pbjson_types::Timestamp { seconds: t.unix_timestamp(), nanos: t.nanosecond() as i32 })
}

/// A timestamp as RFC 3339 (`2026-11-01T09:00:00Z`).
pub fn format_time(ts: &pbjson_types::Timestamp) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp(ts.seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{}s", ts.seconds))
}

/// A gRPC error as a message naming the code and the field at fault.
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    let field = concord_core::status::field_of(&status).map(|f| format!(" [field {f}]")).unwrap_or_default();
    anyhow::anyhow!("{:?}: {}{field}", status.code(), status.message())
}
