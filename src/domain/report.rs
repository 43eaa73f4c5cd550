//! The stakeholder progress report's register figures (issue 23 item 5; RULES.md R2 measures):
//! the school register before and during support, and week by week, as pure functions over a
//! pupil's marks.

use chrono::{Datelike, Days, NaiveDate};
use serde::Serialize;
use utoipa::ToSchema;

use super::attendance::{measures, AttendanceMeasures, MeasureCounts, SessionMark};
use super::lessons::{self, Lesson, LessonMeasures};

/// The school register of the academic year split at the case start (R2 measures of each part).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RegisterBeforeAndDuring {
    /// From 1 September (or the first mark) to the day before support started.
    pub before_support: AttendanceMeasures,
    /// From the case start to today (or the exit's effective date).
    pub during_support: AttendanceMeasures,
}

/// One week (Monday to Sunday) of the school register.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RegisterWeek {
    /// The Monday the week starts on.
    pub week_starting: NaiveDate,
    pub possible_sessions: u32,
    /// Sessions present (`/`, `\`, `L`) and at approved educational activity (R2.1).
    pub attended_sessions: u32,
    /// Percentage of possible sessions attended, one decimal (R2.1); 0 when none was possible.
    pub attendance_rate: f64,
    /// Whether support had started by the end of this week.
    pub during_support: bool,
}

/// Splits the marks at `start` and measures each part (R2.1; flags need
/// `min_possible_sessions_for_flags` possible sessions, R2.2).
pub fn before_and_during(
    marks: &[SessionMark],
    start: NaiveDate,
    min_possible_sessions_for_flags: u32,
) -> RegisterBeforeAndDuring {
    let (before, during): (Vec<SessionMark>, Vec<SessionMark>) =
        marks.iter().partition(|m| m.date < start);
    RegisterBeforeAndDuring {
        before_support: measures(&before, min_possible_sessions_for_flags),
        during_support: measures(&during, min_possible_sessions_for_flags),
    }
}

/// The Monday of `date`'s week.
pub fn week_of(date: NaiveDate) -> NaiveDate {
    date - Days::new(u64::from(date.weekday().num_days_from_monday()))
}

/// The register week by week, oldest first, each week with marks once; `start` marks the weeks of
/// support (a week counts as during support when support started on or before its Sunday).
pub fn weekly(marks: &[SessionMark], start: NaiveDate) -> Vec<RegisterWeek> {
    let mut weeks: Vec<(NaiveDate, MeasureCounts)> = Vec::new();
    let mut sorted: Vec<&SessionMark> = marks.iter().collect();
    sorted.sort_by_key(|m| m.slot());
    for mark in sorted {
        let monday = week_of(mark.date);
        match weeks.last_mut() {
            Some((week, counts)) if *week == monday => counts.add(mark.code),
            _ => {
                let mut counts = MeasureCounts::new();
                counts.add(mark.code);
                weeks.push((monday, counts));
            }
        }
    }
    weeks
        .into_iter()
        .map(|(monday, counts)| {
            let m = counts.to_measures(0);
            RegisterWeek {
                week_starting: monday,
                possible_sessions: m.possible_sessions,
                attended_sessions: m.present + m.approved_educational_activity,
                attendance_rate: m.attendance_rate,
                during_support: start <= monday + Days::new(6),
            }
        })
        .collect()
}

/// One week (Monday to Sunday) of ESMA lessons, with its R14.4 measures.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LessonWeek {
    /// The Monday the week starts on.
    pub week_starting: NaiveDate,
    #[serde(flatten)]
    pub measures: LessonMeasures,
}

/// The case's lessons week by week, oldest first (R14.4 measures of each week's lessons).
pub fn lesson_weeks(all: &[Lesson]) -> Vec<LessonWeek> {
    let mut weeks: Vec<(NaiveDate, Vec<&Lesson>)> = Vec::new();
    for lesson in lessons::in_order(all) {
        let monday = week_of(lesson.date);
        match weeks.last_mut() {
            Some((week, of_week)) if *week == monday => of_week.push(lesson),
            _ => weeks.push((monday, vec![lesson])),
        }
    }
    weeks
        .into_iter()
        .map(|(monday, of_week)| LessonWeek {
            week_starting: monday,
            measures: lessons::measures(of_week),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::codes::{AttendanceCode, Session};

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn day(date: &str, am: AttendanceCode, pm: AttendanceCode) -> [SessionMark; 2] {
        [
            SessionMark::new(d(date), Session::Am, am),
            SessionMark::new(d(date), Session::Pm, pm),
        ]
    }

    #[test]
    fn the_register_is_split_at_the_case_start() {
        use AttendanceCode::*;
        let marks: Vec<SessionMark> = [
            day("2026-11-19", PresentAm, PresentPm),
            day("2026-11-20", I, I),
            day("2026-11-23", C2, C2),
            day("2026-11-24", PresentAm, C2),
        ]
        .concat();
        let split = before_and_during(&marks, d("2026-11-23"), 0);
        assert_eq!(split.before_support.possible_sessions, 4);
        assert_eq!(split.before_support.present, 2);
        assert_eq!(split.before_support.attendance_rate, 50.0);
        assert_eq!(split.during_support.possible_sessions, 4);
        assert_eq!(split.during_support.present, 1);
        assert_eq!(split.during_support.attendance_rate, 25.0);
    }

    #[test]
    fn weeks_start_on_monday_and_know_when_support_began() {
        use AttendanceCode::*;
        let marks: Vec<SessionMark> = [
            day("2026-11-24", PresentAm, C2),
            day("2026-11-16", I, I),
            day("2026-11-20", PresentAm, PresentPm),
            day("2026-11-23", C2, C2),
        ]
        .concat();
        let weeks = weekly(&marks, d("2026-11-24"));
        assert_eq!(weeks.len(), 2);
        assert_eq!(weeks[0].week_starting, d("2026-11-16"));
        assert_eq!(
            (weeks[0].possible_sessions, weeks[0].attended_sessions),
            (4, 2)
        );
        assert_eq!(weeks[0].attendance_rate, 50.0);
        assert!(!weeks[0].during_support);
        assert_eq!(weeks[1].week_starting, d("2026-11-23"));
        assert_eq!(weeks[1].attendance_rate, 25.0);
        assert!(weeks[1].during_support, "support began on the Tuesday");
        assert_eq!(week_of(d("2026-11-29")), d("2026-11-23"));
    }

    #[test]
    fn lessons_are_measured_week_by_week() {
        use crate::domain::case::CaseId;
        use crate::domain::lessons::{LessonAttendance, LessonMode, Subject};
        let lesson = |date: &str, time: &str, attendance, engagement| Lesson {
            case_id: CaseId::from(1),
            date: d(date),
            start_time: time.to_string(),
            subject: Subject::Maths,
            mode: LessonMode::OnlineOneToOne,
            planned_minutes: 60,
            attendance,
            minutes_late: None,
            engagement,
            teacher: None,
            note: None,
        };
        use LessonAttendance::*;
        let weeks = lesson_weeks(&[
            lesson("2026-12-08", "10:00", AbsentUnauthorised, None),
            lesson("2026-12-01", "10:00", Attended, Some(4)),
            lesson("2026-12-02", "10:00", Attended, Some(2)),
            lesson("2026-12-07", "10:00", Attended, Some(3)),
            lesson("2026-12-09", "10:00", CancelledByEsma, None),
        ]);
        assert_eq!(weeks.len(), 2);
        assert_eq!(weeks[0].week_starting, d("2026-11-30"));
        assert_eq!(weeks[0].measures.attendance_rate, 100.0);
        assert_eq!(weeks[0].measures.mean_engagement, Some(3.0));
        assert_eq!(weeks[1].week_starting, d("2026-12-07"));
        assert_eq!(
            (weeks[1].measures.planned, weeks[1].measures.attended),
            (2, 1)
        );
        assert_eq!(weeks[1].measures.attendance_rate, 50.0);
    }
}
