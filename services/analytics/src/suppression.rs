//! Small-number suppression, applied to every published aggregate.
//!
//! Counts of people and events are published only through
//! [`Suppression::count`], which returns a [`Cell`] holding the text and number
//! *as published*: a suppressed or rounded cell never carries the raw count.
//! Rates go through [`Suppression::rate`]:
//!
//! - A rate is **withheld** when its numerator, or a denominator that is itself
//!   a count of people or events (a reoffending cohort, a number of
//!   reoffenders), is a small number under the rule (1-7 under the rounding
//!   rule, 1 to N-1 under a threshold rule), since the rate would give the
//!   small count away.
//! - Otherwise the rate is computed from the raw counts and rounded to the
//!   figure's stated precision. Population denominators are public figures and
//!   are published as they are. Under the rounding rule a reader may recover a
//!   count of 8 or more from a rate and its population; counts that small
//!   numbers never are.
//! - A zero count is published as 0, and a rate with a zero numerator as 0.
//!
//! No rule here does secondary (complementary) suppression: under the
//! threshold rule a small cell can sometimes be recovered by subtracting other
//! published cells from a total, so the rounding rule is the one to publish with.

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
    /// Counts from 1 to `below - 1` are shown as `<below`; others exactly.
    Threshold {
        /// The smallest count shown exactly.
        below: u64,
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
            Suppression::Threshold { below } => raw >= 1 && raw < below,
            Suppression::None => false,
        }
    }

    /// A count as published under this rule.
    pub fn count(&self, raw: u64) -> Cell {
        let (shown, number, status) = match *self {
            _ if raw == 0 => ("0".to_string(), Some(0.0), CellStatus::Exact),
            Suppression::RoundToBase { small_shown_as, .. } if self.is_small(raw) => {
                (small_shown_as.to_string(), Some(small_shown_as as f64), CellStatus::Suppressed)
            }
            Suppression::RoundToBase { base, .. } => {
                let rounded = round_to_base(raw, base);
                (rounded.to_string(), Some(rounded as f64), CellStatus::Rounded)
            }
            Suppression::Threshold { below } if self.is_small(raw) => {
                (format!("<{below}"), None, CellStatus::Suppressed)
            }
            Suppression::Threshold { .. } | Suppression::None => (raw.to_string(), Some(raw as f64), CellStatus::Exact),
        };
        Cell { kind: CellKind::Count, shown, number, status }
    }

    /// A rate as published under this rule (see the module documentation).
    ///
    /// `numerator` is the count the rate is of; `counted_denominator` is the
    /// denominator when it is itself a count of people or events (`None` for
    /// population denominators); `value` is the unrounded rate, `None` when it
    /// is undefined (a zero denominator); `decimals` the published precision.
    pub fn rate(&self, numerator: u64, counted_denominator: Option<u64>, value: Option<f64>, decimals: u32) -> Cell {
        let small = self.is_small(numerator) || counted_denominator.is_some_and(|d| self.is_small(d));
        let (shown, number, status) = match value {
            None => ("n/a".to_string(), None, CellStatus::NotApplicable),
            Some(_) if small => ("withheld".to_string(), None, CellStatus::Withheld),
            Some(v) => {
                let rounded = round_to(v, decimals);
                (format_decimals(rounded, decimals), Some(rounded), CellStatus::Exact)
            }
        };
        Cell { kind: CellKind::Rate, shown, number, status }
    }

    /// The rule in words.
    pub fn describe(&self) -> String {
        match *self {
            Suppression::RoundToBase { small_max, small_shown_as, base } => format!(
                "Counts 1-{small_max} are shown as {small_shown_as}; other counts are rounded to the nearest \
                 {base}; 0 is shown as 0. Rates whose numerator (or counted denominator) is 1-{small_max} are \
                 withheld; other rates are computed from unrounded counts."
            ),
            Suppression::Threshold { below } => format!(
                "Counts 1-{} are shown as <{below}; other counts are exact; 0 is shown as 0. Rates whose \
                 numerator (or counted denominator) is below {below} are withheld. No secondary suppression: a \
                 small cell may be recoverable by difference from other cells.",
                below.saturating_sub(1)
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
    fn threshold_hides_small_counts() {
        let rule = Suppression::Threshold { below: 10 };
        for n in 1..10 {
            let cell = rule.count(n);
            assert_eq!(cell.shown, "<10");
            assert_eq!(cell.number, None);
            assert_eq!(cell.status, CellStatus::Suppressed);
        }
        assert_eq!(rule.count(0).shown, "0");
        assert_eq!(rule.count(10).shown, "10");
        assert_eq!(rule.count(11).number, Some(11.0));
    }

    #[test]
    fn suppressed_cells_never_carry_the_raw_count() {
        let rule = Suppression::domain_practice();
        for raw in [1u64, 2, 3, 4, 6, 7] {
            let json = serde_json::to_string(&rule.count(raw)).unwrap();
            assert!(!json.contains(&raw.to_string()), "{json} leaks {raw}");
        }
        let threshold = Suppression::Threshold { below: 8 };
        for raw in 1u64..8 {
            let json = serde_json::to_string(&threshold.count(raw)).unwrap();
            assert!(!json.contains(&format!("\"{raw}\"")) && !json.contains(&format!("{raw}.0")), "{json}");
        }
    }

    #[test]
    fn rates_over_small_counts_are_withheld() {
        let rule = Suppression::domain_practice();
        assert_eq!(rule.rate(5, None, Some(21.4), 0).status, CellStatus::Withheld);
        assert_eq!(rule.rate(5, None, Some(21.4), 0).number, None);
        assert_eq!(rule.rate(12, Some(3), Some(400.0), 1).status, CellStatus::Withheld);
        let ok = rule.rate(41, None, Some(175.965), 0);
        assert_eq!((ok.shown.as_str(), ok.status), ("176", CellStatus::Exact));
        assert_eq!(rule.rate(0, Some(30), Some(0.0), 1).shown, "0.0");
        assert_eq!(rule.rate(0, Some(0), None, 1).status, CellStatus::NotApplicable);
        assert_eq!(Suppression::None.rate(1, Some(1), Some(100.0), 1).shown, "100.0");
    }

    #[test]
    fn record_says_what_was_done() {
        let r = Suppression::domain_practice().record();
        assert!(r.description.contains("1-7") && r.description.contains("nearest 5"));
        assert!(!r.ground_truth_only);
        let truth = Suppression::None.record();
        assert!(truth.ground_truth_only);
        assert!(truth.description.contains("NOT FOR PUBLICATION"));
        let json = serde_json::to_string(&Suppression::Threshold { below: 10 }).unwrap();
        assert_eq!(json, r#"{"rule":"threshold","below":10}"#);
        assert_eq!(serde_json::from_str::<Suppression>(&json).unwrap(), Suppression::Threshold { below: 10 });
    }
}
