//! Time windows and time axes: which period a figure covers, and whether an
//! event is placed in it by when it happened (event time) or when the agency
//! recorded it (report time).
//!
//! Windows are whole days, inclusive at both ends, in UTC. Events carry
//! protobuf timestamps; the projections keep them as milliseconds since the
//! epoch.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{Date, Month, OffsetDateTime, Time};

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

/// A window that could not be made.
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
}

/// A period of whole days, `from` to `to` inclusive, in UTC.
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
        let after = end.next_day().unwrap_or(end);
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

    /// The window's first instant, in milliseconds since the epoch.
    pub fn start_millis(&self) -> i64 {
        day_start_millis(self.from)
    }

    /// The first instant after the window, in milliseconds since the epoch.
    pub fn end_millis_exclusive(&self) -> i64 {
        day_start_millis(self.to) + MILLIS_PER_DAY
    }

    /// Whether an instant (milliseconds since the epoch) falls in the window.
    pub fn contains_millis(&self, millis: i64) -> bool {
        millis >= self.start_millis() && millis < self.end_millis_exclusive()
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
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

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
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text.trim(), format).map_err(|_| WindowError::BadDate(text.to_string()))
}

const MILLIS_PER_DAY: i64 = 86_400_000;

/// Midnight UTC at the start of `date`, in milliseconds since the epoch.
pub(crate) fn day_start_millis(date: Date) -> i64 {
    date.midnight().assume_utc().unix_timestamp() * 1000
}

/// The UTC date-time of an instant in milliseconds since the epoch (clamped
/// to the range `time` supports).
pub(crate) fn date_time(millis: i64) -> OffsetDateTime {
    let seconds = millis.div_euclid(1000);
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(if seconds < 0 {
        OffsetDateTime::new_utc(Date::MIN, Time::MIDNIGHT)
    } else {
        OffsetDateTime::new_utc(Date::MAX, Time::MIDNIGHT)
    })
}

/// The UTC month of an instant, as `YYYY-MM`.
pub(crate) fn month_label(millis: i64) -> String {
    let date = date_time(millis).date();
    format!("{:04}-{:02}", date.year(), u8::from(date.month()))
}

/// `date` moved by `months` calendar months, the day clamped to the length of
/// the month reached (e.g. 31 March + 1 month = 30 April).
pub(crate) fn add_months(date: Date, months: i64) -> Date {
    let index = i64::from(date.year()) * 12 + i64::from(u8::from(date.month())) - 1 + months;
    let year = i32::try_from(index.div_euclid(12)).unwrap_or(if months < 0 { -9999 } else { 9999 });
    let month_number = u8::try_from(index.rem_euclid(12) + 1).unwrap_or(1);
    let month = Month::try_from(month_number).unwrap_or(Month::January);
    let day = date.day().min(month.length(year));
    Date::from_calendar_date(year, month, day).unwrap_or(if months < 0 { Date::MIN } else { Date::MAX })
}

/// An instant (milliseconds since the epoch) moved by `months` calendar
/// months, keeping the time of day.
pub(crate) fn add_months_millis(millis: i64, months: i64) -> i64 {
    let at = date_time(millis);
    let moved = add_months(at.date(), months);
    let shifted = at.replace_date(moved);
    shifted.unix_timestamp() * 1000 + (millis.rem_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn twelve_months_to_september() {
        let w = Window::months_ending(date!(2020 - 09 - 30), 12);
        assert_eq!(w.from(), date!(2019 - 10 - 01));
        assert_eq!(w.to(), date!(2020 - 09 - 30));
        assert_eq!(w.to_string(), "2019-10-01 to 2020-09-30");
        let three = Window::months_ending(date!(2019 - 03 - 31), 3);
        assert_eq!(three.from(), date!(2019 - 01 - 01));
    }

    #[test]
    fn contains_is_inclusive_of_whole_days() {
        let w = Window::new(date!(2020 - 01 - 01), date!(2020 - 01 - 31)).unwrap();
        let start = day_start_millis(date!(2020 - 01 - 01));
        let next = day_start_millis(date!(2020 - 02 - 01));
        assert!(w.contains_millis(start));
        assert!(w.contains_millis(next - 1));
        assert!(!w.contains_millis(next));
        assert!(!w.contains_millis(start - 1));
    }

    #[test]
    fn months_clamp_day() {
        assert_eq!(add_months(date!(2019 - 03 - 31), 1), date!(2019 - 04 - 30));
        assert_eq!(add_months(date!(2020 - 02 - 29), 12), date!(2021 - 02 - 28));
        assert_eq!(add_months(date!(2020 - 01 - 15), -13), date!(2018 - 12 - 15));
        let at = day_start_millis(date!(2019 - 05 - 10)) + 3_600_123;
        assert_eq!(add_months_millis(at, 12), day_start_millis(date!(2020 - 05 - 10)) + 3_600_123);
    }

    #[test]
    fn window_serde_round_trip_and_rejects_reversed() {
        let w = Window::months_ending(date!(2020 - 09 - 30), 12);
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(json, r#"{"from":"2019-10-01","to":"2020-09-30"}"#);
        assert_eq!(serde_json::from_str::<Window>(&json).unwrap(), w);
        assert!(serde_json::from_str::<Window>(r#"{"from":"2020-10-01","to":"2020-09-30"}"#).is_err());
        assert!(Window::new(date!(2020 - 02 - 01), date!(2020 - 01 - 01)).is_err());
        assert_eq!(month_label(day_start_millis(date!(2020 - 02 - 29))), "2020-02");
    }
}
