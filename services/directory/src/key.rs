//! The directory's key and the keyed hashes (HMAC-SHA256) it indexes by: a
//! stolen index holds only tokens, which say nothing without the key, and
//! the key lives only where reads are served (wrapped under the master key
//! in the subject key store, see [`DIRECTORY_SECRET`]).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The name of the directory's key in the subject key store
/// (`concord_vault::Vault::secret`), shared by every replica.
pub const DIRECTORY_SECRET: &str = "concord/directory-index";

/// What a token stands for. Each kind is hashed under its own label, so the
/// same text in two fields never gives the same token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Label {
    /// One part of a name, as written (folded).
    NamePart,
    /// A first name's formal name (Robert for Bob, or the name itself).
    NameFormal,
    /// A name part's sound (Double Metaphone code).
    NameSound,
    /// A first name's initial with the surname.
    NameInitial,
    /// A date of birth.
    DateOfBirth,
    /// A postcode.
    Postcode,
    /// A whole address.
    Address,
    /// A vehicle registration.
    Registration,
    /// An agency identifier (scheme and value).
    Identifier,
}

impl Label {
    fn tag(self) -> &'static [u8] {
        match self {
            Label::NamePart => b"name",
            Label::NameFormal => b"formal",
            Label::NameSound => b"sound",
            Label::NameInitial => b"initial",
            Label::DateOfBirth => b"dob",
            Label::Postcode => b"postcode",
            Label::Address => b"address",
            Label::Registration => b"registration",
            Label::Identifier => b"identifier",
        }
    }
}

/// A keyed hash of one folded term, truncated to 128 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub [u8; 16]);

impl Token {
    /// Its hex form (as access records carry a search's terms).
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// The directory's HMAC key.
#[derive(Clone)]
pub struct DirectoryKey(Hmac<Sha256>);

impl std::fmt::Debug for DirectoryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirectoryKey(..)")
    }
}

impl DirectoryKey {
    /// The key from its 32 secret bytes.
    pub fn new(secret: [u8; 32]) -> Self {
        DirectoryKey(<Hmac<Sha256> as Mac>::new_from_slice(&secret).expect("HMAC takes a key of any length"))
    }

    /// The token of `text` (already folded) as a `label`.
    pub fn token(&self, label: Label, text: &str) -> Token {
        let mut mac = self.0.clone();
        mac.update(label.tag());
        mac.update(&[0]);
        mac.update(text.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut token = [0; 16];
        token.copy_from_slice(&digest[..16]);
        Token(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_depend_on_the_key_the_label_and_the_text() {
        let (a, b) = (DirectoryKey::new([1; 32]), DirectoryKey::new([2; 32]));
        assert_eq!(a.token(Label::NamePart, "smith"), a.token(Label::NamePart, "smith"));
        assert_ne!(a.token(Label::NamePart, "smith"), b.token(Label::NamePart, "smith"));
        assert_ne!(a.token(Label::NamePart, "smith"), a.token(Label::NameFormal, "smith"));
        assert_ne!(a.token(Label::NamePart, "smith"), a.token(Label::NamePart, "smyth"));
    }
}
