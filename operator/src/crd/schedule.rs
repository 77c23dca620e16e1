//! Standby schedules (`spec.scaling.schedules`): windows of local time in an IANA time zone in
//! which another `minIdle` applies, e.g. five warm agents on weekdays 08:00–18:00 in Berlin.
//! Local wall-clock time decides, so a window keeps its hours across daylight-saving changes.

use chrono::{DateTime, Datelike, NaiveTime, Utc};
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// A day of the week.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weekday {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

impl Weekday {
    fn of(day: chrono::Weekday) -> Self {
        match day {
            chrono::Weekday::Mon => Self::Mon,
            chrono::Weekday::Tue => Self::Tue,
            chrono::Weekday::Wed => Self::Wed,
            chrono::Weekday::Thu => Self::Thu,
            chrono::Weekday::Fri => Self::Fri,
            chrono::Weekday::Sat => Self::Sat,
            chrono::Weekday::Sun => Self::Sun,
        }
    }
}

/// A window of local time with its own `minIdle`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StandbySchedule {
    /// IANA time zone of `start` and `end`, e.g. `Europe/Berlin` or `UTC`; daylight saving
    /// time follows the zone. An unknown zone makes the AgentPool `Ready=False` (`InvalidSpec`).
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$')").message("must be an IANA time zone name, e.g. Europe/Berlin"))]
    #[schemars(length(max = 64))]
    pub time_zone: String,
    /// Days on which the window starts (`Mon` … `Sun`). Empty: every day.
    #[serde(default)]
    #[schemars(length(max = 7))]
    pub days: Vec<Weekday>,
    /// Local start, `HH:MM` (24-hour clock).
    #[x_kube(validation = kube::core::Rule::new("self.matches('^([01][0-9]|2[0-3]):[0-5][0-9]$')").message("must be HH:MM, e.g. 08:00"))]
    #[schemars(length(max = 5))]
    pub start: String,
    /// Local end, `HH:MM`, exclusive. At or before `start`, the window ends on the next day
    /// (`22:00`–`06:00` is a night).
    #[x_kube(validation = kube::core::Rule::new("self.matches('^([01][0-9]|2[0-3]):[0-5][0-9]$')").message("must be HH:MM, e.g. 18:00"))]
    #[schemars(length(max = 5))]
    pub end: String,
    /// Idle agents kept ready during the window, instead of `scaling.minIdle` (capped at
    /// `maxAgents`).
    #[schemars(range(max = 1000))]
    pub min_idle: u32,
}

/// Why a schedule cannot be evaluated (the CRD's rules refuse most of it first).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    /// Not a zone of the IANA database.
    #[error(
        "spec.scaling.schedules[{index}].timeZone: unknown time zone {zone:?} (use an IANA name such as Europe/Berlin)"
    )]
    UnknownTimeZone {
        /// Position in `schedules`.
        index: usize,
        /// The value.
        zone: String,
    },
    /// Not `HH:MM`.
    #[error("spec.scaling.schedules[{index}].{field}: {value:?} is not HH:MM")]
    BadTime {
        /// Position in `schedules`.
        index: usize,
        /// `start` or `end`.
        field: &'static str,
        /// The value.
        value: String,
    },
}

fn local_time(index: usize, field: &'static str, value: &str) -> Result<NaiveTime, ScheduleError> {
    NaiveTime::parse_from_str(value, "%H:%M").map_err(|_| ScheduleError::BadTime {
        index,
        field,
        value: value.to_owned(),
    })
}

impl StandbySchedule {
    /// Whether the window is open at `now`.
    fn is_open(&self, index: usize, now: DateTime<Utc>) -> Result<bool, ScheduleError> {
        let zone: chrono_tz::Tz =
            self.time_zone
                .parse()
                .map_err(|_| ScheduleError::UnknownTimeZone {
                    index,
                    zone: self.time_zone.clone(),
                })?;
        let start = local_time(index, "start", &self.start)?;
        let end = local_time(index, "end", &self.end)?;
        let local = now.with_timezone(&zone);
        let time = local.time();
        let starts_on =
            |day: chrono::Weekday| self.days.is_empty() || self.days.contains(&Weekday::of(day));
        let today = local.weekday();
        Ok(if start < end {
            starts_on(today) && start <= time && time < end
        } else {
            // Across midnight: opened today, or opened yesterday and not yet closed.
            (starts_on(today) && time >= start) || (starts_on(today.pred()) && time < end)
        })
    }
}

/// The `minIdle` of the open windows at `now` (the largest when several are open), or `None`
/// when none is open.
pub fn scheduled_min_idle(
    schedules: &[StandbySchedule],
    now: DateTime<Utc>,
) -> Result<Option<u32>, ScheduleError> {
    let mut open: Option<u32> = None;
    for (index, schedule) in schedules.iter().enumerate() {
        if schedule.is_open(index, now)? {
            open = Some(open.map_or(schedule.min_idle, |m| m.max(schedule.min_idle)));
        }
    }
    Ok(open)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn berlin_office_hours() -> StandbySchedule {
        StandbySchedule {
            time_zone: "Europe/Berlin".into(),
            days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            start: "08:00".into(),
            end: "18:00".into(),
            min_idle: 5,
        }
    }

    #[test]
    fn office_hours_follow_berlin_across_the_spring_daylight_saving_change() {
        let schedules = [berlin_office_hours()];
        let at = |t: &str| scheduled_min_idle(&schedules, utc(t)).expect("valid");
        // Friday 27 March 2026, winter time (UTC+1): 08:00 in Berlin is 07:00 UTC.
        assert_eq!(at("2026-03-27T06:59:00Z"), None);
        assert_eq!(at("2026-03-27T07:00:00Z"), Some(5));
        assert_eq!(at("2026-03-27T16:59:00Z"), Some(5));
        assert_eq!(at("2026-03-27T17:00:00Z"), None);
        // Clocks go forward on Sunday 29 March. Monday 30 March, summer time (UTC+2): 08:00 in
        // Berlin is 06:00 UTC, so 06:30 UTC is inside now although it was outside on Friday.
        assert_eq!(at("2026-03-30T05:59:00Z"), None);
        assert_eq!(at("2026-03-30T06:30:00Z"), Some(5));
        assert_eq!(at("2026-03-30T15:59:00Z"), Some(5));
        assert_eq!(at("2026-03-30T16:00:00Z"), None);
        // The weekend in between is closed.
        assert_eq!(at("2026-03-28T10:00:00Z"), None);
    }

    #[test]
    fn autumn_change_and_a_night_window_across_midnight() {
        let night = StandbySchedule {
            time_zone: "Europe/Berlin".into(),
            days: vec![Weekday::Sat],
            start: "22:00".into(),
            end: "04:00".into(),
            min_idle: 2,
        };
        let schedules = [night];
        let at = |t: &str| scheduled_min_idle(&schedules, utc(t)).expect("valid");
        // Saturday 24 October 2026, summer time: 22:00 Berlin = 20:00 UTC.
        assert_eq!(at("2026-10-24T19:59:00Z"), None);
        assert_eq!(at("2026-10-24T20:00:00Z"), Some(2));
        // Clocks go back at 03:00 on Sunday 25 October (to 02:00, UTC+1): 04:00 Berlin = 03:00 UTC.
        assert_eq!(at("2026-10-25T02:30:00Z"), Some(2));
        assert_eq!(at("2026-10-25T02:59:00Z"), Some(2));
        assert_eq!(at("2026-10-25T03:00:00Z"), None);
        // Started on Saturday only: Sunday night stays closed.
        assert_eq!(at("2026-10-25T22:30:00Z"), None);
    }

    #[test]
    fn overlapping_windows_keep_the_larger_min_idle_and_every_day_is_the_default() {
        let mut all_day = berlin_office_hours();
        all_day.days.clear();
        all_day.time_zone = "UTC".into();
        all_day.start = "00:00".into();
        all_day.end = "00:00".into();
        all_day.min_idle = 1;
        let schedules = [all_day, berlin_office_hours()];
        assert_eq!(
            scheduled_min_idle(&schedules, utc("2026-03-28T10:00:00Z")),
            Ok(Some(1)),
            "Saturday: only the all-day window"
        );
        assert_eq!(
            scheduled_min_idle(&schedules, utc("2026-03-27T10:00:00Z")),
            Ok(Some(5))
        );
    }

    #[test]
    fn an_unknown_zone_or_time_is_an_error_naming_the_schedule() {
        let mut bad = berlin_office_hours();
        bad.time_zone = "Europe/Atlantis".into();
        let error = scheduled_min_idle(&[berlin_office_hours(), bad], utc("2026-03-27T10:00:00Z"))
            .expect_err("unknown zone");
        assert_eq!(
            error.to_string(),
            "spec.scaling.schedules[1].timeZone: unknown time zone \"Europe/Atlantis\" (use an IANA name such as Europe/Berlin)"
        );
        let mut bad = berlin_office_hours();
        bad.end = "25:00".into();
        assert!(matches!(
            scheduled_min_idle(&[bad], utc("2026-03-27T10:00:00Z")),
            Err(ScheduleError::BadTime { field: "end", .. })
        ));
    }
}
