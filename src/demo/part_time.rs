//! The demo's part-time timetables (issue 24, RULES.md R15): Hillside's pupil 6 on an agreed
//! timetable since 25 school days before today (mornings in school, afternoons `C2`), its first
//! review due three school days from today; and Oakfield's pupil 6 with `C2` afternoons from
//! four school days before today, and no agreement behind them (R15.3 `c2_without_agreement`). Hillside's and
//! Oakfield's pupil 2 are past 10 days of unauthorised absence (R16.1) from the demo's register.

use chrono::NaiveDate;

use super::demo_upn;
use crate::clock::Clock;
use crate::domain::access::Role;
use crate::domain::codes::AttendanceCode;
use crate::error::ApiError;
use crate::service::part_time::{self, NewPartTimeTimetable};
use crate::service::{Actor, AppState};
use crate::store::part_time as store;

/// Hillside Academy's pupil 6 (school index 1), on an agreed part-time timetable.
pub const AGREED: (usize, usize) = (1, 6);
/// Oakfield's pupil 6, with `C2` and no agreement.
pub const UNAGREED: (usize, usize) = (0, 6);

/// School days the agreement has run before today.
const AGREED_SCHOOL_DAYS: usize = 25;
/// School days before today from which Oakfield's pupil 6's afternoons are `C2` (today's too).
const UNAGREED_AFTERNOONS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartTimeDates {
    /// The agreement's first day; the parent agreed the school day before.
    pub start: NaiveDate,
    pub parent_agreed_on: NaiveDate,
    /// Oakfield's pupil 6's `C2` afternoons start on this day.
    pub unagreed_from: NaiveDate,
}

impl PartTimeDates {
    /// `None` until the year has enough school days before today.
    pub fn new(today: NaiveDate, school_days: &[NaiveDate]) -> Option<PartTimeDates> {
        let past: Vec<NaiveDate> = school_days.iter().copied().filter(|d| *d < today).collect();
        let m = past.len();
        let start = m.checked_sub(AGREED_SCHOOL_DAYS)?;
        Some(PartTimeDates {
            start: past[start],
            parent_agreed_on: past[start.checked_sub(1)?],
            unagreed_from: past[m - UNAGREED_AFTERNOONS],
        })
    }

    /// The two pupils' registers: afternoons `C2` under the agreement from its start; Oakfield's
    /// pupil 6's last afternoons `C2` with none. `None` for every other session.
    pub fn register_code(
        &self,
        pupil: (usize, usize),
        day: NaiveDate,
        pm: bool,
    ) -> Option<AttendanceCode> {
        let from = match pupil {
            AGREED => self.start,
            UNAGREED => self.unagreed_from,
            _ => return None,
        };
        (pm && day >= from).then_some(AttendanceCode::C2)
    }
}

/// Records Hillside's pupil 6's agreement through the service, on the day it was agreed
/// (skipped when one is recorded already).
pub async fn seed(state: &AppState, dates: Option<PartTimeDates>) -> Result<(), ApiError> {
    let Some(dates) = dates else {
        return Ok(());
    };
    let upn = demo_upn(AGREED.0, AGREED.1);
    let urn = super::DEMO_SCHOOLS[AGREED.0].0;
    let existing = {
        let upn = upn.clone();
        state
            .db
            .read(move |conn| Ok(store::of_pupil(conn, urn, &upn)?.len()))
            .await?
    };
    if existing > 0 {
        return Ok(());
    }
    let mut then = state.clone();
    then.clock = Clock::fixed(dates.start);
    let calendar = then
        .db
        .read(|conn| {
            Ok(crate::domain::calendar::SchoolCalendar::new(
                crate::store::calendars::all(conn)?,
            ))
        })
        .await?;
    let school = Actor {
        client_id: "demo MIS for Hillside Academy".to_string(),
        role: Role::School,
        schools: vec![urn],
        endpoint: "cli serve --demo".to_string(),
        correlation_id: None,
    };
    let first_review = calendar.school_day_after(dates.start, AGREED_SCHOOL_DAYS as u32 + 3);
    let end = calendar.school_day_after(dates.start, 50);
    let body: NewPartTimeTimetable = serde_json::from_value(serde_json::json!({
        "upn": upn, "start_date": dates.start, "end_date": end,
        "pattern": {"monday": ["AM"], "tuesday": ["AM"], "wednesday": ["AM"], "thursday": ["AM"], "friday": ["AM"]},
        "reason": "health", "parent_agreed_on": dates.parent_agreed_on,
        "ambition": "Back to full days by the end of term, building afternoons in one at a time",
        "plan_reference": "Individual healthcare plan with the school nurse (migraine)",
        "review_dates": [first_review, end]
    }))
    .map_err(|e| ApiError::internal(format!("demo part-time timetable: {e}")))?;
    part_time::create(&then, &school, urn, body).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Weekday};

    #[test]
    fn afternoons_are_c2_from_the_start_and_the_unagreed_ones_at_the_end() {
        let days: Vec<NaiveDate> = NaiveDate::from_ymd_opt(2026, 9, 7)
            .unwrap()
            .iter_days()
            .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
            .take(40)
            .collect();
        assert_eq!(PartTimeDates::new(days[24], &days), None, "24 school days");
        let dates = PartTimeDates::new(days[39], &days).expect("39 school days");
        assert_eq!(dates.start, days[14]);
        assert_eq!(dates.parent_agreed_on, days[13]);
        assert_eq!(dates.unagreed_from, days[35]);
        assert_eq!(
            dates.register_code(AGREED, days[14], true),
            Some(AttendanceCode::C2)
        );
        assert_eq!(dates.register_code(AGREED, days[14], false), None);
        assert_eq!(dates.register_code(AGREED, days[13], true), None);
        assert_eq!(
            dates.register_code(UNAGREED, days[35], true),
            Some(AttendanceCode::C2)
        );
        assert_eq!(dates.register_code(UNAGREED, days[34], true), None);
        assert_eq!(dates.register_code((0, 7), days[35], true), None);
    }
}
