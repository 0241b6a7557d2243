//! Small-number suppression, applied to every published aggregate.
//!
//! Counts of people and events are published only through
//! [`Suppression::count`], which returns a [`Cell`] holding the text and number
//! *as published*: a suppressed or rounded cell never carries the raw count.
//!
//! **Rates are computed only from published counts** (the choice made for
//! issue #21, instead of secondary suppression): [`Suppression::rate`] divides
//! the numerator *as published* (rounded to the base) by the denominator as
//! published (rounded, when it is itself a count of people or events; as it
//! is, when it is a public population), and withholds the rate when either
//! count is small (1-7). So nothing published is a function of anything but
//! the rounded counts, and nothing can be undone from it:
//!
//! - a rate over a public population gives back only the rounded count
//!   (41 first-time entrants in 23,300 publish 40 and 40 / 23,300 x 100,000 =
//!   172, not 176, which with the population would give back 41);
//! - a complement gives back nothing exact (a cohort of 9 with 8 reoffenders
//!   publishes 10 and 10, so 100.0%; the one child who did not reoffend is
//!   not revealed, as 88.9% of a published 9 would);
//! - a difference between consecutive windows is a difference of rounded
//!   counts (e.g. 40 then 40 for 41 then 43), not the count of what moved.
//!
//! The price is precision: a published rate is off by up to half the base in
//! its counts, which the report's suppression note states. A zero count is
//! published as 0, and a rate with a zero numerator as 0.
//!
//! A threshold rule (exact counts above a threshold) is not offered: exact
//! counts give small ones back by difference (totals, complements,
//! consecutive windows) unless every such difference is suppressed too, which
//! a report of rolling windows cannot do alone.

use serde::{Deserialize, Serialize};

use crate::report::{Cell, CellKind, CellStatus};

/// The small-number rule applied to a report. Recorded in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Suppression {
    /// Counts from 1 to `small_max` are shown as `small_shown_as`; larger
    /// counts are rounded to the nearest multiple of `base` (halves up); 0 is
    /// shown as 0. domain.md's practice is 7, 5, 5: see [`Suppression::domain_practice`].
    RoundToBase {
        /// Largest count treated as small.
        small_max: u64,
        /// What a small count is shown as.
        small_shown_as: u64,
        /// Rounding base for larger counts.
        base: u64,
    },
    /// No suppression: ground truth, for comparing with the simulator only;
    /// never for publication. Reports made under it say so.
    None,
}

impl Default for Suppression {
    fn default() -> Self {
        Suppression::domain_practice()
    }
}

/// What a rate is divided by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denominator {
    /// A public population estimate: published as it is.
    Population(u64),
    /// A count of people or events from the log (a cohort, reoffenders):
    /// suppressed and rounded like any count.
    Counted(u64),
}

/// The rule as recorded in a report: the rule with its parameters, a
/// description in words, and whether the report may be published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressionRecord {
    /// The rule and its parameters.
    pub rule: Suppression,
    /// The rule in words.
    pub description: String,
    /// True when nothing was suppressed: the report is ground truth for
    /// comparison only and must not be published.
    pub ground_truth_only: bool,
}

impl Suppression {
    /// domain.md's practice: counts 1-7 shown as 5, others rounded to the nearest 5.
    pub fn domain_practice() -> Self {
        Suppression::RoundToBase { small_max: 7, small_shown_as: 5, base: 5 }
    }

    /// Whether `raw` is a small number under this rule (0 never is).
    pub fn is_small(&self, raw: u64) -> bool {
        match *self {
            Suppression::RoundToBase { small_max, .. } => (1..=small_max).contains(&raw),
            Suppression::None => false,
        }
    }

    /// The count as published, when it is one a rate may be computed from:
    /// rounded to the base; `None` when it is small (suppressed).
    pub fn published(&self, raw: u64) -> Option<u64> {
        match *self {
            _ if self.is_small(raw) => None,
            Suppression::RoundToBase { base, .. } => Some(round_to_base(raw, base)),
            Suppression::None => Some(raw),
        }
    }

    /// A count as published under this rule.
    pub fn count(&self, raw: u64) -> Cell {
        let (shown, number, status) = match (*self, self.published(raw)) {
            _ if raw == 0 => ("0".to_string(), Some(0.0), CellStatus::Exact),
            (Suppression::RoundToBase { small_shown_as, .. }, None) => {
                (small_shown_as.to_string(), Some(small_shown_as as f64), CellStatus::Suppressed)
            }
            (Suppression::RoundToBase { .. }, Some(rounded)) => {
                (rounded.to_string(), Some(rounded as f64), CellStatus::Rounded)
            }
            (Suppression::None, _) => (raw.to_string(), Some(raw as f64), CellStatus::Exact),
        };
        Cell { kind: CellKind::Count, shown, number, status }
    }

    /// A rate as published under this rule: the published numerator divided
    /// by the published denominator, times `per`, to `decimals` places;
    /// withheld when either count is small; `n/a` when the denominator is 0.
    pub fn rate(&self, numerator: u64, denominator: Denominator, per: u64, decimals: u32) -> Cell {
        let below = match denominator {
            Denominator::Population(n) => Some(n),
            Denominator::Counted(n) => self.published(n),
        };
        let value = match (self.published(numerator), below) {
            (_, Some(0)) => return rate_cell(None, false, decimals),
            (Some(n), Some(d)) => Some(n as f64 / d as f64 * per as f64),
            _ => None,
        };
        rate_cell(value, value.is_none(), decimals)
    }

    /// A ratio of two rates over public populations (e.g. a relative rate
    /// index), each rate from its published count: withheld when either
    /// count is small; `n/a` when a population or the second rate is 0.
    pub fn ratio_of_rates(&self, of: (u64, u64), to: (u64, u64), decimals: u32) -> Cell {
        if of.1 == 0 || to.1 == 0 {
            return rate_cell(None, false, decimals);
        }
        match (self.published(of.0), self.published(to.0)) {
            (_, Some(0)) => rate_cell(None, false, decimals),
            (Some(a), Some(b)) => rate_cell(Some((a as f64 / of.1 as f64) / (b as f64 / to.1 as f64)), false, decimals),
            _ => rate_cell(None, true, decimals),
        }
    }

    /// The rule in words.
    pub fn describe(&self) -> String {
        match *self {
            Suppression::RoundToBase { small_max, small_shown_as, base } => format!(
                "Counts 1-{small_max} are shown as {small_shown_as}; other counts are rounded to the nearest \
                 {base}; 0 is shown as 0. Rates are computed from the counts as published (rounded), never from \
                 the exact counts, so no rate, complement or difference between windows gives an exact count \
                 back; a rate whose numerator or counted denominator is 1-{small_max} is withheld. Population \
                 denominators are public and published as they are."
            ),
            Suppression::None => "No suppression: exact counts. Ground truth for comparison only; NOT FOR \
                                  PUBLICATION."
                .to_string(),
        }
    }

    /// The record of this rule for a report.
    pub fn record(&self) -> SuppressionRecord {
        SuppressionRecord {
            rule: *self,
            description: self.describe(),
            ground_truth_only: matches!(self, Suppression::None),
        }
    }
}

/// A rate cell: `value` rounded to `decimals`; withheld, or `n/a` when there
/// is no value.
fn rate_cell(value: Option<f64>, withheld: bool, decimals: u32) -> Cell {
    let (shown, number, status) = match value {
        _ if withheld => ("withheld".to_string(), None, CellStatus::Withheld),
        None => ("n/a".to_string(), None, CellStatus::NotApplicable),
        Some(v) => {
            let rounded = round_to(v, decimals);
            (format_decimals(rounded, decimals), Some(rounded), CellStatus::Exact)
        }
    };
    Cell { kind: CellKind::Rate, shown, number, status }
}

/// `raw` rounded to the nearest multiple of `base`, halves up (`base` 0 or 1: `raw`).
fn round_to_base(raw: u64, base: u64) -> u64 {
    if base <= 1 {
        return raw;
    }
    raw.saturating_add(base / 2) / base * base
}

/// `value` rounded to `decimals` places, halves away from zero.
pub fn round_to(value: f64, decimals: u32) -> f64 {
    let scale = 10f64.powi(i32::try_from(decimals).unwrap_or(0));
    (value * scale).round() / scale
}

/// `value` rounded and written with exactly `decimals` places.
pub fn format_decimals(value: f64, decimals: u32) -> String {
    let places = usize::try_from(decimals).unwrap_or(0);
    format!("{:.*}", places, round_to(value, decimals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_practice_rounds_as_stated() {
        let rule = Suppression::domain_practice();
        let shown = |n| rule.count(n).shown;
        assert_eq!(shown(0), "0");
        assert_eq!(shown(1), "5");
        assert_eq!(shown(7), "5");
        assert_eq!(shown(8), "10");
        assert_eq!(shown(12), "10");
        assert_eq!(shown(13), "15");
        assert_eq!(shown(15), "15");
        assert_eq!(shown(176), "175");
        assert_eq!(shown(178), "180");
        assert_eq!(rule.count(3).status, CellStatus::Suppressed);
        assert_eq!(rule.count(12).status, CellStatus::Rounded);
        assert_eq!(rule.count(0).status, CellStatus::Exact);
    }

    #[test]
    fn suppressed_cells_never_carry_the_raw_count() {
        let rule = Suppression::domain_practice();
        for raw in [1u64, 2, 3, 4, 6, 7] {
            let json = serde_json::to_string(&rule.count(raw)).unwrap();
            assert!(!json.contains(&raw.to_string()), "{json} leaks {raw}");
        }
    }

    #[test]
    fn rates_over_small_counts_are_withheld() {
        let rule = Suppression::domain_practice();
        let fte = rule.rate(5, Denominator::Population(23_300), 100_000, 0);
        assert_eq!((fte.status, fte.number), (CellStatus::Withheld, None));
        assert_eq!(rule.rate(12, Denominator::Counted(3), 100, 1).status, CellStatus::Withheld);
        assert_eq!(rule.rate(0, Denominator::Counted(30), 100, 1).shown, "0.0");
        assert_eq!(rule.rate(0, Denominator::Counted(0), 100, 1).status, CellStatus::NotApplicable);
        assert_eq!(Suppression::None.rate(1, Denominator::Counted(1), 100, 1).shown, "100.0");
    }

    /// Rule 2 of #21: a rate over a public population gives back only the
    /// rounded count.
    #[test]
    fn a_rate_over_a_population_gives_back_only_the_rounded_count() {
        let rule = Suppression::domain_practice();
        // 41 in 23,300: published count 40; rate 40 / 23,300 x 100,000 =
        // 171.67 -> "172" (the exact 41 would give 175.97 -> "176", and
        // 176 x 23,300 / 100,000 = 41.0 would give the count back).
        let cell = rule.rate(41, Denominator::Population(23_300), 100_000, 0);
        assert_eq!(cell.shown, "172");
        // 42 and 38 publish the same rate as 41: nothing finer than the
        // rounded count can be read back.
        assert_eq!(rule.rate(42, Denominator::Population(23_300), 100_000, 0).shown, "172");
        assert_eq!(rule.rate(38, Denominator::Population(23_300), 100_000, 0).shown, "172");
    }

    /// Rule 2 of #21: a complement gives nothing back.
    #[test]
    fn a_complement_gives_back_nothing_exact() {
        let rule = Suppression::domain_practice();
        // A cohort of 9 with 8 reoffenders: counts publish 10 and 10; the rate
        // is 10 / 10 = 100.0% (the exact 8 / 9 = 88.9% would reveal the one
        // child who did not reoffend, 9 - 8 = 1).
        assert_eq!(rule.count(9).shown, "10");
        assert_eq!(rule.count(8).shown, "10");
        let rate = rule.rate(8, Denominator::Counted(9), 100, 1);
        assert_eq!(rate.shown, "100.0");
        // A cohort of 10 with 10 reoffenders publishes exactly the same cells,
        // so the published table cannot tell 1 non-reoffender from 0.
        assert_eq!(rule.rate(10, Denominator::Counted(10), 100, 1), rate);
    }

    /// Rule 2 of #21: consecutive windows give back nothing exact.
    #[test]
    fn differences_between_windows_give_back_nothing_exact() {
        let rule = Suppression::domain_practice();
        let population = Denominator::Population(23_300);
        // Rolling 12 months: 41 first-time entrants to August, 43 to
        // September. 41 publishes 40 and 43 publishes (43 + 2) / 5 x 5 = 45:
        // a difference of 5, not 2. 41 then 42 publish 40 and 40: a
        // difference of 0, not 1.
        assert_eq!((rule.count(41).shown, rule.count(43).shown), ("40".to_string(), "45".to_string()));
        assert_eq!(rule.count(42).shown, "40");
        assert_eq!(
            rule.rate(41, population, 100_000, 0).shown,
            rule.rate(42, population, 100_000, 0).shown,
            "a rate moves only when the rounded count does"
        );
    }

    #[test]
    fn ratio_of_rates_from_published_counts() {
        let rule = Suppression::domain_practice();
        // 24 of 2,000 against 41 of 10,000: published 25 and 40; (25 / 2,000)
        // / (40 / 10,000) = 0.0125 / 0.004 = 3.125 -> "3.13".
        assert_eq!(rule.ratio_of_rates((24, 2_000), (41, 10_000), 2).shown, "3.13");
        assert_eq!(rule.ratio_of_rates((3, 2_000), (41, 10_000), 2).status, CellStatus::Withheld);
        assert_eq!(rule.ratio_of_rates((24, 2_000), (0, 10_000), 2).status, CellStatus::NotApplicable);
    }

    #[test]
    fn record_says_what_was_done() {
        let r = Suppression::domain_practice().record();
        assert!(r.description.contains("1-7") && r.description.contains("nearest 5"));
        assert!(r.description.contains("as published"));
        assert!(!r.ground_truth_only);
        let truth = Suppression::None.record();
        assert!(truth.ground_truth_only);
        assert!(truth.description.contains("NOT FOR PUBLICATION"));
        let json = serde_json::to_string(&Suppression::domain_practice()).unwrap();
        assert_eq!(json, r#"{"rule":"round_to_base","small_max":7,"small_shown_as":5,"base":5}"#);
        assert_eq!(serde_json::from_str::<Suppression>(&json).unwrap(), Suppression::domain_practice());
    }
}
