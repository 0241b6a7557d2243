//! The master keys that wrap subjects' data keys, and rotating them.
//!
//! A vault holds a key ring: the current master key wraps every new key; it
//! and, during a rotation, the previous one unwrap. Each comes from the
//! environment if set there (`CONCORD_MASTER_KEY`,
//! `CONCORD_MASTER_KEY_PREVIOUS`: 64 hex characters), else from its file
//! (`keys/master.key`, `keys/master.previous.key`).
//!
//! A rotation ([`stage_rotation`], then [`KeyRing::rewrap`] over every store,
//! then [`retire_previous`]) rewraps the stored data keys under a new master
//! key. The data keys themselves do not change, so nothing sealed in the
//! event log is touched.

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use concord_core::seal::DataKey;
use rand::RngCore;

use crate::VaultError;
use crate::dir::io_error;

/// The environment variable that, when set, gives the current master key.
pub const MASTER_KEY_ENV: &str = "CONCORD_MASTER_KEY";
/// The environment variable that, when set, gives the previous master key.
pub const PREVIOUS_MASTER_KEY_ENV: &str = "CONCORD_MASTER_KEY_PREVIOUS";

/// A key that wraps subjects' data keys.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Reads a master key file (64 hex characters), or creates one (mode 0600)
    /// if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, VaultError> {
        concord_core::sign::load_or_create_secret(path).map(MasterKey).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => VaultError::BadKey { from: path.display().to_string() },
            _ => VaultError::Io { path: path.display().to_string(), source: e },
        })
    }

    /// Reads a master key file; `None` if there is none.
    pub fn load(path: &Path) -> Result<Option<Self>, VaultError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, &path.display().to_string()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(VaultError::Io { path: path.display().to_string(), source: e }),
        }
    }

    /// A key from 64 hex characters (surrounding white space ignored);
    /// `from` names where the text came from, for the error.
    pub fn parse(text: &str, from: &str) -> Result<Self, VaultError> {
        hex::decode(text.trim())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .map(MasterKey)
            .ok_or_else(|| VaultError::BadKey { from: from.to_string() })
    }

    /// A master key from raw bytes.
    pub fn from_bytes(key: [u8; 32]) -> Self {
        MasterKey(key)
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        MasterKey(key)
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new((&self.0).into())
    }
}

/// The master key from environment variable `var` if it is set, else from
/// `file` (through `read_file`).
fn from_env_or_file(
    var: &str,
    env: &dyn Fn(&str) -> Option<String>,
    read_file: impl FnOnce() -> Result<Option<MasterKey>, VaultError>,
) -> Result<Option<MasterKey>, VaultError> {
    match env(var) {
        Some(text) if text.trim().is_empty() => Err(VaultError::BadKey {
            from: format!("environment variable {var} (set but empty; unset it or give a key)"),
        }),
        Some(text) => MasterKey::parse(&text, &format!("environment variable {var}")).map(Some),
        None => read_file(),
    }
}

/// How many stored keys a rewrap went through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rewrapped {
    /// Keys that were under the previous master key and now are under the current one.
    pub rewrapped: usize,
    /// Keys that were under the current master key already.
    pub current: usize,
    /// Keys that open with neither (left as they are).
    pub unreadable: usize,
}

impl Rewrapped {
    /// Adds one key's outcome (`Ok(true)`: rewrapped, `Ok(false)`: already current).
    pub(crate) fn count(&mut self, outcome: Result<bool, VaultError>) {
        match outcome {
            Ok(true) => self.rewrapped += 1,
            Ok(false) => self.current += 1,
            Err(e) => {
                tracing::warn!(error = %e, "a subject key opens with no master key of the ring; left as it is");
                self.unreadable += 1;
            }
        }
    }
}

/// The current master key (wraps and unwraps) and, during a rotation, the
/// previous one (unwraps only).
#[derive(Clone, Debug)]
pub struct KeyRing {
    current: MasterKey,
    previous: Option<MasterKey>,
}

impl From<MasterKey> for KeyRing {
    fn from(current: MasterKey) -> Self {
        KeyRing { current, previous: None }
    }
}

impl KeyRing {
    /// A ring of a current and an optional previous key.
    pub fn new(current: MasterKey, previous: Option<MasterKey>) -> Self {
        KeyRing { current, previous }
    }

    /// Loads the ring: each key from its environment variable if set, else
    /// from its file. The current key's file is created if neither gives one.
    pub fn load(current_file: &Path, previous_file: &Path) -> Result<Self, VaultError> {
        Self::load_with(current_file, previous_file, &|var| std::env::var(var).ok())
    }

    /// As [`KeyRing::load`], with the environment given by `env`.
    pub fn load_with(
        current_file: &Path,
        previous_file: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, VaultError> {
        let current = from_env_or_file(MASTER_KEY_ENV, env, || MasterKey::load_or_create(current_file).map(Some))?;
        let previous = from_env_or_file(PREVIOUS_MASTER_KEY_ENV, env, || MasterKey::load(previous_file))?;
        let current = current.ok_or_else(|| VaultError::BadKey { from: current_file.display().to_string() })?;
        Ok(KeyRing { current, previous })
    }

    /// The key that wraps.
    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    /// The previous key, if a rotation is under way.
    pub fn previous(&self) -> Option<&MasterKey> {
        self.previous.as_ref()
    }

    /// Wraps a data key under the current master key; the key's name is the
    /// associated data, so a wrapped key cannot be moved to another subject.
    pub fn wrap(&self, name: &str, key: &DataKey) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .current
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: &key.0, aad: name.as_bytes() })
            .map_err(|_| VaultError::Unwrap { name: name.to_string(), reason: "wrapping failed" })?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Opens a wrapped data key with the current key, else the previous one.
    pub fn unwrap(&self, name: &str, wrapped: &[u8]) -> Result<DataKey, VaultError> {
        self.unwrap_with_which(name, wrapped).map(|(key, _)| key)
    }

    /// The data key and whether it opened with the current key.
    fn unwrap_with_which(&self, name: &str, wrapped: &[u8]) -> Result<(DataKey, bool), VaultError> {
        let error = |reason| VaultError::Unwrap { name: name.to_string(), reason };
        if wrapped.len() < 12 {
            return Err(error("the wrapped key is truncated"));
        }
        let (nonce, ciphertext) = wrapped.split_at(12);
        let open = |key: &MasterKey| {
            key.cipher().decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: name.as_bytes() }).ok()
        };
        let (plain, current) = match open(&self.current) {
            Some(plain) => (plain, true),
            None => match self.previous.as_ref().and_then(open) {
                Some(plain) => (plain, false),
                None => return Err(error("it opens with neither the current nor the previous master key")),
            },
        };
        let key: [u8; 32] = plain.try_into().map_err(|_| error("it has the wrong length"))?;
        Ok((DataKey(key), current))
    }

    /// `wrapped` under the current key: `None` if it is already, else the
    /// same data key wrapped anew.
    pub fn rewrap(&self, name: &str, wrapped: &[u8]) -> Result<Option<Vec<u8>>, VaultError> {
        match self.unwrap_with_which(name, wrapped)? {
            (_, true) => Ok(None),
            (key, false) => self.wrap(name, &key).map(Some),
        }
    }
}

/// Starts a rotation of the master key kept in files: a new current key is
/// generated and the old one kept as the previous key (written first, so a
/// crash loses neither). If a rotation is already staged (a previous key
/// that differs from the current one), nothing changes. Returns the ring and
/// whether a new key was made.
pub fn stage_rotation(current_file: &Path, previous_file: &Path) -> Result<(KeyRing, bool), VaultError> {
    let old = MasterKey::load_or_create(current_file)?;
    if let Some(previous) = MasterKey::load(previous_file)? {
        if previous != old {
            return Ok((KeyRing::new(old, Some(previous)), false));
        }
    } else if !concord_core::sign::write_private_new(previous_file, hex::encode(old.0).as_bytes())
        .map_err(io_error(previous_file))?
    {
        // Another rotation staged one at the same moment: use its outcome.
        return stage_rotation(current_file, previous_file);
    }
    let new = MasterKey::generate();
    // In place, so no copy of the old key is left behind in a replaced file.
    crate::dir::overwrite_in_place(current_file, hex::encode(new.0).as_bytes()).map_err(io_error(current_file))?;
    Ok((KeyRing::new(new, Some(old)), true))
}

/// Ends a rotation: the previous key's file is overwritten and removed.
/// Returns whether there was one.
pub fn retire_previous(previous_file: &Path) -> Result<bool, VaultError> {
    crate::dir::erase_file(previous_file)
        .map_err(|source| VaultError::Io { path: previous_file.display().to_string(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_previous_key_unwraps_and_rewrap_moves_keys_to_the_current_one() {
        let (old, new) = (MasterKey::generate(), MasterKey::generate());
        let data = DataKey::generate();
        let wrapped_old = KeyRing::from(old.clone()).wrap("person/P-1", &data).unwrap();

        let ring = KeyRing::new(new.clone(), Some(old.clone()));
        assert_eq!(ring.unwrap("person/P-1", &wrapped_old).unwrap(), data);
        let rewrapped = ring.rewrap("person/P-1", &wrapped_old).unwrap().expect("it was under the old key");
        assert_eq!(ring.rewrap("person/P-1", &rewrapped).unwrap(), None, "already under the current key");

        // The new key alone opens the rewrapped key and not the old one.
        let only_new = KeyRing::from(new);
        assert_eq!(only_new.unwrap("person/P-1", &rewrapped).unwrap(), data);
        let err = only_new.unwrap("person/P-1", &wrapped_old).unwrap_err().to_string();
        assert!(err.contains("person/P-1") && err.contains("neither"), "{err}");
        // Nor does a key wrapped for one subject open as another's.
        assert!(ring.unwrap("person/P-2", &rewrapped).is_err());
        assert!(ring.unwrap("person/P-1", &rewrapped[..8]).unwrap_err().to_string().contains("truncated"));
    }

    #[test]
    fn the_environment_overrides_the_files_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (current_file, previous_file) = (dir.path().join("master.key"), dir.path().join("master.previous.key"));
        let from_env = MasterKey::generate();
        let hex_key = hex::encode(from_env.0);
        let env = |var: &str| (var == MASTER_KEY_ENV).then(|| format!("{hex_key}\n"));
        let ring = KeyRing::load_with(&current_file, &previous_file, &env).unwrap();
        assert_eq!(ring.current(), &from_env);
        assert!(ring.previous().is_none());
        assert!(!current_file.exists(), "no key file is made when the environment gives the key");

        for (value, expected) in [
            ("abc", "CONCORD_MASTER_KEY: expected 64 hex characters"),
            ("", "CONCORD_MASTER_KEY (set but empty"),
            (&"zz".repeat(32), "CONCORD_MASTER_KEY: expected 64 hex characters"),
        ] {
            let env = |var: &str| (var == MASTER_KEY_ENV).then(|| value.to_string());
            let err = KeyRing::load_with(&current_file, &previous_file, &env).unwrap_err().to_string();
            assert!(err.contains(expected), "{value:?}: {err}");
        }
        let env = |var: &str| (var == PREVIOUS_MASTER_KEY_ENV).then(|| "12".to_string());
        let err = KeyRing::load_with(&current_file, &previous_file, &env).unwrap_err().to_string();
        assert!(err.contains("CONCORD_MASTER_KEY_PREVIOUS: expected 64 hex characters"), "{err}");

        // Without the environment: the file, created once and then kept.
        let ring = KeyRing::load_with(&current_file, &previous_file, &no_env).unwrap();
        assert_eq!(KeyRing::load_with(&current_file, &previous_file, &no_env).unwrap().current(), ring.current());
        std::fs::write(&previous_file, "not a key").unwrap();
        let err = KeyRing::load_with(&current_file, &previous_file, &no_env).unwrap_err().to_string();
        assert!(err.contains("master.previous.key: expected 64 hex characters"), "{err}");
    }

    #[test]
    fn staging_keeps_the_old_key_as_previous_and_is_resumable() {
        let dir = tempfile::tempdir().unwrap();
        let (current_file, previous_file) = (dir.path().join("master.key"), dir.path().join("master.previous.key"));
        let old = KeyRing::load_with(&current_file, &previous_file, &no_env).unwrap().current().clone();

        let (ring, made) = stage_rotation(&current_file, &previous_file).unwrap();
        assert!(made);
        assert_eq!(ring.previous(), Some(&old));
        assert_ne!(ring.current(), &old);
        let loaded = KeyRing::load_with(&current_file, &previous_file, &no_env).unwrap();
        assert_eq!((loaded.current(), loaded.previous()), (ring.current(), Some(&old)));

        // Staged already: a second call changes nothing.
        let (again, made) = stage_rotation(&current_file, &previous_file).unwrap();
        assert!(!made);
        assert_eq!((again.current(), again.previous()), (ring.current(), Some(&old)));

        assert!(retire_previous(&previous_file).unwrap());
        assert!(!previous_file.exists());
        assert!(!retire_previous(&previous_file).unwrap());
        assert!(KeyRing::load_with(&current_file, &previous_file, &no_env).unwrap().previous().is_none());
    }
}
