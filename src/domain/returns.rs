//! The monthly returns a school owes the LA (RULES.md R16.2; Hertfordshire "the grid"): for a
//! month, the pupils whose `sickness_return_due` (R4.4) or `unauthorised_absence_10_days`
//! (R16.1) was reached in it, per school. Pure: which alert kind a return lists, the month asked
//! for, and what a row holds.

use std::fmt;

use chrono::{Datelike, Months, NaiveDate};
use serde::Serialize;
use utoipa::ToSchema;

use super::alerts::AlertKind;

/// Which return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnKind {
    /// 15 days of illness in the academic year (R4.4).
    Sickness,
    /// 10 days of unauthorised absence, cumulative or in a row (R16.1).
    UnauthorisedAbsence,
}

impl ReturnKind {
    /// The alert whose `since` (the session that reached the threshold) puts a pupil on it.
    pub fn alert_kind(self) -> AlertKind {
        match self {
            ReturnKind::Sickness => AlertKind::SicknessReturnDue,
            ReturnKind::UnauthorisedAbsence => AlertKind::UnauthorisedAbsence10Days,
        }
    }

    /// Its name in paths, file names and audit rows.
    pub fn as_str(self) -> &'static str {
        match self {
            ReturnKind::Sickness => "sickness",
            ReturnKind::UnauthorisedAbsence => "unauthorised-absence",
        }
    }
}

/// A calendar month, written `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    first_day: NaiveDate,
}

impl Month {
    /// `2026-11`; anything else (`2026-13`, `2026-1`, `2026-11-01`) is refused with why.
    pub fn parse(text: &str) -> Result<Month, String> {
        let refused = || "month should be a month written YYYY-MM, such as 2026-11".to_string();
        let (year, month) = text.split_once('-').ok_or_else(refused)?;
        if year.len() != 4
            || month.len() != 2
            || !(year.chars().chain(month.chars())).all(|c| c.is_ascii_digit())
        {
            return Err(refused());
        }
        let (year, month) = (
            year.parse::<i32>().map_err(|_| refused())?,
            month.parse::<u32>().map_err(|_| refused())?,
        );
        NaiveDate::from_ymd_opt(year, month, 1)
            .map(|first_day| Month { first_day })
            .ok_or_else(refused)
    }

    pub fn first_day(self) -> NaiveDate {
        self.first_day
    }

    pub fn last_day(self) -> NaiveDate {
        self.first_day
            .checked_add_months(Months::new(1))
            .and_then(|next| next.pred_opt())
            .unwrap_or(self.first_day)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}",
            self.first_day.year(),
            self.first_day.month()
        )
    }
}

/// One pupil on a return: who, at which school, when the threshold was reached and the days
/// counted as the register stands now.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnRow {
    pub school_urn: i32,
    pub laestab: Option<String>,
    pub upn: String,
    pub forename: Option<String>,
    pub surname: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    /// The date of the session that reached the threshold (the alert's `since`).
    pub reached_on: NaiveDate,
    /// Illness days (sickness) or unauthorised absence days in the academic year, half days
    /// counting.
    pub days_counted: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_yyyy_mm_and_nothing_else() {
        let november = Month::parse("2026-11").unwrap();
        assert_eq!(november.first_day().to_string(), "2026-11-01");
        assert_eq!(november.last_day().to_string(), "2026-11-30");
        assert_eq!(november.to_string(), "2026-11");
        assert_eq!(
            Month::parse("2028-02").unwrap().last_day().to_string(),
            "2028-02-29"
        );
        assert_eq!(
            Month::parse("2026-12").unwrap().last_day().to_string(),
            "2026-12-31"
        );
        for bad in [
            "",
            "2026",
            "2026-13",
            "2026-00",
            "2026-1",
            "26-11",
            "2026-11-01",
            "2026/11",
            "+026-11",
            "2026-1a",
        ] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_return_lists_its_alert() {
        assert_eq!(
            ReturnKind::Sickness.alert_kind(),
            AlertKind::SicknessReturnDue
        );
        assert_eq!(
            ReturnKind::UnauthorisedAbsence.alert_kind(),
            AlertKind::UnauthorisedAbsence10Days
        );
    }
}
