//! Where a data directory keeps things, and creating its local keys.
//!
//! ```text
//! DATA/
//!   keys/agencies/<agency_id>.pem   agency signing keys (one per local node)
//!   keys/registry.json              the partnership's agency public keys
//!   keys/ledger.pem                 the ledger's checkpoint signing key
//!   keys/replica.pem                (a query replica's bundle only) the key its
//!                                   logs' checkpoints are signed with instead
//!   keys/master.key                 the master key wrapping subjects' data keys
//!                                   (CONCORD_MASTER_KEY, 64 hex characters, overrides it)
//!   keys/master.previous.key        the master key before the current one, only while
//!                                   `concord keys rotate-master` is rewrapping
//!                                   (CONCORD_MASTER_KEY_PREVIOUS overrides it)
//!   keys/jwt-signing.pem, jwt-issuer.json, jwks.json   local token issuer
//!   log/                            the event log (ordered KV store)
//!   subject-keys/                   subjects' wrapped data keys, one file each (named by
//!                                   a hash), erased by overwriting; over NATS, this
//!                                   process's copy of the shared bucket's keys
//!   vault/                          (older data directories) the same keys in a KV store:
//!                                   moved into subject-keys/ and erased on first open
//!   quarantine/                     messages the ledger refused
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use concord_core::AgencyId;
use concord_core::sign::{AgencyKey, KeyRegistry};
use concord_identity::Issuer;
use ed25519_dalek::SigningKey;

/// The token issuer name and audience used for local development.
pub const LOCAL_ISSUER: &str = "concord-local";
/// The audience tokens must name.
pub const AUDIENCE: &str = "concord";

/// Paths inside a data directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
    keys: Option<PathBuf>,
}

impl Layout {
    /// The layout of `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into(), keys: None }
    }

    /// The layout of `root`, with the keys somewhere else (shared by the
    /// partnership's processes) when `keys` is given.
    pub fn with_keys(root: impl Into<PathBuf>, keys: Option<PathBuf>) -> Self {
        Layout { root: root.into(), keys }
    }

    /// The data directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The key directory.
    pub fn keys(&self) -> PathBuf {
        self.keys.clone().unwrap_or_else(|| self.root.join("keys"))
    }

    /// An agency's signing key file.
    pub fn agency_key(&self, agency: &AgencyId) -> PathBuf {
        self.keys().join("agencies").join(format!("{agency}.pem"))
    }

    /// The key registry.
    pub fn registry(&self) -> PathBuf {
        self.keys().join("registry.json")
    }

    /// The ledger's checkpoint signing key.
    pub fn ledger_key(&self) -> PathBuf {
        self.keys().join("ledger.pem")
    }

    /// The key query replicas sign their logs' checkpoints with: present
    /// only in a replica's key bundle (see [`crate::bundle`]).
    pub fn replica_key(&self) -> PathBuf {
        self.keys().join("replica.pem")
    }

    /// The key this process signs its logs' checkpoints with: a query
    /// replica's own key if its keys directory holds one (its bundle), else
    /// the ledger's (created if missing), so no replica needs the ledger's.
    pub fn checkpoint_signing_key(&self) -> Result<SigningKey> {
        if self.replica_key().exists() {
            return concord_core::sign::load_or_create_signing_key(&self.replica_key())
                .with_context(|| format!("reading {}", self.replica_key().display()));
        }
        self.ledger_signing_key()
    }

    /// The ledger's public key (hex), for auditors verifying checkpoints and
    /// exports without the private key.
    pub fn ledger_public_key(&self) -> PathBuf {
        self.keys().join("ledger.pub")
    }

    /// The secret analysts' pseudonyms and replay tokens are derived from,
    /// created if missing.
    pub fn replay_key(&self) -> Result<[u8; 32]> {
        let path = self.keys().join("replay.key");
        std::fs::create_dir_all(self.keys())?;
        concord_core::sign::load_or_create_secret(&path).with_context(|| format!("reading {}", path.display()))
    }

    /// The vault's master key.
    pub fn master_key(&self) -> PathBuf {
        self.keys().join("master.key")
    }

    /// The vault's previous master key, kept only during a rotation.
    pub fn previous_master_key(&self) -> PathBuf {
        self.keys().join("master.previous.key")
    }

    /// The vault's key ring: the master key (created if neither the
    /// environment nor the file gives one) and any previous one.
    pub fn master_keys(&self) -> Result<concord_vault::KeyRing> {
        std::fs::create_dir_all(self.keys())?;
        Ok(concord_vault::KeyRing::load(&self.master_key(), &self.previous_master_key())?)
    }

    /// The directory of subjects' wrapped data keys (this process's copy,
    /// over NATS).
    pub fn subject_keys(&self) -> PathBuf {
        self.root.join("subject-keys")
    }

    /// The JWKS file readers' tokens are checked against.
    pub fn jwks(&self) -> PathBuf {
        self.keys().join("jwks.json")
    }

    /// A store directory (`log`, `audit`, `quarantine`, `briefings`, `outbox/<agency>`).
    pub fn store(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Creates whatever local keys are missing: a signing key per agency (and
    /// its registry entry), the ledger key and the token issuer. Existing keys
    /// are kept. Returns the agency keys.
    pub fn ensure_keys(&self, agencies: &[AgencyId]) -> Result<Vec<AgencyKey>> {
        let keys_dir = self.keys();
        std::fs::create_dir_all(keys_dir.join("agencies"))
            .with_context(|| format!("creating {}", keys_dir.display()))?;
        let mut registry =
            if self.registry().exists() { KeyRegistry::load(&self.registry())? } else { KeyRegistry::default() };
        let mut loaded = Vec::new();
        for agency in agencies {
            // Race-free: processes starting together keep one key.
            let signing = concord_core::sign::load_or_create_signing_key(&self.agency_key(agency))?;
            let key = AgencyKey::from_signing_key(agency.clone(), signing);
            registry.insert(agency.clone(), key.verifying_key());
            loaded.push(key);
        }
        registry.save(&self.registry())?;
        let ledger = self.ledger_signing_key()?;
        let public = hex::encode(ledger.verifying_key().as_bytes());
        if std::fs::read_to_string(self.ledger_public_key()).ok().as_deref().map(str::trim) != Some(public.as_str()) {
            std::fs::write(self.ledger_public_key(), format!("{public}\n"))
                .with_context(|| format!("writing {}", self.ledger_public_key().display()))?;
        }
        self.master_keys()?;
        self.replay_key()?;
        if !keys_dir.join("jwt-signing.pem").exists() {
            Issuer::generate("local-1", LOCAL_ISSUER, AUDIENCE)
                .save(&keys_dir)
                .context("writing the local token issuer")?;
        }
        Ok(loaded)
    }

    /// The ledger's checkpoint key, created if missing.
    pub fn ledger_signing_key(&self) -> Result<SigningKey> {
        std::fs::create_dir_all(self.keys())?;
        Ok(concord_core::sign::load_or_create_signing_key(&self.ledger_key())?)
    }

    /// The local token issuer.
    pub fn issuer(&self) -> Result<Issuer> {
        Issuer::load(&self.keys()).with_context(|| {
            format!(
                "no local token issuer in {}: run `concord keys --data {}` or `concord up` first",
                self.keys().display(),
                self.root.display()
            )
        })
    }
}
