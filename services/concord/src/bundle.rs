//! Key bundles: for each process role, a keys directory holding exactly the
//! keys that role needs (design.md, "Trust boundaries"; the threat model in
//! `deploy/README.md`). `concord keys` writes them under `DATA/bundles/`;
//! each process is started with `--keys` pointing at its own bundle.
//!
//! | bundle | secrets | can |
//! |---|---|---|
//! | `node-<agency>` | that agency's signing key | sign its own agency's events |
//! | `ledger` | the ledger's checkpoint key | sign the event log's checkpoints |
//! | `replica` | master key, replay key, the replicas' checkpoint key | unseal for readers, pseudonymise for analysts |
//! | `issuer` | the token issuer's signing key | mint tokens (`concord token`) |
//! | `public` | none | check signatures, tokens and checkpoints |
//!
//! Every bundle but the issuer's also holds the public files (registry,
//! JWKS, the ledger's and replicas' public keys). No bundle but the
//! replica's opens personal data; none but the issuer's mints a token.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use concord_core::AgencyId;

use crate::layout::Layout;

/// Where the bundles of a data directory go.
pub fn bundles_dir(layout: &Layout) -> PathBuf {
    layout.root().join("bundles")
}

/// The bundle directory of a node of `agency`.
pub fn node_bundle(layout: &Layout, agency: &AgencyId) -> PathBuf {
    bundles_dir(layout).join(format!("node-{agency}"))
}

/// Files every bundle that checks anything holds (none of them secret).
const PUBLIC: [&str; 4] = ["registry.json", "jwks.json", "ledger.pub", "replica.pub"];

/// Copies `name` from `from` into `to`, keeping its mode (secrets are 0600).
fn copy(from: &Path, to: &Path, name: &str) -> Result<()> {
    let (source, target) = (from.join(name), to.join(name));
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::copy(&source, &target).with_context(|| format!("copying {} to {}", source.display(), target.display()))?;
    Ok(())
}

/// Writes (or refreshes) every bundle from the full keys directory of
/// `layout`, which must already hold its keys ([`Layout::ensure_keys`]).
/// The replicas' checkpoint key is made here, in the replica bundle only;
/// its public half goes to the full keys directory and every bundle.
/// Returns the bundles written.
pub fn write_bundles(layout: &Layout, agencies: &[AgencyId]) -> Result<Vec<PathBuf>> {
    let keys = layout.keys();
    let root = bundles_dir(layout);
    let replica = root.join("replica");
    std::fs::create_dir_all(&replica).with_context(|| format!("creating {}", replica.display()))?;
    let replica_key = concord_core::sign::load_or_create_signing_key(&replica.join("replica.pem"))?;
    std::fs::write(keys.join("replica.pub"), format!("{}\n", hex::encode(replica_key.verifying_key().as_bytes())))
        .context("writing replica.pub")?;

    let mut written = Vec::new();
    let mut bundle = |name: String, secrets: &[String]| -> Result<()> {
        let dir = root.join(&name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for file in PUBLIC.iter().map(|f| f.to_string()).chain(secrets.iter().cloned()) {
            copy(&keys, &dir, &file)?;
        }
        written.push(dir);
        Ok(())
    };
    bundle("public".into(), &[])?;
    bundle("ledger".into(), &["ledger.pem".into()])?;
    let mut replica_secrets = vec!["master.key".to_string(), "replay.key".to_string()];
    if layout.previous_master_key().exists() {
        replica_secrets.push("master.previous.key".into());
    }
    bundle("replica".into(), &replica_secrets)?;
    for agency in agencies {
        bundle(format!("node-{agency}"), &[format!("agencies/{agency}.pem")])?;
    }
    let issuer = root.join("issuer");
    for file in ["jwt-signing.pem", "jwt-issuer.json", "jwks.json"] {
        copy(&keys, &issuer, file)?;
    }
    written.push(issuer);
    Ok(written)
}
