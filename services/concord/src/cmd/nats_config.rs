//! `concord nats-config`: NATS users and permissions generated from the
//! partnership's key registry, so the two cannot drift apart.
//!
//! Least privilege, one user per process role (see `deploy/README.md`,
//! "Threat model"):
//! - each agency's node may publish only its own events, consent questions,
//!   requests for sealing keys and access records, and hear only its own
//!   receipts and the replies on its own inbox prefix: it reads no stream,
//!   consumer or bucket and writes no key;
//! - the ledger manages the streams, consumes events with its own consumer,
//!   sends receipts and answers consent questions (replies only to the
//!   requests it receives);
//! - each query replica (its own user, named as the replica) reads the event
//!   and audit streams with its own consumers, publishes access records only
//!   under its own name, answers requests for sealing keys, and uses and
//!   erases subject keys;
//! - `admin` rewraps subject keys when the master key is rotated.
//!
//! Every user hears replies only under its own inbox prefix. Passwords are
//! never in the file: each user's comes from the environment
//! (`NATS_PASSWORD_<USER>`) of the nats-server.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use concord_bus::nats::{AUDIT_STREAM, EVENTS_STREAM};
use concord_bus::subject::{SEAL_KEYS_PREFIX, agency_prefix, inbox_prefix, receipt_subject};
use concord_bus::{audit_node_subject, audit_query_subject, consent_subject, seal_keys_subject, valid_replica_name};
use concord_core::AgencyId;
use concord_core::sign::KeyRegistry;
use concord_vault::nats::BUCKET as KEYS_BUCKET;

/// Arguments of `concord nats-config`.
#[derive(Debug, clap::Args)]
pub struct NatsConfigArgs {
    /// The partnership's keys directory (its registry.json names the agencies).
    #[arg(long, default_value = "./data/keys", env = "CONCORD_KEYS")]
    pub keys: PathBuf,
    /// Where users.conf goes (beside single.conf and cluster/).
    #[arg(long, default_value = "deploy/nats")]
    pub out: PathBuf,
    /// The query replicas (`concord serve --replica NAME`), each its own
    /// NATS user (repeatable).
    #[arg(long = "replica", default_values_t = [String::from("serve-1"), String::from("serve-2")])]
    pub replicas: Vec<String>,
    /// Only check that the existing users.conf matches the registry.
    #[arg(long)]
    pub check: bool,
}

/// The NATS user that manages the streams and consumes events.
pub const LEDGER_USER: &str = "ledger";
/// The NATS user that rewraps subject keys (`concord keys rotate-master`).
pub const ADMIN_USER: &str = "admin";

/// The environment variable holding a user's password.
pub fn password_var(user: &str) -> String {
    let name: String =
        user.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("NATS_PASSWORD_{name}")
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// One user's entry. `responds`: it may also publish replies to the requests
/// it receives (and to nothing else beyond `publish`).
fn user(comment: &str, name: &str, publish: &[String], subscribe: &[String], responds: bool) -> String {
    let mut subscribe = subscribe.to_vec();
    subscribe.push(format!("{}.>", inbox_prefix(name)));
    format!(
        "    # {comment}\n    {{\n      user: \"{name}\"\n      password: ${}\n      permissions: {{\n        publish: {{ allow: {} }}\n        subscribe: {{ allow: {} }}\n{}      }}\n    }}\n",
        password_var(name),
        list(publish),
        list(&subscribe),
        if responds { "        allow_responses: true\n" } else { "" },
    )
}

/// Reading one stream with one durable consumer of this name: creating,
/// inspecting and deleting it, fetching from it and acknowledging.
fn durable_consumer(stream: &str, durable: &str) -> Vec<String> {
    vec![
        format!("$JS.API.STREAM.INFO.{stream}"),
        format!("$JS.API.CONSUMER.CREATE.{stream}.{durable}.>"),
        format!("$JS.API.CONSUMER.CREATE.{stream}.{durable}"),
        format!("$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{durable}"),
        format!("$JS.API.CONSUMER.INFO.{stream}.{durable}"),
        format!("$JS.API.CONSUMER.DELETE.{stream}.{durable}"),
        format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"),
        format!("$JS.ACK.{stream}.{durable}.>"),
    ]
}

/// Using the shared subject key bucket: reading and creating keys, and
/// following it (a watch and a key listing, each an ordered consumer with
/// flow control) so that this process's local copies are erased when a key
/// is erased anywhere.
fn key_bucket_use() -> Vec<String> {
    let stream = format!("KV_{KEYS_BUCKET}");
    vec![
        "$JS.API.INFO".into(),
        format!("$JS.API.STREAM.INFO.{stream}"),
        format!("$JS.API.DIRECT.GET.{stream}.>"),
        format!("$JS.API.STREAM.MSG.GET.{stream}"),
        format!("$JS.API.CONSUMER.CREATE.{stream}"),
        format!("$JS.API.CONSUMER.CREATE.{stream}.>"),
        format!("$JS.API.CONSUMER.INFO.{stream}.>"),
        format!("$JS.API.CONSUMER.DELETE.{stream}.>"),
        format!("$JS.FC.{stream}.>"),
        format!("$KV.{KEYS_BUCKET}.>"),
    ]
}

/// The users.conf text for these agencies and query replicas.
pub fn users_conf(agencies: &[AgencyId], replicas: &[String]) -> String {
    let mut out = String::from(
        "# Generated by `concord nats-config` from the partnership's key registry: one\n\
         # NATS user per agency, the ledger, each query replica and the admin side,\n\
         # each with the least it needs. Do not edit by hand: regenerate, and\n\
         # `concord nats-config --check` catches drift.\n\
         # Passwords come from the nats-server's environment (NATS_PASSWORD_<USER>).\n\
         authorization {\n  users = [\n",
    );
    for agency in agencies {
        // `*`, not `>`: exactly one more token (the event type), so agency
        // `police.met` may not publish under `police.met.nw`.
        let publish = vec![
            format!("{}*", agency_prefix(agency)),
            consent_subject(agency),
            seal_keys_subject(agency),
            audit_node_subject(agency),
        ];
        out.push_str(&user(
            &format!(
                "{agency}: publishes its own events and access records, asks about consent and sealing keys; hears its own receipts and replies only."
            ),
            agency.as_str(),
            &publish,
            &[receipt_subject(agency)],
            false,
        ));
    }
    let mut ledger = vec!["$JS.API.INFO".to_string()];
    for stream in [EVENTS_STREAM.to_string(), AUDIT_STREAM.to_string(), format!("KV_{KEYS_BUCKET}")] {
        for action in ["CREATE", "UPDATE", "INFO"] {
            ledger.push(format!("$JS.API.STREAM.{action}.{stream}"));
        }
    }
    ledger.extend(durable_consumer(EVENTS_STREAM, LEDGER_USER));
    ledger.push("concord.receipts.>".into());
    out.push_str(&user(
        "The ledger: manages the streams and creates the key bucket (reads no key), consumes events, sends receipts, answers consent questions.",
        LEDGER_USER,
        &ledger,
        &["concord.consent.>".into()],
        true,
    ));
    for replica in replicas {
        let mut publish = durable_consumer(EVENTS_STREAM, replica);
        publish.extend(durable_consumer(AUDIT_STREAM, &format!("audit-{replica}")));
        publish.push(audit_query_subject(replica));
        publish.extend(key_bucket_use());
        // The admin erasure service: the key's stored message is erased
        // (overwritten) before the key is purged.
        publish.push(format!("$JS.API.STREAM.MSG.DELETE.KV_{KEYS_BUCKET}"));
        out.push_str(&user(
            &format!(
                "Query replica {replica} (concord serve --replica {replica}): reads the event and audit streams with its own consumers, records reads under its own name only, gives nodes sealing keys, erases subject keys."
            ),
            replica,
            &publish,
            &[format!("{SEAL_KEYS_PREFIX}.>")],
            true,
        ));
    }
    out.push_str(&user(
        "The admin side (concord keys rotate-master): rewraps subject keys under a new master key.",
        ADMIN_USER,
        &key_bucket_use(),
        &[],
        false,
    ));
    out.push_str("  ]\n}\n");
    out
}

/// Checks the replica names: each a valid replica name, and none another user's.
fn check_replicas(replicas: &[String]) -> Result<()> {
    for replica in replicas {
        if !valid_replica_name(replica) {
            bail!("--replica {replica}: use letters, digits, `-` and `_`");
        }
        if [LEDGER_USER, ADMIN_USER].contains(&replica.as_str()) {
            bail!("--replica {replica}: that name is another NATS user's");
        }
    }
    Ok(())
}

/// The agencies a registry names, in order.
pub fn registry_agencies(registry: &KeyRegistry) -> Result<Vec<AgencyId>> {
    let ids: BTreeSet<String> = registry.entries().into_iter().map(|k| k.agency_id).collect();
    ids.iter().map(|a| AgencyId::parse(a).map_err(Into::into)).collect()
}

/// Writes or checks users.conf.
pub fn run(args: NatsConfigArgs) -> Result<ExitCode> {
    let registry_path = args.keys.join("registry.json");
    let registry = KeyRegistry::load(&registry_path).with_context(|| format!("reading {}", registry_path.display()))?;
    check_replicas(&args.replicas)?;
    let text = users_conf(&registry_agencies(&registry)?, &args.replicas);
    let path = args.out.join("users.conf");
    if args.check {
        let current = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        if current != text {
            bail!(
                "{} does not match {}: run `concord nats-config --keys {} --out {}`",
                path.display(),
                registry_path.display(),
                args.keys.display(),
                args.out.display()
            );
        }
        println!("{} matches the key registry", path.display());
    } else {
        std::fs::create_dir_all(&args.out)?;
        std::fs::write(&path, &text)?;
        println!("wrote {}; set these on the nats-server:", path.display());
        for agency in registry_agencies(&registry)? {
            println!("  {}", password_var(agency.as_str()));
        }
        for user in std::iter::once(LEDGER_USER).chain(args.replicas.iter().map(String::as_str)).chain([ADMIN_USER]) {
            println!("  {}", password_var(user));
        }
    }
    Ok(ExitCode::SUCCESS)
}
