//! Opaque page tokens: where the next page starts.
//!
//! A token carries only a cursor (a stream version or a log position) and the
//! request it belongs to, so it cannot be replayed against another query.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sha2::{Digest, Sha256};

/// Encodes a cursor for the request described by `scope`.
pub fn encode(scope: &str, cursor: u64) -> String {
    let mut bytes = cursor.to_be_bytes().to_vec();
    bytes.extend_from_slice(&Sha256::digest(scope.as_bytes())[..8]);
    B64.encode(bytes)
}

/// Decodes a token for the request described by `scope`; an empty token is
/// the first page (cursor 0).
pub fn decode(scope: &str, token: &str) -> Option<u64> {
    if token.is_empty() {
        return Some(0);
    }
    let bytes = B64.decode(token).ok()?;
    if bytes.len() != 16 || bytes[8..] != Sha256::digest(scope.as_bytes())[..8] {
        return None;
    }
    Some(u64::from_be_bytes(bytes[..8].try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_request() {
        let t = encode("timeline person/P-1", 42);
        assert_eq!(decode("timeline person/P-1", &t), Some(42));
        assert_eq!(decode("timeline person/P-2", &t), None);
        assert_eq!(decode("x", "not base64!"), None);
        assert_eq!(decode("x", ""), Some(0));
    }
}
