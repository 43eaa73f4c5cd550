//! Compulsory school age and national curriculum year (RULES.md R7; Education Act 1996 s8).

use chrono::{Datelike, NaiveDate, Weekday};

use super::calendar::AcademicYear;

/// The first and last day of a child's compulsory school age, both inclusive (R7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompulsorySchoolAge {
    pub starts: NaiveDate,
    pub ends: NaiveDate,
}

impl CompulsorySchoolAge {
    /// R7.1: starts on the first prescribed day (31 August, 31 December, 31 March) on or after
    /// the 5th birthday; ends on the last Friday in June of the academic year in which the child
    /// turns 16.
    pub fn of(date_of_birth: NaiveDate) -> CompulsorySchoolAge {
        let fifth = birthday(date_of_birth, 5);
        let starts = prescribed_day_on_or_after(fifth);
        let sixteenth = birthday(date_of_birth, 16);
        let june_of = AcademicYear::containing(sixteenth).first_day().year() + 1;
        CompulsorySchoolAge {
            starts,
            ends: last_friday_in_june(june_of),
        }
    }

    pub fn contains(&self, date: NaiveDate) -> bool {
        self.starts <= date && date <= self.ends
    }
}

/// The date of the `years`-th birthday; a 29 February birthday falls on 1 March in other years
/// (R7.1).
pub fn birthday(date_of_birth: NaiveDate, years: i32) -> NaiveDate {
    let year = date_of_birth.year() + years;
    NaiveDate::from_ymd_opt(year, date_of_birth.month(), date_of_birth.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, 3, 1))
        .unwrap_or(NaiveDate::MAX)
}

/// Age in whole years on `on` (0 before the first birthday).
pub fn age_on(date_of_birth: NaiveDate, on: NaiveDate) -> i32 {
    if on < date_of_birth {
        return 0;
    }
    let mut years = on.year() - date_of_birth.year();
    if birthday(date_of_birth, years) > on {
        years -= 1;
    }
    years.max(0)
}

/// R7.2: the age on 31 August before the academic year containing `on` starts, minus 4
/// (Reception 0, Year 1 = 1 ... Year 11 = 15 - 4). Negative before Reception.
pub fn national_curriculum_year(date_of_birth: NaiveDate, on: NaiveDate) -> i32 {
    let start = AcademicYear::containing(on).first_day();
    let eve = start.pred_opt().unwrap_or(start);
    age_on(date_of_birth, eve) - 4
}

/// "Reception", "Year 7", or "below Reception" / "beyond Year 13", for reasons a parent reads.
pub fn national_curriculum_year_name(year: i32) -> String {
    match year {
        y if y < 0 => "below Reception".to_string(),
        0 => "Reception".to_string(),
        y if y <= 13 => format!("Year {y}"),
        _ => "beyond Year 13".to_string(),
    }
}

fn prescribed_day_on_or_after(date: NaiveDate) -> NaiveDate {
    let y = date.year();
    [
        NaiveDate::from_ymd_opt(y, 3, 31),
        NaiveDate::from_ymd_opt(y, 8, 31),
        NaiveDate::from_ymd_opt(y, 12, 31),
        NaiveDate::from_ymd_opt(y + 1, 3, 31),
    ]
    .into_iter()
    .flatten()
    .find(|d| *d >= date)
    .unwrap_or(NaiveDate::MAX)
}

fn last_friday_in_june(year: i32) -> NaiveDate {
    let mut day = NaiveDate::from_ymd_opt(year, 6, 30).unwrap_or(NaiveDate::MAX);
    while day.weekday() != Weekday::Fri {
        day = day.pred_opt().unwrap_or(day);
    }
    day
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    // RULES.md R7.1 examples.
    #[test]
    fn compulsory_school_age_ends_on_the_last_friday_in_june_of_the_year_they_turn_16() {
        assert_eq!(
            CompulsorySchoolAge::of(d("2008-08-31")).ends,
            d("2024-06-28")
        );
        assert_eq!(
            CompulsorySchoolAge::of(d("2008-09-01")).ends,
            d("2025-06-27")
        );
    }

    #[test]
    fn compulsory_school_age_starts_on_the_next_prescribed_day_after_the_fifth_birthday() {
        // 5th birthday 2024-02-10 -> 31 March 2024.
        assert_eq!(
            CompulsorySchoolAge::of(d("2019-02-10")).starts,
            d("2024-03-31")
        );
        // A birthday on a prescribed day starts that day ("on or after").
        assert_eq!(
            CompulsorySchoolAge::of(d("2019-08-31")).starts,
            d("2024-08-31")
        );
        assert_eq!(
            CompulsorySchoolAge::of(d("2019-09-01")).starts,
            d("2024-12-31")
        );
        assert_eq!(
            CompulsorySchoolAge::of(d("2019-12-31")).starts,
            d("2024-12-31")
        );
        assert_eq!(
            CompulsorySchoolAge::of(d("2020-01-01")).starts,
            d("2025-03-31")
        );
    }

    #[test]
    fn both_ends_are_inclusive() {
        let age = CompulsorySchoolAge::of(d("2008-08-31"));
        assert!(age.contains(d("2024-06-28")));
        assert!(!age.contains(d("2024-06-29")));
        let young = CompulsorySchoolAge::of(d("2019-02-10"));
        assert!(!young.contains(d("2024-03-30")));
        assert!(young.contains(d("2024-03-31")));
    }

    #[test]
    fn a_leap_day_birthday_falls_on_1_march_in_other_years() {
        assert_eq!(birthday(d("2012-02-29"), 5), d("2017-03-01"));
        assert_eq!(birthday(d("2012-02-29"), 4), d("2016-02-29"));
        assert_eq!(age_on(d("2012-02-29"), d("2017-02-28")), 4);
        assert_eq!(age_on(d("2012-02-29"), d("2017-03-01")), 5);
        // 5th birthday 1 March 2017 -> starts 31 March 2017.
        assert_eq!(
            CompulsorySchoolAge::of(d("2012-02-29")).starts,
            d("2017-03-31")
        );
    }

    // RULES.md R7.2.
    #[test]
    fn national_curriculum_year_is_the_age_on_31_august_minus_4() {
        // Born 2014-03-02: 12 on 31 August 2026 -> Year 8 throughout 2026-27.
        assert_eq!(
            national_curriculum_year(d("2014-03-02"), d("2026-11-23")),
            8
        );
        assert_eq!(
            national_curriculum_year(d("2014-03-02"), d("2027-07-20")),
            8
        );
        // Born 31 August: oldest-in-year rule does not apply, youngest in the year.
        assert_eq!(
            national_curriculum_year(d("2010-08-31"), d("2026-09-01")),
            12
        );
        assert_eq!(
            national_curriculum_year(d("2010-09-01"), d("2026-09-01")),
            11
        );
        assert_eq!(
            national_curriculum_year(d("2022-01-15"), d("2026-11-23")),
            0
        );
        assert_eq!(national_curriculum_year_name(0), "Reception");
        assert_eq!(national_curriculum_year_name(11), "Year 11");
        assert_eq!(national_curriculum_year_name(-1), "below Reception");
    }
}
