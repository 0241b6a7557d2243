//! Builders for the pseudonymised events the tests replay (test-only).

use concord_core::pb::{self, event::Body};
use jiff::ToSpan;
use jiff::civil::Date;

use crate::window::Zone;

/// A timestamp at noon UTC on `date`, plus `hours`.
pub fn at(date: Date, hours: i64) -> pbjson_types::Timestamp {
    let millis = Zone::utc().day_start_millis(date) + (12 + hours) * 3_600_000;
    pbjson_types::Timestamp { seconds: millis / 1000, nanos: 0 }
}

/// A person subject.
pub fn person(key: &str) -> pb::SubjectRef {
    pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: key.into() }
}

/// A place subject.
pub fn place(key: &str) -> pb::SubjectRef {
    pb::SubjectRef { kind: pb::SubjectKind::Place as i32, key: key.into() }
}

/// An event as an analyst replays it: pseudonymous ids, no personal data,
/// recorded a day after it happened.
pub fn event(id: &str, subjects: Vec<pb::SubjectRef>, occurred: Date, ward: &str, body: Body) -> pb::Event {
    let (occurred_at, recorded_at) = (at(occurred, 0), at(occurred, 24));
    pb::Event {
        event_id: id.into(),
        agency_id: "yot.harrow".into(),
        agency_kind: pb::AgencyKind::Yot as i32,
        subjects,
        occurred_at: Some(occurred_at),
        recorded_at: Some(recorded_at),
        borough: "Harrow".into(),
        ward: ward.into(),
        classification: pb::Classification::OfficialSensitive as i32,
        lawful_basis: vec![pb::LawfulBasis::CrimeAndDisorder as i32],
        schema_version: 1,
        body: Some(body),
        ..Default::default()
    }
}

/// Describes a youth justice outcome.
#[derive(Clone)]
pub struct Outcome {
    pub disposal: pb::Disposal,
    pub fte: bool,
    pub age: u32,
    pub ethnicity: pb::Ethnicity,
    pub gender: pb::Gender,
    /// Days before the outcome that the offence was committed.
    pub offence_days_before: i64,
}

impl Outcome {
    pub fn new(disposal: pb::Disposal, fte: bool, age: u32) -> Self {
        Outcome {
            disposal,
            fte,
            age,
            ethnicity: pb::Ethnicity::White,
            gender: pb::Gender::Male,
            offence_days_before: 30,
        }
    }

    pub fn ethnicity(mut self, e: pb::Ethnicity) -> Self {
        self.ethnicity = e;
        self
    }
}

/// A youth justice outcome for `subject`, decided on `on`.
pub fn outcome(id: &str, subject: &str, on: Date, o: &Outcome) -> pb::Event {
    let offence = plus(on, -o.offence_days_before);
    event(
        id,
        vec![person(subject)],
        on,
        "Wealdstone",
        Body::YouthJusticeOutcome(pb::YouthJusticeOutcome {
            disposal: o.disposal as i32,
            first_time_entrant: o.fte,
            main_offence: "robbery".into(),
            age: o.age,
            gender: o.gender as i32,
            ethnicity: o.ethnicity as i32,
            offence_date: Some(at(offence, 0)),
        }),
    )
}

/// A re-offence by `subject` committed on `on`, linked to an original offence date.
pub fn reoffence(id: &str, subject: &str, original: Date, on: Date) -> pb::Event {
    event(
        id,
        vec![person(subject)],
        on,
        "Wealdstone",
        Body::Reoffence(pb::Reoffence {
            original_event_id: String::new(),
            original_offence_date: Some(at(original, 0)),
            reoffence_date: Some(at(on, 0)),
            offence_category: "theft".into(),
            ..Default::default()
        }),
    )
}

/// The date `days` days after `date`.
pub fn plus(date: Date, days: i64) -> Date {
    date.checked_add(days.days()).expect("a test date in range")
}
