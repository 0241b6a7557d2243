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
    let t = s
        .parse::<jiff::Timestamp>()
        .or_else(|_| {
            s.parse::<jiff::civil::Date>()
                .and_then(|d| d.to_zoned_datetime(jiff::tz::TimeZone::UTC))
                .map(|z| z.timestamp())
        })
        .with_context(|| format!("`{s}` is not a time: use 2026-11-01 or 2026-11-01T09:00:00Z"))?;
    Ok(pbjson_types::Timestamp { seconds: t.as_second(), nanos: t.subsec_nanosecond() })
}

/// A timestamp as RFC 3339 (`2026-11-01T09:00:00Z`).
pub fn format_time(ts: &pbjson_types::Timestamp) -> String {
    jiff::Timestamp::from_second(ts.seconds).map_or_else(|_| format!("{}s", ts.seconds), |t| t.to_string())
}

/// A gRPC error as a message naming the code and the field at fault.
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    let field = concord_core::status::field_of(&status).map(|f| format!(" [field {f}]")).unwrap_or_default();
    anyhow::anyhow!("{:?}: {}{field}", status.code(), status.message())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_as_rfc3339_or_a_date_and_written_as_rfc3339() {
        let t = parse_time("2026-11-01T09:00:00Z").unwrap();
        assert_eq!((t.seconds, t.nanos), (1_793_523_600, 0));
        assert_eq!(format_time(&t), "2026-11-01T09:00:00Z");
        assert_eq!(parse_time("2026-11-01T09:00:00.5+01:00").unwrap().nanos, 500_000_000);
        assert_eq!(parse_time("2026-11-01").unwrap().seconds, 1_793_491_200);
        let wrong = parse_time("1/11/2026").unwrap_err().to_string();
        assert!(wrong.contains("`1/11/2026` is not a time"), "{wrong}");
    }
}
