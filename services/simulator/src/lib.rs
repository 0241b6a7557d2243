//! A simulated London borough, for `concord up`, demos and tests.
//!
//! [`Simulator`] produces, one day at a time, the events that the five agency
//! kinds of a borough would publish: a cohort of children at risk, known to
//! several agencies at once, with the yearly volumes of domain.md ("Volumes").
//! The same seed and configuration always give the same events (ids
//! included), so a restarted simulation re-publishes identical events that the
//! ledger deduplicates. It keeps the [`GroundTruth`] it built in, for
//! checking analytics against.

mod cohort;
mod rates;
mod simulator;
mod truth;

pub use cohort::{Child, Cohort};
pub use simulator::{BoroughConfig, Simulator};
pub use truth::{GroundTruth, Reoffending, Repeats};
