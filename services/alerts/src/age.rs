//! How old the person an event is about was when it happened, from what the
//! log knows of them: an arrest carries no age, and the diversion alert is
//! for children only.
//!
//! The evidence, in the order it is trusted:
//!
//! 1. a date of birth recorded for the person in any of their events (their
//!    identities are sealed; they are opened here for this decision only and
//!    go nowhere else): the exact age on the event's day;
//! 2. an age a YOT recorded: a youth justice outcome ("aged A at the offence
//!    on day D") or a release from custody ("aged A on release on day D").
//!    Aged A on day D, a person was born after D minus A+1 years, so is under
//!    18 on every day up to D plus 17-A years: a child then. Aged 18 or more
//!    on day D, they are an adult on any later day.
//!
//! With no such evidence the age is unknown. Days are UTC days (the event's
//! `occurred_at`): a birthday is decided to the day, not the hour.

use concord_core::pb::{self, event::Body};
use concord_read::Views;
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use tonic::Status;

use crate::rules::person_events;

/// The age of 18: adulthood.
const ADULT: i16 = 18;

/// What the log says of a person's age on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Age {
    /// Under 18, with the age in years when known exactly (from a date of
    /// birth) or the most it can be (from a recorded age).
    Child(i16),
    /// 18 or over.
    Adult,
    /// Nothing in the log tells.
    Unknown,
}

/// The age, on the day of `event`, of the first person it is about.
pub fn age_at_event(views: &Views, event: &pb::Event) -> Result<Age, Status> {
    let Some(day) = event.occurred_at.as_ref().and_then(utc_day) else { return Ok(Age::Unknown) };
    let Some(person) = event.subjects.iter().find(|s| s.kind == pb::SubjectKind::Person as i32) else {
        return Ok(Age::Unknown);
    };
    let mut known = vec![event.clone()];
    known.extend(person_events(views, person)?);
    for e in &mut known {
        views.unseal(e)?;
    }
    Ok(age_on(day, &person.key, &known))
}

/// The age on `day` of the person `key`, from `events` about them (with
/// their personal parts opened).
pub fn age_on(day: Date, key: &str, events: &[pb::Event]) -> Age {
    let born = events
        .iter()
        .flat_map(|e| e.personal.iter().flat_map(|p| &p.identities))
        .filter(|i| i.subject_key == key)
        .find_map(|i| i.date_of_birth.trim().parse::<Date>().ok());
    if let Some(born) = born {
        return match years_between(born, day) {
            age if age < ADULT => Age::Child(age),
            _ => Age::Adult,
        };
    }
    let mut evidence = Age::Unknown;
    for e in events {
        let recorded = match &e.body {
            Some(Body::YouthJusticeOutcome(o)) => {
                o.offence_date.as_ref().or(e.occurred_at.as_ref()).map(|t| (t, o.age))
            }
            Some(Body::ReleaseFromCustody(r)) => e.occurred_at.as_ref().map(|t| (t, r.age)),
            _ => None,
        };
        let Some((on, age)) = recorded.and_then(|(t, age)| Some((utc_day(t)?, i16::try_from(age).ok()?))) else {
            continue;
        };
        if age >= ADULT && on <= day {
            return Age::Adult;
        }
        let child_until = on.checked_add(i64::from(ADULT - 1 - age).years()).unwrap_or(Date::MAX);
        if age < ADULT && day <= child_until {
            let most = age + years_between(on, day) + 1;
            evidence = Age::Child(most.min(ADULT - 1));
        }
    }
    evidence
}

/// Whole years from `from` to `to` (an age on a birthday is the new one).
fn years_between(from: Date, to: Date) -> i16 {
    let years = to.year() - from.year();
    if (to.month(), to.day()) < (from.month(), from.day()) { years - 1 } else { years }
}

/// The UTC day of a timestamp.
fn utc_day(t: &pbjson_types::Timestamp) -> Option<Date> {
    Timestamp::new(t.seconds, 0).ok().map(|t| t.to_zoned_datetime(jiff::tz::TimeZone::UTC).date())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn at(day: Date) -> Option<pbjson_types::Timestamp> {
        let seconds = day.to_zoned_datetime(jiff::tz::TimeZone::UTC).unwrap().timestamp().as_second();
        Some(pbjson_types::Timestamp { seconds: seconds + 43_200, nanos: 0 })
    }

    fn with_birth(key: &str, born: &str) -> pb::Event {
        pb::Event {
            personal: Some(pb::Personal {
                identities: vec![pb::Identity {
                    subject_key: key.into(),
                    date_of_birth: born.into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn outcome(offence: Date, age: u32) -> pb::Event {
        pb::Event {
            occurred_at: at(offence),
            body: Some(Body::YouthJusticeOutcome(pb::YouthJusticeOutcome {
                age,
                offence_date: at(offence),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    fn release(on: Date, age: u32) -> pb::Event {
        pb::Event {
            occurred_at: at(on),
            body: Some(Body::ReleaseFromCustody(pb::ReleaseFromCustody { age, ..Default::default() })),
            ..Default::default()
        }
    }

    /// Rule 6 of #21: a date of birth gives the exact age.
    #[test]
    fn a_date_of_birth_decides() {
        // Born 2009-02-03: 17 on 2026-09-22, 18 on 2027-02-03 (the birthday).
        let events = [with_birth("P-1", "2009-02-03")];
        assert_eq!(age_on(date(2026, 9, 22), "P-1", &events), Age::Child(17));
        assert_eq!(age_on(date(2027, 2, 2), "P-1", &events), Age::Child(17));
        assert_eq!(age_on(date(2027, 2, 3), "P-1", &events), Age::Adult);
        // Another person's date of birth says nothing of P-2.
        assert_eq!(age_on(date(2026, 9, 22), "P-2", &events), Age::Unknown);
        // A date of birth beats a recorded age: born 1990, adult, whatever
        // an (inconsistent) outcome says.
        let events = [outcome(date(2026, 1, 1), 15), with_birth("P-1", "1990-05-01")];
        assert_eq!(age_on(date(2026, 9, 22), "P-1", &events), Age::Adult);
    }

    /// Rule 6 of #21: a recorded age bounds the age.
    #[test]
    fn a_recorded_age_bounds_it() {
        // Aged 15 at an offence on 2024-03-10: under 18 up to 2024-03-10 +
        // (17 - 15) = 2 years = 2026-03-10; at most 15 + 2 + 1 = 18, capped
        // at 17 on that day.
        let events = [outcome(date(2024, 3, 10), 15)];
        assert_eq!(age_on(date(2026, 3, 10), "P-1", &events), Age::Child(17));
        // On 2025-03-09: at most 15 + 0 whole years + 1 = 16.
        assert_eq!(age_on(date(2025, 3, 9), "P-1", &events), Age::Child(16));
        // After 2026-03-10 they may be 18: unknown.
        assert_eq!(age_on(date(2026, 3, 11), "P-1", &events), Age::Unknown);
        // Released aged 18 on 2025-06-01: an adult from then.
        assert_eq!(age_on(date(2025, 7, 1), "P-1", &[release(date(2025, 6, 1), 18)]), Age::Adult);
        // Released aged 17 on 2025-06-01: a child that day, unknown a year later.
        assert_eq!(age_on(date(2025, 6, 1), "P-1", &[release(date(2025, 6, 1), 17)]), Age::Child(17));
        assert_eq!(age_on(date(2026, 6, 2), "P-1", &[release(date(2025, 6, 1), 17)]), Age::Unknown);
        // Nothing known.
        assert_eq!(age_on(date(2025, 6, 1), "P-1", &[]), Age::Unknown);
    }
}
