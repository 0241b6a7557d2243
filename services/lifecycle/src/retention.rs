//! Retention rules: how long the partnership keeps each subject's personal
//! data, from `retention.toml` beside the sharing agreement.
//!
//! Rules are tried in order and the first that matches an event applies to
//! it; the last rule must match every event. A subject's data key is erased
//! only when every one of their events has passed its rule's period, since
//! one key covers all of a subject's events.
//!
//! ```toml
//! [[rule]]
//! event_type = "camhs_contact"
//! keep = "until age 25 or 8 years after last event"
//!
//! [[rule]]
//! keep = "6 years after last event"
//! ```

use std::path::Path;

use concord_core::{AgencyId, EventType, pb};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Deserialize;

/// The rules' file name in the agreement's directory.
pub const FILE_NAME: &str = "retention.toml";

/// The built-in rules (a copy of `deploy/policy/retention.toml`).
pub const BUILTIN: &str = include_str!("../../../deploy/policy/retention.toml");

/// A retention file that cannot be used, naming the line at fault.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown fields.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message (with the line).
        message: String,
    },
    /// A rule is not understood.
    #[error("{path}, line {line}: {message}")]
    Rule {
        /// The file.
        path: String,
        /// The line (1-based).
        line: usize,
        /// What is wrong and what is expected.
        message: String,
    },
}

/// One clause of a period: the period ends at the latest clause's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clause {
    /// Until the subject's birthday of this age (people only).
    UntilAge(u16),
    /// This many years after the subject's last event.
    YearsAfterLastEvent(u16),
}

/// How long a rule keeps data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keep {
    clauses: Vec<Clause>,
    text: String,
}

impl Keep {
    /// Parses `until age N`, `N years after last event`, or several joined
    /// with `or` (whichever is later).
    pub fn parse(text: &str) -> Result<Keep, String> {
        let mut clauses = Vec::new();
        for clause in text.split(" or ") {
            let words: Vec<&str> = clause.split_whitespace().collect();
            let number = |s: &str| {
                s.parse::<u16>()
                    .ok()
                    .filter(|n| (1..=150).contains(n))
                    .ok_or_else(|| format!("`{s}` in `{text}` is not a number of years from 1 to 150"))
            };
            clauses.push(match words.as_slice() {
                ["until", "age", n] => Clause::UntilAge(number(n)?),
                [n, "year" | "years", "after", "last", "event"] => Clause::YearsAfterLastEvent(number(n)?),
                _ => {
                    return Err(format!(
                        "`{text}` is not a period: expected `until age N`, `N years after last event`, \
                         or both joined with `or`"
                    ));
                }
            });
        }
        Ok(Keep { clauses, text: text.to_string() })
    }

    /// The clauses, in the order written.
    pub fn clauses(&self) -> &[Clause] {
        &self.clauses
    }

    /// When the period ends for a subject whose last event was at `last`
    /// (milliseconds) and whose date of birth is `born` (people only).
    /// `None`: a clause needs a date of birth that is not known, so the end
    /// cannot be told.
    pub fn ends(&self, last: i64, born: Option<Date>, person: bool) -> Option<i64> {
        let mut end = i64::MIN;
        for clause in &self.clauses {
            let clause_end = match *clause {
                Clause::YearsAfterLastEvent(years) => {
                    let last = Timestamp::from_millisecond(last).ok()?.to_zoned_datetime(TimeZone::UTC);
                    let date = add_years(last.date(), years)?;
                    millis_of(date.to_datetime(last.time()))?
                }
                // A place, vehicle or group has no age: the clause does not apply.
                Clause::UntilAge(_) if !person => continue,
                Clause::UntilAge(age) => millis_of(add_years(born?, age)?.into())?,
            };
            end = end.max(clause_end);
        }
        (end != i64::MIN).then_some(end)
    }
}

impl std::fmt::Display for Keep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Milliseconds since the epoch of `t` in UTC.
fn millis_of(t: jiff::civil::DateTime) -> Option<i64> {
    Some(t.to_zoned_datetime(TimeZone::UTC).ok()?.timestamp().as_millisecond())
}

/// `date` moved on `years` years; 29 February becomes 1 March in other years
/// (when a person born on 29 February comes of an age in England and Wales).
pub fn add_years(date: Date, years: u16) -> Option<Date> {
    let year = i16::try_from(i32::from(date.year()) + i32::from(years)).ok()?;
    Date::new(year, date.month(), date.day()).or_else(|_| Date::new(year, 3, 1)).ok()
}

/// Which events a rule applies to: every field given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    event_type: Option<EventType>,
    agency: Option<AgencyId>,
    agency_kind: Option<pb::AgencyKind>,
}

impl Matcher {
    fn matches(&self, event: &pb::Event) -> bool {
        let event_type = event.body.as_ref().map(EventType::of);
        self.event_type.is_none_or(|t| Some(t) == event_type)
            && self.agency.as_ref().is_none_or(|a| a.as_str() == event.agency_id)
            && self.agency_kind.is_none_or(|k| k as i32 == event.agency_kind)
    }

    fn is_catch_all(&self) -> bool {
        *self == Matcher::default()
    }
}

/// One rule: which events, and how long their subjects' data is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// 1-based, in file order.
    pub number: usize,
    matcher: Matcher,
    /// The period.
    pub keep: Keep,
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = &self.matcher;
        let mut scope = Vec::new();
        if let Some(t) = m.event_type {
            scope.push(t.to_string());
        }
        if let Some(a) = &m.agency {
            scope.push(a.to_string());
        }
        if let Some(k) = m.agency_kind {
            scope.push(concord_core::ids::agency_kind_name(k).to_string());
        }
        let scope = if scope.is_empty() { "every event".to_string() } else { scope.join(", ") };
        write!(f, "rule {} ({scope}): {}", self.number, self.keep)
    }
}

/// The partnership's retention rules.
#[derive(Debug, Clone)]
pub struct RetentionRules {
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    event_type: Option<toml::Spanned<String>>,
    agency: Option<toml::Spanned<String>>,
    agency_kind: Option<toml::Spanned<String>>,
    keep: toml::Spanned<String>,
}

impl RetentionRules {
    /// The rules in `dir/retention.toml`.
    pub fn load(dir: &Path) -> Result<RetentionRules, RetentionError> {
        let path = dir.join(FILE_NAME);
        let text = std::fs::read_to_string(&path)
            .map_err(|source| RetentionError::Io { path: path.display().to_string(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The built-in rules.
    pub fn builtin() -> Result<RetentionRules, RetentionError> {
        Self::parse(BUILTIN, "built-in retention.toml")
    }

    /// Parses rules from `text`, naming `path` in errors.
    pub fn parse(text: &str, path: &str) -> Result<RetentionRules, RetentionError> {
        let file: File = toml::from_str(text).map_err(|e| RetentionError::Syntax {
            path: path.to_string(),
            message: e.to_string().trim().to_string(),
        })?;
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let fail = |offset: usize, message: String| RetentionError::Rule {
            path: path.to_string(),
            line: line_of(offset),
            message,
        };
        let mut rules = Vec::with_capacity(file.rule.len());
        for (i, raw) in file.rule.into_iter().enumerate() {
            let mut matcher = Matcher::default();
            if let Some(t) = raw.event_type {
                let value =
                    t.get_ref().parse::<EventType>().map_err(|e| fail(t.span().start, format!("event_type: {e}")))?;
                matcher.event_type = Some(value);
            }
            if let Some(a) = raw.agency {
                let value = AgencyId::parse(a.get_ref()).map_err(|e| fail(a.span().start, format!("agency: {e}")))?;
                matcher.agency = Some(value);
            }
            if let Some(k) = raw.agency_kind {
                let value = concord_core::ids::parse_agency_kind(k.get_ref())
                    .map_err(|e| fail(k.span().start, format!("agency_kind: {e}")))?;
                matcher.agency_kind = Some(value);
            }
            let keep =
                Keep::parse(raw.keep.get_ref()).map_err(|e| fail(raw.keep.span().start, format!("keep: {e}")))?;
            rules.push(Rule { number: i + 1, matcher, keep });
        }
        match rules.last() {
            Some(last) if last.matcher.is_catch_all() => Ok(RetentionRules { rules }),
            _ => Err(RetentionError::Rule {
                path: path.to_string(),
                line: line_of(text.len()),
                message: "the last [[rule]] must match every event (give it only `keep`), so no event is kept \
                          for ever by accident"
                    .into(),
            }),
        }
    }

    /// The rule that applies to `event`: the first that matches.
    pub fn rule_for(&self, event: &pb::Event) -> &Rule {
        // `parse` guarantees the last rule matches everything.
        self.rules.iter().find(|r| r.matcher.matches(event)).unwrap_or_else(|| &self.rules[self.rules.len() - 1])
    }

    /// Every rule, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    /// `y-m-d h:mi` UTC in milliseconds.
    fn utc(y: i16, m: i8, d: i8, h: i8, mi: i8) -> i64 {
        millis_of(date(y, m, d).at(h, mi, 0, 0)).unwrap()
    }

    fn event(body: pb::event::Body, agency: &str) -> pb::Event {
        let agency = AgencyId::parse(agency).unwrap();
        pb::Event {
            agency_id: agency.to_string(),
            agency_kind: agency.kind() as i32,
            body: Some(body),
            ..Default::default()
        }
    }

    #[test]
    fn the_built_in_rules_load() {
        let rules = RetentionRules::builtin().unwrap();
        assert!(rules.rules().len() >= 2);
    }

    #[test]
    fn the_first_matching_rule_applies() {
        let rules = RetentionRules::parse(
            "[[rule]]\nevent_type = \"camhs_contact\"\nkeep = \"until age 25\"\n\n\
             [[rule]]\nagency_kind = \"yot\"\nkeep = \"8 years after last event\"\n\n\
             [[rule]]\nkeep = \"6 years after last event\"\n",
            "test",
        )
        .unwrap();
        let camhs = event(pb::event::Body::CamhsContact(Default::default()), "camhs.nwl");
        let yot = event(pb::event::Body::AssetPlusRating(Default::default()), "yot.harrow");
        let police = event(pb::event::Body::Arrest(Default::default()), "police.met.nw");
        assert_eq!(rules.rule_for(&camhs).number, 1);
        assert_eq!(rules.rule_for(&yot).number, 2);
        assert_eq!(rules.rule_for(&police).number, 3);
        assert_eq!(rules.rule_for(&yot).to_string(), "rule 2 (yot): 8 years after last event");
    }

    #[test]
    fn errors_name_the_line() {
        let bad_keep = "[[rule]]\nkeep = \"6 years after last event\"\n\n[[rule]]\nkeep = \"for ever\"\n";
        let e = RetentionRules::parse(bad_keep, "r.toml").unwrap_err().to_string();
        assert!(e.starts_with("r.toml, line 5: keep: `for ever` is not a period"), "{e}");

        let bad_type = "[[rule]]\nevent_type = \"arrests\"\nkeep = \"1 year after last event\"\n[[rule]]\nkeep = \"6 years after last event\"\n";
        let e = RetentionRules::parse(bad_type, "r.toml").unwrap_err().to_string();
        assert!(e.starts_with("r.toml, line 2: event_type:"), "{e}");

        let no_default = "[[rule]]\nagency_kind = \"yot\"\nkeep = \"6 years after last event\"\n";
        let e = RetentionRules::parse(no_default, "r.toml").unwrap_err().to_string();
        assert!(e.contains("the last [[rule]] must match every event"), "{e}");

        let unknown = "[[rule]]\nkeep = \"6 years after last event\"\nforever = true\n";
        let e = RetentionRules::parse(unknown, "r.toml").unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("forever"), "{e}");

        let zero = "[[rule]]\nkeep = \"0 years after last event\"\n";
        let e = RetentionRules::parse(zero, "r.toml").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("from 1 to 150"), "{e}");
    }

    #[test]
    fn periods_end_at_the_later_clause() {
        let keep = Keep::parse("until age 25 or 6 years after last event").unwrap();
        let last = utc(2020, 3, 1, 10, 0);
        // Born 2000: 25 in 2025, but the last event was in 2020: 2026 is later.
        assert_eq!(keep.ends(last, Some(date(2000, 6, 15)), true), Some(utc(2026, 3, 1, 10, 0)));
        // Born 2005: 25 in 2030, later than 2026.
        assert_eq!(keep.ends(last, Some(date(2005, 6, 15)), true), Some(utc(2030, 6, 15, 0, 0)));
        // No date of birth: the end cannot be told.
        assert_eq!(keep.ends(last, None, true), None);
        // A place has no age: only the other clause applies.
        assert_eq!(keep.ends(last, None, false), Some(utc(2026, 3, 1, 10, 0)));
        // Only an age clause, for a place: nothing applies, so nothing ends.
        assert_eq!(Keep::parse("until age 25").unwrap().ends(last, None, false), None);
    }

    #[test]
    fn a_leap_day_birthday_falls_on_the_first_of_march() {
        assert_eq!(add_years(date(2008, 2, 29), 25), Some(date(2033, 3, 1)));
        assert_eq!(add_years(date(2008, 2, 29), 4), Some(date(2012, 2, 29)));
    }
}
