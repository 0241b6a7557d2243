//! `concord certs`: a development CA and the certificates a deployment needs
//! for TLS: the NATS servers' (client port; cluster routes, from a CA of
//! their own), the gRPC services', and one client certificate per process
//! role. A partnership
//! with its own PKI issues these there instead.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// The client certificates made, one per role: what each is for.
pub const CLIENT_ROLES: [(&str, &str); 5] = [
    ("ledger", "concord ledger's NATS connection"),
    ("replica", "concord serve's NATS connection"),
    ("node", "concord node's NATS connection"),
    ("admin", "the administrator's NATS connection (nats-config, rotate-master)"),
    ("user", "gRPC clients of nodes and replicas that ask for a client certificate (the concord CLI, agency systems)"),
];

/// Arguments of `concord certs`.
#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    /// Directory to write the CA and certificates into (created; must not hold a CA yet).
    #[arg(long)]
    pub out: PathBuf,
    /// Host names the servers are reached by, besides localhost (repeatable),
    /// e.g. --name nats-1 --name concord-serve-1.
    #[arg(long = "name")]
    pub names: Vec<String>,
    /// IP addresses the servers are reached by, besides 127.0.0.1 and ::1 (repeatable).
    #[arg(long = "ip")]
    pub ips: Vec<IpAddr>,
    /// Days the certificates are valid (the CA: ten times as long).
    #[arg(long, default_value_t = 365)]
    pub days: u32,
}

/// Writes the CA and every certificate under `args.out`.
pub fn run(args: CertsArgs) -> Result<ExitCode> {
    let out = &args.out;
    if out.join("ca.pem").exists() {
        bail!("{} already holds a CA (ca.pem): choose another --out, or remove it to start again", out.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let now = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let days = time::Duration::days(i64::from(args.days));

    let issuer = authority(out, "ca", "Concord development CA", now, days * 10)?;
    // Cluster routes have a CA of their own, which signs nothing else: a
    // server joins the cluster only with a route certificate, so no client's
    // or service's certificate (from `ca`) can join it.
    let route_issuer = authority(out, "route-ca", "Concord NATS cluster routes CA", now, days * 10)?;

    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    names.extend(args.names.iter().cloned());
    names.extend(args.ips.iter().map(IpAddr::to_string));
    let server = [ExtendedKeyUsagePurpose::ServerAuth];
    let client = [ExtendedKeyUsagePurpose::ClientAuth];
    let route = [ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    leaf(out, "nats-server", "concord NATS server", names.clone(), &server, (now, days), &issuer)?;
    // Each server presents it both ways: as a route's server and its client.
    leaf(out, "nats-route", "concord NATS route", names.clone(), &route, (now, days), &route_issuer)?;
    leaf(out, "grpc-server", "concord gRPC server", names, &server, (now, days), &issuer)?;
    for (role, _) in CLIENT_ROLES {
        leaf(out, &format!("client-{role}"), &format!("concord {role}"), vec![], &client, (now, days), &issuer)?;
    }
    eprintln!("wrote a development CA and certificates to {} (private keys 0600):", out.display());
    let rows = [
        ("ca.pem", "every process and client (--nats-ca, --tls-client-ca, --ca); keep ca.key offline"),
        ("nats-server.{pem,key}", "the NATS servers' client port (deploy/nats: tls)"),
        ("route-ca.pem", "the NATS servers' cluster routes (cluster tls); keep route-ca.key offline"),
        ("nats-route.{pem,key}", "the NATS servers' cluster routes (cluster tls)"),
        ("grpc-server.{pem,key}", "concord serve, node and up (--tls-cert, --tls-key)"),
    ];
    for (file, what) in rows {
        eprintln!("  {file:<24} {what}");
    }
    for (role, what) in CLIENT_ROLES {
        eprintln!("  {:<24} {what}", format!("client-{role}.{{pem,key}}"));
    }
    Ok(ExitCode::SUCCESS)
}

/// Makes a CA, writes `FILE.pem` and `FILE.key`, and gives it as an issuer.
fn authority(
    out: &Path,
    file: &str,
    common_name: &str,
    not_before: time::OffsetDateTime,
    valid: time::Duration,
) -> Result<Issuer<'static, KeyPair>> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = not_before;
    params.not_after = not_before + valid;
    write(out, file, &params.self_signed(&key)?.pem(), &key)?;
    Ok(Issuer::new(params, key))
}

/// Makes one certificate for `names` signed by `issuer`, valid from
/// `validity.0` for `validity.1`, and writes it.
fn leaf(
    out: &Path,
    file: &str,
    common_name: &str,
    names: Vec<String>,
    usages: &[ExtendedKeyUsagePurpose],
    (not_before, valid): (time::OffsetDateTime, time::Duration),
    issuer: &Issuer<'_, KeyPair>,
) -> Result<()> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(names)?;
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = usages.to_vec();
    params.use_authority_key_identifier_extension = true;
    params.not_before = not_before;
    params.not_after = not_before + valid;
    write(out, file, &params.signed_by(&key, issuer)?.pem(), &key)
}

/// Writes `NAME.pem` (the certificate) and `NAME.key` (its key, 0600).
fn write(out: &Path, name: &str, cert_pem: &str, key: &KeyPair) -> Result<()> {
    let cert = out.join(format!("{name}.pem"));
    std::fs::write(&cert, cert_pem).with_context(|| format!("writing {}", cert.display()))?;
    let key_path = out.join(format!("{name}.key"));
    concord_core::sign::write_private(&key_path, key.serialize_pem().as_bytes())
        .with_context(|| format!("writing {}", key_path.display()))?;
    Ok(())
}
