//! Time windows, time axes and the partnership's time zone: which period a
//! figure covers, whether an event is placed in it by when it happened (event
//! time) or when the agency recorded it (report time), and on which calendar
//! day an instant falls.
//!
//! Windows are whole calendar days, inclusive at both ends, in the
//! partnership's time zone ([`Zone`], Europe/London unless configured): an
//! event at 00:30 BST on 1 July is a 1 July event, although it is 30 June in
//! UTC. Events carry protobuf timestamps; the projections keep them as
//! milliseconds since the epoch and place them on days when asked.

use std::fmt;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which of an event's two times places it in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeAxis {
    /// When it happened: the envelope's `occurred_at`.
    #[default]
    EventTime,
    /// When the agency recorded it: the envelope's `recorded_at`. National
    /// data lags by months, so figures by report time differ.
    ReportTime,
}

impl TimeAxis {
    /// The axis's name, as written in reports (`event_time`, `report_time`).
    pub fn as_str(self) -> &'static str {
        match self {
            TimeAxis::EventTime => "event_time",
            TimeAxis::ReportTime => "report_time",
        }
    }
}

impl fmt::Display for TimeAxis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A window or time zone that could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// The window ends before it starts.
    #[error("window starts on {from} but ends earlier, on {to}")]
    Reversed {
        /// First day.
        from: Date,
        /// Last day.
        to: Date,
    },
    /// A date in a stored window could not be read.
    #[error("`{0}` is not a date of the form YYYY-MM-DD")]
    BadDate(String),
    /// A time zone name the tz database does not know.
    #[error("`{0}` is not an IANA time zone name (e.g. Europe/London)")]
    BadZone(String),
}

/// The partnership's time zone: it decides on which calendar day an instant
/// falls. Written in reports and checkpoints by its IANA name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Zone {
    /// The zone with this IANA name, e.g. `Europe/London`.
    pub fn get(name: &str) -> Result<Zone, WindowError> {
        let tz = TimeZone::get(name.trim()).map_err(|_| WindowError::BadZone(name.to_string()))?;
        Ok(Zone { name: name.trim().to_string(), tz })
    }

    /// UTC (for data whose days are UTC days).
    pub fn utc() -> Zone {
        Zone { name: "UTC".into(), tz: TimeZone::UTC }
    }

    /// The zone's IANA name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The calendar day an instant (milliseconds since the epoch) falls on
    /// here (instants outside jiff's range are clamped to its ends).
    pub fn date_of(&self, millis: i64) -> Date {
        let at =
            Timestamp::from_millisecond(millis).unwrap_or(if millis < 0 { Timestamp::MIN } else { Timestamp::MAX });
        self.tz.to_datetime(at).date()
    }

    /// The first instant of `date` here, in milliseconds since the epoch.
    pub fn day_start_millis(&self, date: Date) -> i64 {
        date.to_zoned_datetime(self.tz.clone())
            .map_or(if date < Date::constant(1970, 1, 1) { i64::MIN } else { i64::MAX }, |z| {
                z.timestamp().as_millisecond()
            })
    }
}

impl Default for Zone {
    /// Europe/London (always in the bundled tz database).
    fn default() -> Self {
        Zone::get("Europe/London").unwrap_or_else(|_| Zone::utc())
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl Serialize for Zone {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Zone::get(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// A period of whole calendar days, `from` to `to` inclusive (placed in a
/// [`Zone`] when events are tested against it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    from: Date,
    to: Date,
}

impl Window {
    /// The days `from` to `to`, both included.
    pub fn new(from: Date, to: Date) -> Result<Self, WindowError> {
        if to < from {
            return Err(WindowError::Reversed { from, to });
        }
        Ok(Window { from, to })
    }

    /// The `months` whole months ending on `end` (included): e.g. 12 months
    /// ending 2020-09-30 is 2019-10-01 to 2020-09-30. `months` of 0 is the one
    /// day `end`.
    pub fn months_ending(end: Date, months: u32) -> Self {
        if months == 0 {
            return Window { from: end, to: end };
        }
        let after = end.tomorrow().unwrap_or(end);
        let from = add_months(after, -i64::from(months));
        Window { from: from.min(end), to: end }
    }

    /// The first day.
    pub fn from(&self) -> Date {
        self.from
    }

    /// The last day.
    pub fn to(&self) -> Date {
        self.to
    }

    /// Whether a day falls in the window.
    pub fn contains(&self, date: Date) -> bool {
        self.from <= date && date <= self.to
    }

    /// Whether an instant (milliseconds since the epoch) falls in the window
    /// on `zone`'s calendar.
    pub fn contains_millis(&self, millis: i64, zone: &Zone) -> bool {
        self.contains(zone.date_of(millis))
    }

    /// The first instant after the window on `zone`'s calendar, in
    /// milliseconds since the epoch.
    pub fn end_millis_exclusive(&self, zone: &Zone) -> i64 {
        self.to.tomorrow().map_or(i64::MAX, |next| zone.day_start_millis(next))
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} to {}", self.from, self.to)
    }
}

#[derive(Serialize, Deserialize)]
struct WindowText {
    from: String,
    to: String,
}

impl Serialize for Window {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WindowText { from: self.from.to_string(), to: self.to.to_string() }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = WindowText::deserialize(deserializer)?;
        let from = parse_date(&text.from).map_err(serde::de::Error::custom)?;
        let to = parse_date(&text.to).map_err(serde::de::Error::custom)?;
        Window::new(from, to).map_err(serde::de::Error::custom)
    }
}

/// Serde for a [`Date`] as `YYYY-MM-DD` (use with `#[serde(with = "...")]`).
pub(crate) mod date_text {
    use jiff::civil::Date;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(date)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_date(&text).map_err(serde::de::Error::custom)
    }
}

/// Parses a date written `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<Date, WindowError> {
    let trimmed = text.trim();
    match trimmed.len() {
        10 => trimmed.parse().map_err(|_| WindowError::BadDate(text.to_string())),
        _ => Err(WindowError::BadDate(text.to_string())),
    }
}

/// The month of a day, as `YYYY-MM`.
pub(crate) fn month_label(date: Date) -> String {
    format!("{:04}-{:02}", date.year(), date.month())
}

/// `date` moved by `months` calendar months, the day clamped to the length of
/// the month reached (e.g. 31 March + 1 month = 30 April); clamped to jiff's
/// range of dates.
pub(crate) fn add_months(date: Date, months: i64) -> Date {
    date.checked_add(months.months()).unwrap_or(if months < 0 { Date::MIN } else { Date::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn twelve_months_to_september() {
        let w = Window::months_ending(date(2020, 9, 30), 12);
        assert_eq!(w.from(), date(2019, 10, 1));
        assert_eq!(w.to(), date(2020, 9, 30));
        assert_eq!(w.to_string(), "2019-10-01 to 2020-09-30");
        let three = Window::months_ending(date(2019, 3, 31), 3);
        assert_eq!(three.from(), date(2019, 1, 1));
    }

    #[test]
    fn days_are_the_partnerships_days_not_utc_days() {
        let london = Zone::default();
        assert_eq!(london.name(), "Europe/London");
        let june = Window::new(date(2020, 6, 1), date(2020, 6, 30)).unwrap();
        // 2020-06-30T23:30Z is 00:30 BST on 1 July: after June in London,
        // in June by UTC.
        let late = 1_593_559_800_000;
        assert_eq!(london.date_of(late), date(2020, 7, 1));
        assert!(!june.contains_millis(late, &london));
        assert!(june.contains_millis(late, &Zone::utc()));
        // 2020-05-31T23:30Z is 00:30 BST on 1 June: in June in London only.
        let early = late - 30 * 86_400_000;
        assert!(june.contains_millis(early, &london));
        assert!(!june.contains_millis(early, &Zone::utc()));
        // In winter London is UTC.
        let january = Window::new(date(2020, 1, 1), date(2020, 1, 31)).unwrap();
        let midnight = london.day_start_millis(date(2020, 2, 1));
        assert_eq!(midnight, 1_580_515_200_000);
        assert!(january.contains_millis(midnight - 1, &london) && !january.contains_millis(midnight, &london));
        // The end of June in London is 23:00 UTC on 30 June.
        assert_eq!(june.end_millis_exclusive(&london), 1_593_558_000_000);
        assert!(Zone::get("Mars/Olympus").is_err());
    }

    #[test]
    fn months_clamp_day() {
        assert_eq!(add_months(date(2019, 3, 31), 1), date(2019, 4, 30));
        assert_eq!(add_months(date(2020, 2, 29), 12), date(2021, 2, 28));
        assert_eq!(add_months(date(2020, 1, 15), -13), date(2018, 12, 15));
        assert_eq!(month_label(date(2020, 2, 29)), "2020-02");
    }

    #[test]
    fn window_and_zone_serde_round_trip_and_reject_bad_input() {
        let w = Window::months_ending(date(2020, 9, 30), 12);
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(json, r#"{"from":"2019-10-01","to":"2020-09-30"}"#);
        assert_eq!(serde_json::from_str::<Window>(&json).unwrap(), w);
        assert!(serde_json::from_str::<Window>(r#"{"from":"2020-10-01","to":"2020-09-30"}"#).is_err());
        assert!(Window::new(date(2020, 2, 1), date(2020, 1, 1)).is_err());
        assert!(parse_date("2020-9-30").is_err() && parse_date("2020-09-31").is_err());
        let zone: Zone = serde_json::from_str(r#""Europe/London""#).unwrap();
        assert_eq!(serde_json::to_string(&zone).unwrap(), r#""Europe/London""#);
        assert!(serde_json::from_str::<Zone>(r#""Nowhere""#).is_err());
    }
}
