//! Opaque page tokens: where the next page starts.
//!
//! A token is the cursor (a stream version or a log position) sealed with
//! this process's page key, with the request it belongs to as associated
//! data. So a reader cannot read a cursor out of a token (a subject's stream
//! version would tell them how many events exist about the subject, withheld
//! ones included), forge one, or replay it against another query. The key is
//! made afresh when the process starts: a token outlives neither a restart
//! nor a hop to another replica, and the reader then starts the listing again.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// Default page size.
pub const DEFAULT_PAGE: u32 = 100;
/// Largest page size.
pub const MAX_PAGE: u32 = 1000;

/// The page size a request asks for (0: the default), or INVALID_ARGUMENT.
pub fn page_size(requested: u32) -> Result<usize, tonic::Status> {
    match requested {
        0 => Ok(DEFAULT_PAGE as usize),
        n if n <= MAX_PAGE => Ok(n as usize),
        _ => Err(concord_core::status::invalid_argument("page_size", &format!("at most {MAX_PAGE}"))),
    }
}

/// Seals and opens page tokens.
pub struct PageKey {
    cipher: XChaCha20Poly1305,
}

impl Default for PageKey {
    fn default() -> Self {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        PageKey { cipher: XChaCha20Poly1305::new(&key.into()) }
    }
}

impl PageKey {
    /// A key from a kept secret, for tokens that must outlive the process
    /// (a replay resumed the next day).
    pub fn from_secret(secret: [u8; 32]) -> Self {
        PageKey { cipher: XChaCha20Poly1305::new(&secret.into()) }
    }

    /// Encodes a cursor for the request described by `scope`.
    pub fn encode(&self, scope: &str, cursor: u64) -> String {
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        let payload = Payload { msg: &cursor.to_be_bytes(), aad: scope.as_bytes() };
        // Encrypting eight bytes in memory cannot fail.
        let sealed = self.cipher.encrypt(XNonce::from_slice(&nonce), payload).unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        B64.encode(bytes)
    }

    /// Decodes a token for the request described by `scope`; an empty token
    /// is the first page (cursor 0). `None`: not a token this process issued
    /// for this request.
    pub fn decode(&self, scope: &str, token: &str) -> Option<u64> {
        if token.is_empty() {
            return Some(0);
        }
        let bytes = B64.decode(token).ok()?;
        if bytes.len() < 24 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(24);
        let plain =
            self.cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad: scope.as_bytes() }).ok()?;
        Some(u64::from_be_bytes(plain.as_slice().try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_hide_the_cursor_and_are_bound_to_their_request_and_process() {
        let key = PageKey::default();
        let t = key.encode("timeline person/P-1", 42);
        assert_eq!(key.decode("timeline person/P-1", &t), Some(42));
        assert_eq!(key.decode("timeline person/P-2", &t), None);
        assert_eq!(PageKey::default().decode("timeline person/P-1", &t), None);
        // The same cursor never gives the same token, so tokens cannot be compared.
        assert_ne!(key.encode("timeline person/P-1", 42), t);
        let mut tampered = B64.decode(&t).unwrap();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(key.decode("timeline person/P-1", &B64.encode(tampered)), None);
        assert_eq!(key.decode("x", "not base64!"), None);
        assert_eq!(key.decode("x", ""), Some(0));
    }
}
