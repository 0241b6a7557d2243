//! Concord analytics: what an analyst computes from replayed, pseudonymised
//! events.
//!
//! Pure computation: the caller replays events (`concord_core::pb::Event`,
//! with pseudonymous subject keys and event ids and no personal data) into
//! projections, passes in the population estimates, and gets figures and
//! publishable reports back. Nothing here reads the log or the clock.
//!
//! - [`indicators`]: the three national youth justice indicators (first-time
//!   entrants, reoffending, custody) as an incremental projection,
//!   [`Indicators`].
//! - [`profile`]: a problem profile (counts by category, ward, month, age,
//!   gender, ethnicity; repeats; exploitation flags; disproportionality) as an
//!   incremental projection, [`Profile`].
//! - `merges`: merges and unmerges of people as the replay shows them, so
//!   the profile and the indicators count a merged pair as one person.
//! - [`definitions`]: the definition (id, version, text) of every figure.
//! - [`population`]: population denominators from a small CSV file.
//! - [`suppression`]: small-number suppression of every published aggregate.
//! - [`report`]: the published [`Report`] (tables of cells), as CSV or JSON.
//! - [`page`]: a report as one self-contained HTML page with charts, from
//!   compiled, auto-escaping templates, [`render_html`]; or its content as
//!   a fragment for another page to embed, [`render_fragment`].
//! - [`chart`]: which chart a table gets and its layout (bars, axes, ticks,
//!   labels), computed apart from drawing it.
//! - [`window`]: windows of whole days in the partnership's time zone, and
//!   the time axis (event or report time).
//!
//! Both projections are serde-serialisable: wrap one in a [`Checkpoint`] with
//! the log position reached, store it, and resume applying from there later;
//! the figures are the same as from one uninterrupted replay.
//!
//! ```
//! use concord_analytics::{IndicatorParams, Indicators, Population, Profile, Suppression};
//! use jiff::civil::date;
//!
//! let population = Population::parse("borough,age,gender,ethnicity,count\nHarrow,14,*,*,23300\n")?;
//! let mut indicators = Indicators::default();
//! let mut profile = Profile::default();
//! for event in Vec::<concord_core::pb::Event>::new() {
//!     indicators.apply(&event);
//!     profile.apply(&event);
//! }
//! let rule = Suppression::domain_practice();
//! let mut report = indicators.report(&IndicatorParams::new(Some("Harrow"), date(2020, 9, 30)), &population, &rule)?;
//! report.extend(profile.report(&population, &rule));
//! assert!(report.to_csv().starts_with("figure,"));
//! # Ok::<(), concord_analytics::AnalyticsError>(())
//! ```

#![warn(missing_docs)]

pub mod chart;
pub mod definitions;
pub mod indicators;
mod merges;
pub mod page;
pub mod population;
pub mod profile;
mod records;
pub mod report;
pub mod suppression;
#[cfg(test)]
mod testkit;
pub mod window;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use definitions::{DEFINITIONS, Definition, DefinitionRef, PublishedDefinition};
pub use indicators::{
    CohortPeriod, Figure, IndicatorFigures, IndicatorParams, Indicators, PeriodParams, Reoffending, ReoffendingParams,
};
pub use page::{render_fragment, render_html};
pub use population::{Population, PopulationError};
pub use profile::{Profile, ProfileConfig, ProfileFigures};
pub use records::is_caution_or_conviction;
pub use report::{Cell, CellKind, CellStatus, Report, Row, Table};
pub use suppression::{Denominator, Suppression, SuppressionRecord};
pub use window::{TimeAxis, Window, WindowError, Zone};

/// Why a figure or report could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// The population file has nobody aged 10-17 for the area, so a rate per
    /// head cannot be computed.
    #[error("the population file has no children aged 10-17 for {area}: cannot compute {figure}")]
    NoPopulation {
        /// The area asked for.
        area: String,
        /// The figure that needed it.
        figure: &'static str,
    },
    /// A figure names a definition missing from [`DEFINITIONS`] (a bug).
    #[error("definition {} version {} is not in the definitions table", .0.id, .0.version)]
    UnknownDefinition(DefinitionRef),
    /// The population file could not be read.
    #[error(transparent)]
    Population(#[from] PopulationError),
    /// A window could not be made.
    #[error(transparent)]
    Window(#[from] WindowError),
    /// A checkpoint or report could not be written or read as JSON.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The report's HTML page could not be drawn.
    #[error("HTML page: {0}")]
    Render(#[from] askama::Error),
}

/// A projection events are applied to in log order.
pub trait Projection {
    /// Applies one replayed event.
    fn apply(&mut self, event: &concord_core::pb::Event);

    /// Applies events in order.
    fn apply_all<'a>(&mut self, events: impl IntoIterator<Item = &'a concord_core::pb::Event>)
    where
        Self: Sized,
    {
        for event in events {
            self.apply(event);
        }
    }
}

impl Projection for Indicators {
    fn apply(&mut self, event: &concord_core::pb::Event) {
        Indicators::apply(self, event);
    }
}

impl Projection for Profile {
    fn apply(&mut self, event: &concord_core::pb::Event) {
        Profile::apply(self, event);
    }
}

/// A projection saved with the log position it has reached, so applying can
/// resume from the next position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint<P> {
    /// The log position of the last event applied (the caller's numbering).
    pub position: u64,
    /// The projection's state.
    pub projection: P,
}

impl<P: Serialize + DeserializeOwned> Checkpoint<P> {
    /// The checkpoint as JSON.
    pub fn to_json(&self) -> Result<String, AnalyticsError> {
        Ok(serde_json::to_string(self)?)
    }

    /// Reads a checkpoint written by [`Checkpoint::to_json`].
    pub fn from_json(json: &str) -> Result<Self, AnalyticsError> {
        Ok(serde_json::from_str(json)?)
    }
}
