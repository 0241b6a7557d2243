//! The daily VVE briefing (`BriefingService`).
//!
//! For one recipient agency and a window (by default from one daily
//! briefing time to the next, in the partnership's time zone), a briefing
//! holds every event that agency may see that happened or was recorded in
//! the window, grouped by the people (or place, or ward) they are about and
//! ranked by risk, with each subject's history over the year before and the
//! open actions. Every briefing is audited as a read before it is returned;
//! published briefings are stored (positions only, never content) and
//! decided again for whoever retrieves them.
//!
//! - [`window`]: the briefing time and the window.
//! - [`collect`]: reading the window, subjects' histories and briefing items from the log.
//! - [`group`]: events grouped by people, place or ward.
//! - [`rank`]: why a group matters: reasons and a score.
//! - [`history`]: a subject's history as counts by type.
//! - [`actions`]: the open actions, latest status per action.
//! - [`assemble`]: a briefing from what the recipient may see.
//! - [`describe`], [`render`]: the briefing in words, as Markdown and HTML.
//! - [`store`]: published briefings.
//! - [`service`]: the gRPC API; [`schedule`]: the daily publication.

pub mod actions;
pub mod assemble;
pub mod collect;
pub mod describe;
pub mod group;
pub mod history;
pub mod rank;
pub mod render;
pub mod schedule;
pub mod service;
pub mod store;
pub mod window;

pub use schedule::{SCHEDULE_PRINCIPAL, generate_every_day};
pub use service::BriefingApi;
pub use store::BriefingStore;
pub use window::{BriefingTime, Window};

/// Why briefing configuration, time arithmetic or the briefing store failed.
#[derive(Debug, thiserror::Error)]
pub enum BriefingError {
    /// A briefing time or time zone that cannot be used.
    #[error("briefing configuration: {0}")]
    Config(String),
    /// Time arithmetic out of range.
    #[error("time out of range: {0}")]
    Time(#[from] jiff::Error),
    /// The briefing store could not be read or written.
    #[error("the briefing store is unavailable: {0}")]
    Store(#[from] concord_log::kv::KvError),
    /// A stored briefing does not decode.
    #[error("stored briefing {key} does not decode: {reason}")]
    Corrupt {
        /// Which.
        key: String,
        /// Why.
        reason: String,
    },
}
