//! When a briefing is: the partnership's daily briefing time in its own time
//! zone, and the window a briefing covers.
//!
//! The default window runs from one briefing time to the next (e.g. 08:30
//! yesterday to 08:30 today, Europe/London), so consecutive daily briefings
//! neither overlap nor leave a gap, even across a change to or from summer
//! time (when the window is 23 or 25 hours long).

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, ZonedDateTime};

use crate::BriefingError;

/// The longest window a briefing may cover.
pub const MAX_WINDOW_DAYS: i64 = 31;

/// The partnership's daily briefing time, in its time zone.
#[derive(Debug, Clone)]
pub struct BriefingTime {
    at: Time,
    zone: TimeZone,
    zone_name: String,
}

/// The span of time a briefing covers, in milliseconds since the epoch:
/// `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Start (inclusive).
    pub from: i64,
    /// End (exclusive).
    pub to: i64,
}

impl Window {
    /// Whether `millis` falls in the window.
    pub fn contains(&self, millis: i64) -> bool {
        self.from <= millis && millis < self.to
    }
}

impl Default for BriefingTime {
    /// 08:30, Europe/London.
    fn default() -> Self {
        // The bundled tz database always has Europe/London.
        BriefingTime::parse("08:30", "Europe/London").unwrap_or_else(|_| BriefingTime {
            at: Time::constant(8, 30, 0, 0),
            zone: TimeZone::UTC,
            zone_name: "UTC".into(),
        })
    }
}

impl BriefingTime {
    /// The briefing time `at` ("HH:MM") in the IANA time zone `zone`
    /// (e.g. "Europe/London").
    pub fn parse(at: &str, zone: &str) -> Result<Self, BriefingError> {
        let at: Time = at.parse().map_err(|e| BriefingError::Config(format!("briefing time `{at}`: {e}")))?;
        let tz = TimeZone::get(zone).map_err(|e| BriefingError::Config(format!("time zone `{zone}`: {e}")))?;
        Ok(BriefingTime { at, zone: tz, zone_name: zone.to_string() })
    }

    /// The time zone's name, e.g. "Europe/London".
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    /// The time zone.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The latest briefing time at or before `now` (milliseconds).
    pub fn latest_at_or_before(&self, now: i64) -> Result<i64, BriefingError> {
        let now = zoned(now, &self.zone)?;
        let today = self.on(now.date())?;
        let latest = if today.timestamp() <= now.timestamp() { today } else { self.on(now.date().yesterday()?)? };
        Ok(latest.timestamp().as_millisecond())
    }

    /// The first briefing time strictly after `now` (milliseconds).
    pub fn next_after(&self, now: i64) -> Result<i64, BriefingError> {
        let now = zoned(now, &self.zone)?;
        let today = self.on(now.date())?;
        let next = if today.timestamp() > now.timestamp() { today } else { self.on(now.date().tomorrow()?)? };
        Ok(next.timestamp().as_millisecond())
    }

    /// The window of a request: `to` defaults to the latest briefing time at
    /// or before `now`, `from` to the same wall-clock time one day before
    /// `to`. Errors name the field at fault.
    pub fn window(&self, from: Option<i64>, to: Option<i64>, now: i64) -> Result<Window, (&'static str, String)> {
        let to = match to {
            Some(to) => to,
            None => self.latest_at_or_before(now).map_err(|e| ("to", e.to_string()))?,
        };
        let from = match from {
            Some(from) => from,
            None => self.day_before(to).map_err(|e| ("from", e.to_string()))?,
        };
        if from >= to {
            return Err(("to", "must be after `from`".into()));
        }
        if to - from > MAX_WINDOW_DAYS * 86_400_000 {
            return Err(("from", format!("a briefing covers at most {MAX_WINDOW_DAYS} days")));
        }
        Ok(Window { from, to })
    }

    /// The same wall-clock time one day before `millis`.
    pub fn day_before(&self, millis: i64) -> Result<i64, BriefingError> {
        Ok(zoned(millis, &self.zone)?.yesterday()?.timestamp().as_millisecond())
    }

    /// The same wall-clock time twelve months before `millis`.
    pub fn year_before(&self, millis: i64) -> Result<i64, BriefingError> {
        Ok(zoned(millis, &self.zone)?.checked_sub(1.year())?.timestamp().as_millisecond())
    }

    /// `millis` as local time for people, e.g. "Mon 2 Mar 2026 14:05".
    pub fn local(&self, millis: i64) -> String {
        match zoned(millis, &self.zone) {
            Ok(z) => z.strftime("%a %-d %b %Y %H:%M").to_string(),
            Err(_) => format!("{millis} ms"),
        }
    }

    /// The briefing time on `date`, in the zone (a time skipped by a clock
    /// change resolves to the moment after the gap).
    fn on(&self, date: jiff::civil::Date) -> Result<ZonedDateTime, BriefingError> {
        Ok(date.to_datetime(self.at).to_zoned_datetime(self.zone.clone())?)
    }
}

fn zoned(millis: i64, zone: &TimeZone) -> Result<ZonedDateTime, BriefingError> {
    Ok(Timestamp::from_millisecond(millis)?.to_zoned_datetime(zone.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn the_default_window_ends_at_the_latest_briefing_time_in_london() {
        let t = BriefingTime::default();
        assert_eq!(t.zone_name(), "Europe/London");
        // Winter: 08:30 London is 08:30 UTC.
        let w = t.window(None, None, ms("2026-01-15T09:00:00Z")).unwrap();
        assert_eq!(w, Window { from: ms("2026-01-14T08:30:00Z"), to: ms("2026-01-15T08:30:00Z") });
        // Before today's briefing the window ends at yesterday's.
        let w = t.window(None, None, ms("2026-01-15T08:00:00Z")).unwrap();
        assert_eq!(w.to, ms("2026-01-14T08:30:00Z"));
        // Summer: 08:30 London is 07:30 UTC.
        let w = t.window(None, None, ms("2026-07-15T07:45:00Z")).unwrap();
        assert_eq!(w, Window { from: ms("2026-07-14T07:30:00Z"), to: ms("2026-07-15T07:30:00Z") });
    }

    #[test]
    fn windows_across_clock_changes_run_from_briefing_to_briefing() {
        let t = BriefingTime::default();
        // Clocks go forward on Sunday 29 March 2026: a 23-hour window.
        let w = t.window(None, None, ms("2026-03-29T12:00:00Z")).unwrap();
        assert_eq!(w, Window { from: ms("2026-03-28T08:30:00Z"), to: ms("2026-03-29T07:30:00Z") });
        assert_eq!(w.to - w.from, 23 * 3_600_000);
        // Clocks go back on Sunday 25 October 2026: a 25-hour window.
        let w = t.window(None, None, ms("2026-10-25T12:00:00Z")).unwrap();
        assert_eq!(w.to - w.from, 25 * 3_600_000);
    }

    #[test]
    fn explicit_bounds_are_kept_and_checked() {
        let t = BriefingTime::default();
        let (from, to) = (ms("2026-01-10T00:00:00Z"), ms("2026-01-12T00:00:00Z"));
        assert_eq!(t.window(Some(from), Some(to), 0).unwrap(), Window { from, to });
        assert_eq!(t.window(None, Some(to), 0).unwrap().from, ms("2026-01-11T00:00:00Z"));
        assert_eq!(t.window(Some(to), Some(from), 0).unwrap_err().0, "to");
        assert_eq!(t.window(Some(to), Some(to), 0).unwrap_err().0, "to");
        let long = t.window(Some(from - 40 * 86_400_000), Some(to), 0).unwrap_err();
        assert_eq!(long.0, "from");
    }

    #[test]
    fn the_next_run_is_strictly_after_now() {
        let t = BriefingTime::parse("08:30", "Europe/London").unwrap();
        assert_eq!(t.next_after(ms("2026-01-15T08:29:59Z")).unwrap(), ms("2026-01-15T08:30:00Z"));
        assert_eq!(t.next_after(ms("2026-01-15T08:30:00Z")).unwrap(), ms("2026-01-16T08:30:00Z"));
        assert_eq!(t.latest_at_or_before(ms("2026-01-15T08:30:00Z")).unwrap(), ms("2026-01-15T08:30:00Z"));
    }

    #[test]
    fn bad_configuration_is_refused() {
        assert!(BriefingTime::parse("25:00", "Europe/London").is_err());
        assert!(BriefingTime::parse("08:30", "Europe/Atlantis").is_err());
    }

    #[test]
    fn local_times_are_shown_in_the_zone() {
        let t = BriefingTime::default();
        assert_eq!(t.local(ms("2026-07-15T13:05:00Z")), "Wed 15 Jul 2026 14:05");
        assert_eq!(t.year_before(ms("2026-07-15T13:05:00Z")).unwrap(), ms("2025-07-15T13:05:00Z"));
    }
}
