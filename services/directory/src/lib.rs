//! The partnership directory: people, places and vehicles found by an
//! agency's own identifiers, name, date of birth, address or postcode, or
//! registration.
//!
//! Agencies attach identities to their subjects in the log (sealed, like
//! all personal data: a `SubjectIdentified` event, or the identities of any
//! event). The directory follows the log on the read side, opens each
//! identity and indexes it by keyed hashes only ([`key`]): names folded
//! ([`normal`]), their nicknames, initials and sounds ([`terms`]), dates of
//! birth, postcodes, addresses, registrations and identifiers, each under
//! an HMAC with the directory's key, which lives only where reads are
//! served. A search ([`Query`]) looks the same hashes up, rarest first
//! (a term too common to read in full is checked on the
//! candidates instead, and the answer says what it may have missed), keeps the subjects
//! the reader may see in full ([`Directory::find`]), scores them
//! ([`score`]) and says why each matched; [`DirectoryApi`] serves it over
//! gRPC, each search recorded in the audit log with its terms as tokens.

mod candidates;
mod directory;
mod following;
mod index;
mod key;
mod newest;
mod nicknames;
mod normal;
mod profile;
mod query;
mod score;
mod service;
mod terms;

pub use directory::{CohortFeed, Directory, Found};
pub use following::Following;
pub use index::IndexError;
pub use key::{DIRECTORY_SECRET, DirectoryKey};
pub use profile::Profiled;
pub use query::Query;
pub use service::DirectoryApi;
