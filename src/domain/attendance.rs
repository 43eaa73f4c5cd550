//! Attendance facts from a pupil's register marks: the DfE measures (RULES.md R2), illness counting
//! (R4) and unexplained absence (R5).
//!
//! Pure domain code: no I/O. Every function takes the marks of one pupil at one school as a slice
//! in any order and reads it as a register: one mark per date and session, in date then session
//! order (`Am` before `Pm`). Should the slice hold two marks for the same session, the one later in
//! the slice wins, as a re-pushed mark replaces the stored one (API.md "Registers": upsert on
//! upn, date, session).

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::calendar::{AcademicYear, SchoolCalendar};
use super::codes::{AttendanceCode, CodeCategory, Session};

/// One recorded session of one pupil at one school.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionMark {
    pub date: NaiveDate,
    pub session: Session,
    pub code: AttendanceCode,
}

impl SessionMark {
    pub const fn new(date: NaiveDate, session: Session, code: AttendanceCode) -> SessionMark {
        SessionMark {
            date,
            session,
            code,
        }
    }

    /// Where the mark sits in the register: date, then morning before afternoon.
    pub fn slot(&self) -> (NaiveDate, Session) {
        (self.date, self.session)
    }
}

/// The marks in register order with one mark per session, the later one in the slice winning.
pub(crate) fn in_register_order(marks: &[SessionMark]) -> Vec<SessionMark> {
    let mut sorted = marks.to_vec();
    // Stable, so marks for the same session keep the order they were given in.
    sorted.sort_by_key(SessionMark::slot);
    let mut register: Vec<SessionMark> = Vec::with_capacity(sorted.len());
    for mark in sorted {
        match register.last_mut() {
            Some(last) if last.slot() == mark.slot() => *last = mark,
            _ => register.push(mark),
        }
    }
    register
}

// ---------------------------------------------------------------------------------------------
// Policy
// ---------------------------------------------------------------------------------------------

/// The local thresholds of RULES.md R2.2, R4 and R5 (policy values; `Default` is Hertfordshire's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttendancePolicy {
    /// Codes whose sessions are illness sessions (R4.1).
    pub illness_codes: Vec<AttendanceCode>,
    /// Below this many possible sessions neither absence flag is raised (R2.2).
    pub min_possible_sessions_for_flags: u32,
    /// Cumulative illness days in an academic year that make a sickness return due (R4.4).
    pub sickness_return_days: f64,
    /// A mark still `N` with more than this many school days after it is overdue (R5.1).
    pub unexplained_after_school_days: u32,
}

impl Default for AttendancePolicy {
    fn default() -> Self {
        AttendancePolicy {
            illness_codes: vec![AttendanceCode::I],
            min_possible_sessions_for_flags: 20,
            sickness_return_days: 15.0,
            unexplained_after_school_days: 5,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// R2 measures
// ---------------------------------------------------------------------------------------------

/// The attendance measures of a set of sessions (RULES.md R2; API.md "Attendance").
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AttendanceMeasures {
    /// Sessions in the first four categories of the R1 table (R2.1).
    pub possible_sessions: u32,
    pub present: u32,
    pub approved_educational_activity: u32,
    pub authorised_absence: u32,
    pub unauthorised_absence: u32,
    /// Sessions that are not a possible attendance and those not collected (`Z`, `#`): the last
    /// two rows of the R1 table (R2.1).
    pub not_possible: u32,
    /// Percentage of possible sessions attended, rounded half up to one decimal; 0 when nothing
    /// is possible (R2.1).
    pub attendance_rate: f64,
    /// Percentage of possible sessions missed, rounded half up to one decimal; 0 when nothing is
    /// possible (R2.1).
    pub absence_rate: f64,
    /// Absence of at least 10% of possible sessions, unrounded (R2.2).
    pub persistent_absence: bool,
    /// Absence of at least 50% of possible sessions, unrounded (R2.2).
    pub severe_absence: bool,
    /// Sessions per register code, as written (`"I"`, `"/"`, `"\\"`); codes not used are absent.
    pub by_code: BTreeMap<String, u32>,
}

/// Running counts of register codes, from which the measures follow. Kept per code so a mark
/// corrected weeks later can be maintained incrementally: `remove` the old code, `add` the new one
/// (RULES.md R1.4: a change replaces the code of a session, it does not add a session).
///
/// Category counts are derived from the per-code counts, so the two can never disagree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeasureCounts {
    by_code: BTreeMap<AttendanceCode, u32>,
}

impl MeasureCounts {
    pub fn new() -> MeasureCounts {
        MeasureCounts::default()
    }

    /// Counts one more session with `code`.
    pub fn add(&mut self, code: AttendanceCode) {
        let count = self.by_code.entry(code).or_insert(0);
        *count = count.saturating_add(1);
    }

    /// Counts `n` more sessions with `code` (reading stored counts back).
    pub fn add_many(&mut self, code: AttendanceCode, n: u32) {
        if n > 0 {
            let count = self.by_code.entry(code).or_insert(0);
            *count = count.saturating_add(n);
        }
    }

    /// Takes back one session with `code`. Returns false, changing nothing, when no session with
    /// that code is counted: a stray removal must not make other counts wrong.
    pub fn remove(&mut self, code: AttendanceCode) -> bool {
        match self.by_code.get_mut(&code) {
            Some(count) if *count > 1 => {
                *count -= 1;
                true
            }
            Some(_) => {
                // Drop the entry so `by_code` matches a recount, which never lists a zero.
                self.by_code.remove(&code);
                true
            }
            None => false,
        }
    }

    /// Sessions counted with `code`.
    pub fn code_count(&self, code: AttendanceCode) -> u32 {
        self.by_code.get(&code).copied().unwrap_or(0)
    }

    /// Sessions counted in `category`.
    pub fn count(&self, category: CodeCategory) -> u32 {
        self.by_code
            .iter()
            .filter(|(code, _)| code.category() == category)
            .fold(0u32, |total, (_, count)| total.saturating_add(*count))
    }

    /// Possible sessions and absences (R2.1) without building the measures.
    pub fn possible_and_absence(&self) -> (u32, u32) {
        self.by_code
            .iter()
            .fold((0u32, 0u32), |(possible, absence), (code, n)| {
                let category = code.category();
                let is_absence = matches!(
                    category,
                    CodeCategory::AuthorisedAbsence | CodeCategory::UnauthorisedAbsence
                );
                (
                    possible.saturating_add(if category.counts_as_possible() { *n } else { 0 }),
                    absence.saturating_add(if is_absence { *n } else { 0 }),
                )
            })
    }

    /// The R2.2 flags (persistent, severe), as [`MeasureCounts::to_measures`] sets them.
    pub fn absence_flags(&self, min_possible_sessions_for_flags: u32) -> (bool, bool) {
        let (possible, absence) = self.possible_and_absence();
        let applies = possible > 0 && possible >= min_possible_sessions_for_flags;
        let (absence, possible) = (u64::from(absence), u64::from(possible));
        (
            applies && absence * 10 >= possible,
            applies && absence * 2 >= possible,
        )
    }

    /// Every code counted, with its sessions, in code order.
    pub fn iter(&self) -> impl Iterator<Item = (AttendanceCode, u32)> + '_ {
        self.by_code.iter().map(|(code, count)| (*code, *count))
    }

    /// Sessions counted with any of `codes` (the policy's illness codes, R4.1).
    pub fn count_of(&self, codes: &[AttendanceCode]) -> u32 {
        codes.iter().fold(0u32, |total, code| {
            total.saturating_add(self.code_count(*code))
        })
    }

    /// Whether nothing is counted.
    pub fn is_empty(&self) -> bool {
        self.by_code.is_empty()
    }

    /// The measures of the sessions counted (RULES.md R2.1, R2.2).
    pub fn to_measures(&self, min_possible_sessions_for_flags: u32) -> AttendanceMeasures {
        let present = self.count(CodeCategory::Present);
        let approved_educational_activity = self.count(CodeCategory::ApprovedEducationalActivity);
        let authorised_absence = self.count(CodeCategory::AuthorisedAbsence);
        let unauthorised_absence = self.count(CodeCategory::UnauthorisedAbsence);
        let attendance = present.saturating_add(approved_educational_activity);
        let absence = authorised_absence.saturating_add(unauthorised_absence);
        let possible_sessions = attendance.saturating_add(absence);
        let not_possible = self
            .count(CodeCategory::NotPossible)
            .saturating_add(self.count(CodeCategory::NotCollected));

        // R2.2 compares the unrounded rate, in integers: 999 absences in 10,000 sessions show as
        // 10.0% but are not persistent absence. With nothing possible there is no absence rate
        // to flag, whatever the policy minimum.
        let flags_apply =
            possible_sessions > 0 && possible_sessions >= min_possible_sessions_for_flags;
        let absence_wide = u64::from(absence);
        let possible_wide = u64::from(possible_sessions);

        AttendanceMeasures {
            possible_sessions,
            present,
            approved_educational_activity,
            authorised_absence,
            unauthorised_absence,
            not_possible,
            attendance_rate: percentage_to_one_decimal(attendance, possible_sessions),
            absence_rate: percentage_to_one_decimal(absence, possible_sessions),
            persistent_absence: flags_apply && absence_wide * 10 >= possible_wide,
            severe_absence: flags_apply && absence_wide * 2 >= possible_wide,
            by_code: self
                .by_code
                .iter()
                .map(|(code, count)| (code.as_str().to_owned(), *count))
                .collect(),
        }
    }
}

impl Extend<AttendanceCode> for MeasureCounts {
    fn extend<T: IntoIterator<Item = AttendanceCode>>(&mut self, codes: T) {
        for code in codes {
            self.add(code);
        }
    }
}

impl FromIterator<AttendanceCode> for MeasureCounts {
    fn from_iter<T: IntoIterator<Item = AttendanceCode>>(codes: T) -> Self {
        let mut counts = MeasureCounts::new();
        counts.extend(codes);
        counts
    }
}

/// `part / whole` as a percentage rounded half up to one decimal, 0 when `whole` is 0 (R2.1).
/// Worked in integer tenths, so a half (6.25%) always rounds up to 6.3 with no floating-point
/// representation error deciding the last digit.
pub(crate) fn percentage_to_one_decimal(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    let (part, whole) = (u64::from(part), u64::from(whole));
    let tenths = (part * 2000 + whole) / (2 * whole);
    tenths as f64 / 10.0
}

/// The measures of a pupil's sessions (RULES.md R2). Pass the sessions of the range asked about:
/// the academic year to date unless a range is given (R2.2).
pub fn measures(marks: &[SessionMark], min_possible_sessions_for_flags: u32) -> AttendanceMeasures {
    in_register_order(marks)
        .into_iter()
        .map(|mark| mark.code)
        .collect::<MeasureCounts>()
        .to_measures(min_possible_sessions_for_flags)
}

// ---------------------------------------------------------------------------------------------
// R4 illness
// ---------------------------------------------------------------------------------------------

/// A run of consecutive illness sessions (RULES.md R4.3): from its first to its last illness
/// session, with the sessions not possible in between neither breaking nor counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IllnessRun {
    pub first: (NaiveDate, Session),
    pub last: (NaiveDate, Session),
    /// Illness sessions in the run.
    pub sessions: u32,
}

impl IllnessRun {
    /// Illness days: half days count (R4.1).
    pub fn days(&self) -> f64 {
        sessions_to_days(self.sessions)
    }
}

pub(crate) fn sessions_to_days(sessions: u32) -> f64 {
    f64::from(sessions) / 2.0
}

/// The runs of illness sessions in a pupil's register, oldest first (RULES.md R4.3).
///
/// An illness session extends the run; a session that is not a possible attendance (R1 last two
/// rows: `#`, `Y1`, `D`, ...) neither extends nor breaks it; any other code ends it. Days with no
/// marks are skipped, and runs are not cut at the academic-year boundary. A code in
/// `illness_codes` is an illness session whatever its category (the policy names it, R4.1).
pub fn illness_runs(marks: &[SessionMark], illness_codes: &[AttendanceCode]) -> Vec<IllnessRun> {
    let (runs, _) = runs_and_open(&in_register_order(marks), illness_codes);
    runs
}

/// Every run in order, and whether the last one is still open at the pupil's latest possible
/// session (the current streak of R4.3).
fn runs_and_open(
    register: &[SessionMark],
    illness_codes: &[AttendanceCode],
) -> (Vec<IllnessRun>, bool) {
    let mut runs: Vec<IllnessRun> = Vec::new();
    let mut open = false;
    for mark in register {
        if illness_codes.contains(&mark.code) {
            match runs.last_mut() {
                Some(run) if open => {
                    run.last = mark.slot();
                    run.sessions = run.sessions.saturating_add(1);
                }
                _ => runs.push(IllnessRun {
                    first: mark.slot(),
                    last: mark.slot(),
                    sessions: 1,
                }),
            }
            open = true;
        } else if mark.code.category().counts_as_possible() {
            open = false;
        }
    }
    (runs, open)
}

/// The illness facts of a pupil (RULES.md R4; API.md "Attendance" `illness`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IllnessFacts {
    /// Illness days in the academic year asked about (R4.2).
    pub days_cumulative: f64,
    /// The run containing the pupil's latest possible session; 0 when that session is not
    /// illness (R4.3).
    pub current_streak_days: f64,
    /// The longest run in all the marks given, across academic years (R4.3).
    pub longest_streak_days: f64,
    /// First and last illness session of the longest run; the earliest one when runs tie.
    pub longest_streak: Option<(NaiveDate, Session, NaiveDate, Session)>,
    /// School days in the academic year asked about, between the pupil's first and last marked
    /// day of that year, with no mark at all: the days runs were carried over (R4.3).
    pub days_without_marks: u32,
}

/// The illness facts of a pupil for academic `year` (RULES.md R4).
///
/// `days_cumulative` and `days_without_marks` look at `year` only; the runs use every mark given,
/// so pass the end of the previous year too when a July illness may carry into September (R4.3).
pub fn illness(
    marks: &[SessionMark],
    illness_codes: &[AttendanceCode],
    year: AcademicYear,
    calendar: &SchoolCalendar,
) -> IllnessFacts {
    let register = in_register_order(marks);
    let (runs, open) = runs_and_open(&register, illness_codes);

    let illness_sessions_in_year = register
        .iter()
        .filter(|mark| year.contains(mark.date) && illness_codes.contains(&mark.code))
        .count();

    // Ties keep the earliest run: the first to reach that length.
    let longest = runs
        .iter()
        .fold(None::<&IllnessRun>, |best, run| match best {
            Some(best) if best.sessions >= run.sessions => Some(best),
            _ => Some(run),
        });
    let current_streak_days = match runs.last() {
        Some(run) if open => run.days(),
        _ => 0.0,
    };

    IllnessFacts {
        days_cumulative: sessions_to_days(
            u32::try_from(illness_sessions_in_year).unwrap_or(u32::MAX),
        ),
        current_streak_days,
        longest_streak_days: longest.map_or(0.0, IllnessRun::days),
        longest_streak: longest.map(|run| (run.first.0, run.first.1, run.last.0, run.last.1)),
        days_without_marks: school_days_without_marks(&register, year, calendar),
    }
}

/// School days of `year` from the first to the last marked day of that year with no mark (R4.3).
fn school_days_without_marks(
    register: &[SessionMark],
    year: AcademicYear,
    calendar: &SchoolCalendar,
) -> u32 {
    let marked: HashSet<NaiveDate> = register
        .iter()
        .map(|mark| mark.date)
        .filter(|date| year.contains(*date))
        .collect();
    let (Some(first), Some(last)) = (marked.iter().min(), marked.iter().max()) else {
        return 0;
    };
    // `school_days_between` counts strictly after `first`, so add `first` itself.
    let school_days = calendar
        .school_days_between(*first, *last)
        .saturating_add(u32::from(calendar.is_school_day(*first)));
    // A mark on a day the calendar does not call a school day fills no gap.
    let marked_school_days = marked
        .iter()
        .filter(|date| calendar.is_school_day(**date))
        .count();
    school_days.saturating_sub(u32::try_from(marked_school_days).unwrap_or(u32::MAX))
}

/// RULES.md R4.4: the illness session that made the pupil's cumulative illness days in `year` first
/// reach `threshold_days` (policy `sickness_return_days`, 15), to use as the alert's `since`; `None`
/// while the threshold is not reached. A threshold of 0 or less is reached by the first illness
/// session (nothing is due for a pupil never ill); an infinite one, or one not a number, never is.
pub fn sickness_return_reached(
    marks: &[SessionMark],
    illness_codes: &[AttendanceCode],
    year: AcademicYear,
    threshold_days: f64,
) -> Option<(NaiveDate, Session)> {
    // Compare in half days so 15 days is exactly 30 sessions.
    let threshold_sessions = threshold_days * 2.0;
    let mut sessions: u32 = 0;
    in_register_order(marks)
        .into_iter()
        .filter(|mark| year.contains(mark.date) && illness_codes.contains(&mark.code))
        .find(|_| {
            sessions = sessions.saturating_add(1);
            f64::from(sessions) >= threshold_sessions
        })
        .map(|mark| mark.slot())
}

// ---------------------------------------------------------------------------------------------
// R16.1 unauthorised absence notice
// ---------------------------------------------------------------------------------------------

/// RULES.md R16.1: unauthorised sessions (`G`, `N`, `O`, `U`) that make the 10-day notice due,
/// cumulative in the academic year or in a row: 10 school days.
pub const UNAUTHORISED_NOTICE_SESSIONS: u32 = 20;

/// RULES.md R16.1, counted from the marks (what the maintained tally must agree with): the
/// session in `year` at which the pupil's unauthorised sessions in the year first reach
/// [`UNAUTHORISED_NOTICE_SESSIONS`], or a run of that many unauthorised sessions in a row does
/// (counted as R4.3 counts runs: a session that is not a possible attendance neither breaks nor
/// extends it, and runs are not cut at the year boundary).
pub fn unauthorised_notice_reached(
    marks: &[SessionMark],
    year: AcademicYear,
) -> Option<(NaiveDate, Session)> {
    let (mut cumulative, mut run) = (0u32, 0u32);
    for mark in in_register_order(marks) {
        if mark.date > year.last_day() {
            break;
        }
        let category = mark.code.category();
        if category == CodeCategory::UnauthorisedAbsence {
            run = run.saturating_add(1);
            if year.contains(mark.date) {
                cumulative = cumulative.saturating_add(1);
                if cumulative >= UNAUTHORISED_NOTICE_SESSIONS || run >= UNAUTHORISED_NOTICE_SESSIONS
                {
                    return Some(mark.slot());
                }
            }
        } else if category.counts_as_possible() {
            run = 0;
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// R5 unexplained absence
// ---------------------------------------------------------------------------------------------

/// RULES.md R5.1: the sessions still marked `N` with more than `after_school_days` (policy, 5)
/// school days after their date, counted as R3.3 does (strictly after the date, up to and
/// including `today`). Each comes with that count, oldest first. Marks dated after `today` have
/// no school days after them yet and are never overdue.
pub fn overdue_unexplained(
    marks: &[SessionMark],
    today: NaiveDate,
    calendar: &SchoolCalendar,
    after_school_days: u32,
) -> Vec<(NaiveDate, Session, u32)> {
    in_register_order(marks)
        .into_iter()
        .filter(|mark| mark.code == AttendanceCode::N)
        .filter_map(|mark| {
            let school_days_after = calendar.school_days_between(mark.date, today);
            (school_days_after > after_school_days).then_some((
                mark.date,
                mark.session,
                school_days_after,
            ))
        })
        .collect()
}

/// The alert's `due_by` for an `N` on `date` (RULES.md R5.1; seed 003 Appendix 3 "no more than 5
/// school days after the session"): the `after_school_days`th school day after `date` (R3.3), the
/// last school day on which the school can still replace the `N` without it being overdue.
///
/// `due_by` is a deadline, inclusive: the school has all of that day. The mark is reported by
/// [`overdue_unexplained`] from the next school day, [`unexplained_overdue_from`]; days between the
/// two that are not school days (a weekend, a half term) do not make it overdue.
pub fn unexplained_due_by(
    date: NaiveDate,
    calendar: &SchoolCalendar,
    after_school_days: u32,
) -> NaiveDate {
    calendar.school_day_after(date, after_school_days)
}

/// The first day on which an `N` on `date` is overdue (RULES.md R5.1): the school day after
/// [`unexplained_due_by`], the (`after_school_days` + 1)th school day after `date`. For every
/// `today`, the mark is in [`overdue_unexplained`] exactly when `today >= unexplained_overdue_from`.
pub fn unexplained_overdue_from(
    date: NaiveDate,
    calendar: &SchoolCalendar,
    after_school_days: u32,
) -> NaiveDate {
    calendar.school_day_after(date, after_school_days.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::hertfordshire_2026_27;
    use chrono::{Datelike, Days, Weekday};

    fn d(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).expect("valid test date")
    }

    fn code(text: &str) -> AttendanceCode {
        AttendanceCode::parse(text).expect("valid test code")
    }

    fn mark(date: NaiveDate, session: Session, text: &str) -> SessionMark {
        SessionMark::new(date, session, code(text))
    }

    /// Both sessions of a day.
    fn day(date: NaiveDate, am: &str, pm: &str) -> [SessionMark; 2] {
        [mark(date, Session::Am, am), mark(date, Session::Pm, pm)]
    }

    /// Consecutive sessions on the weekdays from `start`, AM then PM, one code each. `.` is
    /// present, written `/` in the morning and `\` in the afternoon as a register would.
    fn register_from(start: NaiveDate, codes: &[&str]) -> Vec<SessionMark> {
        let mut marks = Vec::new();
        let mut date = start;
        let mut session = Session::Am;
        for text in codes {
            while matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
                date = date.succ_opt().expect("test dates are ordinary");
            }
            let text = match (*text, session) {
                (".", Session::Am) => "/",
                (".", Session::Pm) => "\\",
                (other, _) => other,
            };
            marks.push(mark(date, session, text));
            session = match session {
                Session::Am => Session::Pm,
                Session::Pm => {
                    date = date.succ_opt().expect("test dates are ordinary");
                    Session::Am
                }
            };
        }
        marks
    }

    fn repeat(text: &'static str, times: usize) -> Vec<&'static str> {
        vec![text; times]
    }

    fn herts() -> SchoolCalendar {
        SchoolCalendar::new(vec![hertfordshire_2026_27()])
    }

    fn illness_i(marks: &[SessionMark], year: i32, calendar: &SchoolCalendar) -> IllnessFacts {
        illness(
            marks,
            &[AttendanceCode::I],
            AcademicYear::new(year),
            calendar,
        )
    }

    const AM: Session = Session::Am;
    const PM: Session = Session::Pm;

    // --- R2 measures -------------------------------------------------------------------------

    #[test]
    fn r2_3_example_forty_possible_sessions_with_four_i_one_o_and_one_closure() {
        // RULES.md R2.3: 40 possible sessions with 4 `I`, 1 `O`, 1 `#` (not counted).
        let mut codes = repeat(".", 35);
        codes.extend(["I", "I", "I", "I", "O", "#"]);
        let marks = register_from(d(2026, 9, 7), &codes);
        assert_eq!(marks.len(), 41);

        let m = measures(&marks, 20);
        assert_eq!(m.possible_sessions, 40);
        assert_eq!(m.present, 35);
        assert_eq!(m.approved_educational_activity, 0);
        assert_eq!(m.authorised_absence, 4);
        assert_eq!(m.unauthorised_absence, 1);
        assert_eq!(m.authorised_absence + m.unauthorised_absence, 5);
        assert_eq!(m.not_possible, 1);
        assert_eq!(m.absence_rate, 12.5);
        assert_eq!(m.attendance_rate, 87.5);
        assert!(m.persistent_absence);
        assert!(!m.severe_absence);
        let by_code: Vec<(&str, u32)> = m.by_code.iter().map(|(c, n)| (c.as_str(), *n)).collect();
        assert_eq!(
            by_code,
            [("#", 1), ("/", 18), ("I", 4), ("O", 1), ("\\", 17)]
        );
    }

    #[test]
    fn measures_serialise_with_the_api_field_names() {
        let marks = register_from(d(2026, 9, 7), &[".", "I"]);
        let json = serde_json::to_value(measures(&marks, 20)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "possible_sessions": 2, "present": 1, "approved_educational_activity": 0,
                "authorised_absence": 1, "unauthorised_absence": 0, "not_possible": 0,
                "attendance_rate": 50.0, "absence_rate": 50.0,
                "persistent_absence": false, "severe_absence": false,
                "by_code": { "/": 1, "I": 1 }
            })
        );
    }

    #[test]
    fn exactly_ten_percent_is_persistent_absence() {
        let mut codes = repeat(".", 18);
        codes.extend(["N", "I"]);
        let m = measures(&register_from(d(2026, 9, 7), &codes), 20);
        assert_eq!(m.possible_sessions, 20);
        assert_eq!(m.absence_rate, 10.0);
        assert!(m.persistent_absence);
        assert!(!m.severe_absence);
    }

    #[test]
    fn just_under_ten_percent_shows_as_ten_but_is_not_persistent() {
        // R2.2 uses the unrounded rate: 9.99% is reported as 10.0% yet is under the threshold.
        let mut counts: MeasureCounts =
            std::iter::repeat_n(AttendanceCode::PresentAm, 9001).collect();
        counts.extend(std::iter::repeat_n(AttendanceCode::I, 999));
        let m = counts.to_measures(20);
        assert_eq!(m.possible_sessions, 10_000);
        assert_eq!(m.absence_rate, 10.0);
        assert_eq!(m.attendance_rate, 90.0);
        assert!(!m.persistent_absence);

        counts.remove(AttendanceCode::PresentAm);
        counts.add(AttendanceCode::O);
        assert!(counts.to_measures(20).persistent_absence);
    }

    #[test]
    fn exactly_fifty_percent_is_severe_absence_and_just_under_is_not() {
        let mut codes = repeat(".", 10);
        codes.extend(repeat("I", 10));
        let m = measures(&register_from(d(2026, 9, 7), &codes), 20);
        assert_eq!(m.absence_rate, 50.0);
        assert!(m.persistent_absence);
        assert!(m.severe_absence);

        let mut counts: MeasureCounts = std::iter::repeat_n(AttendanceCode::L, 5001).collect();
        counts.extend(std::iter::repeat_n(AttendanceCode::G, 4999));
        let m = counts.to_measures(20);
        assert_eq!(m.absence_rate, 50.0);
        assert!(m.persistent_absence);
        assert!(!m.severe_absence);
    }

    #[test]
    fn no_flags_below_the_minimum_possible_sessions() {
        // 19 possible sessions all absent, plus closures that do not count towards the minimum.
        let mut codes = repeat("I", 19);
        codes.extend(repeat("#", 6));
        let marks = register_from(d(2026, 9, 7), &codes);
        let m = measures(&marks, 20);
        assert_eq!(m.possible_sessions, 19);
        assert_eq!(m.absence_rate, 100.0);
        assert!(!m.persistent_absence);
        assert!(!m.severe_absence);

        let mut twenty = marks.clone();
        twenty.push(mark(d(2026, 12, 1), AM, "I"));
        let m = measures(&twenty, 20);
        assert!(m.persistent_absence && m.severe_absence);

        // The minimum is policy: with 19 it applies to the first register.
        assert!(measures(&marks, 19).severe_absence);
    }

    #[test]
    fn nothing_possible_gives_zero_rates_and_no_flags_even_with_no_minimum() {
        let marks = register_from(d(2026, 9, 7), &["#", "#", "Z", "Y1"]);
        let m = measures(&marks, 0);
        assert_eq!(m.possible_sessions, 0);
        assert_eq!(m.not_possible, 4);
        assert_eq!(m.attendance_rate, 0.0);
        assert_eq!(m.absence_rate, 0.0);
        assert!(!m.persistent_absence && !m.severe_absence);
    }

    #[test]
    fn an_empty_register_has_zero_measures() {
        let m = measures(&[], 20);
        assert_eq!(
            m,
            AttendanceMeasures {
                possible_sessions: 0,
                present: 0,
                approved_educational_activity: 0,
                authorised_absence: 0,
                unauthorised_absence: 0,
                not_possible: 0,
                attendance_rate: 0.0,
                absence_rate: 0.0,
                persistent_absence: false,
                severe_absence: false,
                by_code: BTreeMap::new(),
            }
        );
        assert!(MeasureCounts::new().is_empty());
    }

    #[test]
    fn not_possible_counts_both_of_the_last_two_rows_of_the_code_table() {
        let marks = register_from(
            d(2026, 9, 7),
            &[".", ".", "D", "X", "Q", "Y4", "Y7", "Z", "#", "K"],
        );
        let m = measures(&marks, 20);
        assert_eq!(m.not_possible, 7);
        assert_eq!(m.possible_sessions, 3);
    }

    #[test]
    fn approved_educational_activity_is_attendance() {
        // K is how a pupil taught by the LA's service is marked (RULES.md R12): it is attendance.
        let marks = register_from(d(2026, 9, 7), &["K", "K", "V", "B", ".", "C2", "U", "M"]);
        let m = measures(&marks, 0);
        assert_eq!(m.approved_educational_activity, 4);
        assert_eq!(m.present, 1);
        assert_eq!(m.authorised_absence, 2);
        assert_eq!(m.unauthorised_absence, 1);
        assert_eq!(m.attendance_rate, 62.5);
        assert_eq!(m.absence_rate, 37.5);
    }

    #[test]
    fn rates_round_half_up_to_one_decimal() {
        let rates = |absent: usize, possible: usize| {
            let mut codes = repeat("I", absent);
            codes.extend(repeat(".", possible - absent));
            let m = measures(&register_from(d(2026, 9, 7), &codes), 20);
            (m.absence_rate, m.attendance_rate)
        };
        assert_eq!(rates(1, 16), (6.3, 93.8)); // 6.25 and 93.75
        assert_eq!(rates(1, 3), (33.3, 66.7));
        assert_eq!(rates(2, 3), (66.7, 33.3));
        assert_eq!(rates(1, 7), (14.3, 85.7));
        assert_eq!(rates(0, 5), (0.0, 100.0));
    }

    #[test]
    fn a_session_given_twice_is_counted_once_with_the_later_code() {
        let marks = [
            mark(d(2026, 9, 7), AM, "N"),
            mark(d(2026, 9, 7), PM, "\\"),
            mark(d(2026, 9, 7), AM, "I"),
        ];
        let m = measures(&marks, 0);
        assert_eq!(m.possible_sessions, 2);
        assert_eq!(m.unauthorised_absence, 0);
        assert_eq!(m.authorised_absence, 1);
        assert_eq!(m.by_code.get("N"), None);
    }

    #[test]
    fn corrections_kept_incrementally_match_a_recount() {
        let start = d(2026, 9, 7);
        let mut marks = register_from(start, &[".", "N", "N", ".", "I", "#", "N", "L"]);
        let mut counts: MeasureCounts = marks.iter().map(|m| m.code).collect();
        assert_eq!(counts.to_measures(0), measures(&marks, 0));

        // Weeks later the school explains the N marks: illness, then a late-found holiday, and
        // finds the closure was really a normal day.
        let corrections = [(1, "I"), (2, "G"), (6, "O"), (5, "/"), (2, "C")];
        for (index, new_code) in corrections {
            let new_code = code(new_code);
            assert!(counts.remove(marks[index].code));
            counts.add(new_code);
            marks[index].code = new_code;
            assert_eq!(counts.to_measures(0), measures(&marks, 0), "after {index}");
            assert_eq!(counts.to_measures(20), measures(&marks, 20));
        }
        assert_eq!(counts.code_count(AttendanceCode::N), 0);
        assert_eq!(counts.code_count(AttendanceCode::I), 2);
        assert_eq!(counts.count(CodeCategory::AuthorisedAbsence), 3);
        // Removing a code's last session drops it, as a recount would not list it.
        assert!(!counts.to_measures(0).by_code.contains_key("N"));
        assert!(!counts.to_measures(0).by_code.contains_key("#"));
    }

    #[test]
    fn sessions_taken_out_and_put_back_match_a_recount() {
        // Sessions leaving the counted range and coming back, in a different order.
        let marks = register_from(d(2026, 9, 7), &["I", "I", ".", ".", "O", "Z"]);
        let mut counts: MeasureCounts = marks.iter().map(|m| m.code).collect();
        for gone in [&marks[0], &marks[4], &marks[5]] {
            assert!(counts.remove(gone.code));
        }
        let kept = [marks[1], marks[2], marks[3]];
        assert_eq!(counts.to_measures(0), measures(&kept, 0));
        for added in [marks[4], marks[0]] {
            counts.add(added.code);
        }
        assert_eq!(
            counts.to_measures(0),
            measures(&[marks[1], marks[2], marks[3], marks[4], marks[0]], 0)
        );
    }

    #[test]
    fn removing_a_code_never_counted_changes_nothing() {
        let mut counts: MeasureCounts = [AttendanceCode::I, AttendanceCode::PresentAm]
            .into_iter()
            .collect();
        let before = counts.clone();
        assert!(!counts.remove(AttendanceCode::O));
        assert_eq!(counts, before);
        assert!(counts.remove(AttendanceCode::I));
        assert!(!counts.remove(AttendanceCode::I));
        assert_eq!(counts.to_measures(0).possible_sessions, 1);
        assert!(counts.remove(AttendanceCode::PresentAm));
        assert!(counts.is_empty());
        assert_eq!(counts, MeasureCounts::new());
    }

    // --- R4 illness --------------------------------------------------------------------------

    #[test]
    fn r4_3_example_closure_sessions_neither_break_nor_extend_a_run() {
        // RULES.md R4.3: Mon AM I, Mon PM I, Tue AM #, Tue PM #, Wed AM I, Wed PM / -> 1.5 days.
        let mut marks = Vec::new();
        marks.extend(day(d(2026, 11, 16), "I", "I"));
        marks.extend(day(d(2026, 11, 17), "#", "#"));
        marks.extend(day(d(2026, 11, 18), "I", "/"));
        let facts = illness_i(&marks, 2026, &herts());
        assert_eq!(facts.longest_streak_days, 1.5);
        assert_eq!(
            facts.longest_streak,
            Some((d(2026, 11, 16), AM, d(2026, 11, 18), AM))
        );
        assert_eq!(facts.days_cumulative, 1.5);
        // The latest possible session is Wednesday afternoon, present.
        assert_eq!(facts.current_streak_days, 0.0);
        assert_eq!(facts.days_without_marks, 0);
        assert_eq!(
            illness_runs(&marks, &[AttendanceCode::I]),
            [IllnessRun {
                first: (d(2026, 11, 16), AM),
                last: (d(2026, 11, 18), AM),
                sessions: 3,
            }]
        );
    }

    #[test]
    fn marks_given_in_any_order_give_the_same_facts() {
        let mut marks = Vec::new();
        marks.extend(day(d(2026, 11, 16), "I", "I"));
        marks.extend(day(d(2026, 11, 17), "#", "#"));
        marks.extend(day(d(2026, 11, 18), "I", "/"));
        let sorted = illness_i(&marks, 2026, &herts());
        marks.reverse();
        assert_eq!(illness_i(&marks, 2026, &herts()), sorted);
        marks.swap(0, 3);
        marks.swap(1, 4);
        assert_eq!(illness_i(&marks, 2026, &herts()), sorted);
        assert_eq!(sorted.longest_streak_days, 1.5);
    }

    #[test]
    fn a_run_carries_over_a_weekend() {
        // Thursday to Tuesday, no marks on Saturday and Sunday (not school days).
        let mut marks = register_from(d(2026, 11, 12), &repeat("I", 8));
        marks.extend(day(d(2026, 11, 18), "/", "\\"));
        let facts = illness_i(&marks, 2026, &herts());
        assert_eq!(facts.longest_streak_days, 4.0);
        assert_eq!(
            facts.longest_streak,
            Some((d(2026, 11, 12), AM, d(2026, 11, 17), PM))
        );
        assert_eq!(facts.days_without_marks, 0);
    }

    #[test]
    fn a_run_carries_over_a_half_term() {
        // Autumn half term 2026 is 26 to 30 October: Friday before it, Monday after it.
        let mut marks = Vec::new();
        marks.extend(day(d(2026, 10, 22), "/", "I"));
        marks.extend(day(d(2026, 10, 23), "I", "I"));
        marks.extend(day(d(2026, 11, 2), "I", "I"));
        marks.extend(day(d(2026, 11, 3), "I", "\\"));
        let facts = illness_i(&marks, 2026, &herts());
        assert_eq!(facts.longest_streak_days, 3.0);
        assert_eq!(
            facts.longest_streak,
            Some((d(2026, 10, 22), PM, d(2026, 11, 3), AM))
        );
        assert_eq!(facts.days_without_marks, 0);

        // With no calendar the half-term week is five weekdays without marks: the run still
        // carries over them (the register is the evidence) and the gap is reported.
        let facts = illness_i(&marks, 2026, &SchoolCalendar::empty());
        assert_eq!(facts.longest_streak_days, 3.0);
        assert_eq!(facts.days_without_marks, 5);
    }

    #[test]
    fn a_run_carries_over_closures_and_other_sessions_that_are_not_possible() {
        let marks = register_from(
            d(2026, 11, 9),
            &[
                "I", "I", "#", "#", "I", "Y1", "Y1", "I", "Z", "D", "I", "Y4", "I", "X", "Q", "I",
            ],
        );
        let facts = illness_i(&marks, 2026, &herts());
        assert_eq!(facts.longest_streak_days, 3.5);
        assert_eq!(facts.current_streak_days, 3.5);
        assert_eq!(facts.days_cumulative, 3.5);
    }

    #[test]
    fn a_school_day_with_no_marks_is_skipped_and_counted() {
        let mut marks = Vec::new();
        marks.extend(day(d(2026, 11, 16), "I", "I"));
        // Tuesday 17th: nothing recorded.
        marks.extend(day(d(2026, 11, 18), "I", "I"));
        // Thursday 19th: only the morning recorded; a day with a mark is not a gap.
        marks.push(mark(d(2026, 11, 19), AM, "I"));
        let facts = illness_i(&marks, 2026, &herts());
        assert_eq!(facts.longest_streak_days, 2.5);
        assert_eq!(facts.days_without_marks, 1);
    }

    #[test]
    fn days_without_marks_counts_school_days_only_inside_the_span_of_that_years_marks() {
        let calendar = herts();
        let marks = [
            // 2025-26: not the year asked about.
            mark(d(2026, 7, 1), AM, "/"),
            mark(d(2026, 11, 2), AM, "/"),
            mark(d(2026, 11, 13), PM, "\\"),
            // Saturday mark: fills no school day.
            mark(d(2026, 11, 7), AM, "#"),
        ];
        // 3 to 12 November: 8 school days with no mark.
        assert_eq!(illness_i(&marks, 2026, &calendar).days_without_marks, 8);
        // Year 2025-26 has a single marked day.
        assert_eq!(illness_i(&marks, 2025, &calendar).days_without_marks, 0);
        assert_eq!(illness_i(&marks, 2027, &calendar).days_without_marks, 0);
    }

    #[test]
    fn any_possible_code_other_than_illness_breaks_a_run() {
        for breaker in ["/", "L", "M", "N", "O", "C", "K", "U"] {
            let marks = register_from(d(2026, 11, 16), &["I", "I", "I", breaker, "I", "I"]);
            let facts = illness_i(&marks, 2026, &herts());
            assert_eq!(facts.longest_streak_days, 1.5, "{breaker}");
            assert_eq!(facts.current_streak_days, 1.0, "{breaker}");
            assert_eq!(facts.days_cumulative, 2.5, "{breaker}");
        }
    }

    #[test]
    fn half_days_of_illness_count_as_half_days() {
        let marks = register_from(d(2026, 11, 16), &["I", ".", ".", "I", "I", "."]);
        let facts = illness_i(&marks, 2026, &herts());
        assert_eq!(facts.days_cumulative, 1.5);
        assert_eq!(facts.longest_streak_days, 1.0);
        assert_eq!(
            facts.longest_streak,
            Some((d(2026, 11, 17), PM, d(2026, 11, 18), AM))
        );
        assert_eq!(facts.current_streak_days, 0.0);

        let one_morning = register_from(d(2026, 11, 16), &["I"]);
        let facts = illness_i(&one_morning, 2026, &herts());
        assert_eq!(facts.days_cumulative, 0.5);
        assert_eq!(facts.current_streak_days, 0.5);
    }

    #[test]
    fn the_current_streak_is_the_run_holding_the_latest_possible_session() {
        // Ill on the last possible session, then the school closes: still the current streak.
        let marks = register_from(d(2026, 12, 14), &["/", "I", "I", "I", "#", "#", "#", "#"]);
        let facts = illness_i(&marks, 2026, &herts());
        assert_eq!(facts.current_streak_days, 1.5);

        // An earlier, longer run is the longest; the current one is shorter.
        let marks = register_from(
            d(2026, 11, 16),
            &["I", "I", "I", "I", "I", "/", "\\", "I", "I"],
        );
        let facts = illness_i(&marks, 2026, &herts());
        assert_eq!(facts.longest_streak_days, 2.5);
        assert_eq!(facts.current_streak_days, 1.0);

        // Back in school: no current streak, the longest stays.
        let mut back = marks.clone();
        back.extend(day(d(2026, 11, 23), "/", "\\"));
        let facts = illness_i(&back, 2026, &herts());
        assert_eq!(facts.current_streak_days, 0.0);
        assert_eq!(facts.longest_streak_days, 2.5);
    }

    #[test]
    fn runs_of_equal_length_report_the_earliest() {
        let marks = register_from(d(2026, 11, 16), &["I", "I", "/", "I", "I", "/"]);
        let facts = illness_i(&marks, 2026, &herts());
        assert_eq!(facts.longest_streak_days, 1.0);
        assert_eq!(
            facts.longest_streak,
            Some((d(2026, 11, 16), AM, d(2026, 11, 16), PM))
        );
        assert_eq!(illness_runs(&marks, &[AttendanceCode::I]).len(), 2);
    }

    #[test]
    fn a_run_crosses_the_summer_holiday_while_the_cumulative_count_resets() {
        // Ill for the last three days of 2026-27 (summer term ends Wednesday 21 July 2027) and
        // the first three of 2027-28 (no calendar loaded: Wednesday 1 September is a school day).
        let mut marks = register_from(d(2027, 7, 12), &repeat(".", 10));
        marks.extend(register_from(d(2027, 7, 19), &repeat("I", 6)));
        marks.extend(register_from(d(2027, 9, 1), &repeat("I", 6)));
        let calendar = herts();

        let september = illness_i(&marks, 2027, &calendar);
        assert_eq!(september.days_cumulative, 3.0);
        assert_eq!(september.longest_streak_days, 6.0);
        assert_eq!(
            september.longest_streak,
            Some((d(2027, 7, 19), AM, d(2027, 9, 3), PM))
        );
        assert_eq!(september.current_streak_days, 6.0);
        assert_eq!(september.days_without_marks, 0);

        let july = illness_i(&marks, 2026, &calendar);
        assert_eq!(july.days_cumulative, 3.0);
        assert_eq!(july.longest_streak_days, 6.0);
        assert_eq!(july.days_without_marks, 0);

        // Back on Monday 6 September: the streak is over, the facts of the run remain.
        marks.extend(day(d(2027, 9, 6), "/", "\\"));
        let facts = illness_i(&marks, 2027, &calendar);
        assert_eq!(facts.current_streak_days, 0.0);
        assert_eq!(facts.longest_streak_days, 6.0);
    }

    #[test]
    fn an_empty_register_has_no_illness() {
        let facts = illness_i(&[], 2026, &herts());
        assert_eq!(
            facts,
            IllnessFacts {
                days_cumulative: 0.0,
                current_streak_days: 0.0,
                longest_streak_days: 0.0,
                longest_streak: None,
                days_without_marks: 0,
            }
        );
        assert_eq!(
            sickness_return_reached(&[], &[AttendanceCode::I], AcademicYear::new(2026), 15.0),
            None
        );
        assert!(illness_runs(&[], &[AttendanceCode::I]).is_empty());
    }

    #[test]
    fn illness_codes_are_the_policys() {
        let marks = register_from(d(2026, 11, 16), &["I", "I", "M", "M", "I"]);
        let no_codes = illness(&marks, &[], AcademicYear::new(2026), &herts());
        assert_eq!(no_codes.days_cumulative, 0.0);
        assert_eq!(no_codes.longest_streak, None);
        let with_m = illness(
            &marks,
            &[AttendanceCode::I, AttendanceCode::M],
            AcademicYear::new(2026),
            &herts(),
        );
        assert_eq!(with_m.longest_streak_days, 2.5);
    }

    #[test]
    fn illness_facts_serialise_for_the_api() {
        let marks = register_from(d(2026, 11, 16), &["I", "I", "I"]);
        let json = serde_json::to_value(illness_i(&marks, 2026, &herts())).unwrap();
        assert_eq!(json["days_cumulative"], 1.5);
        assert_eq!(json["current_streak_days"], 1.5);
        assert_eq!(json["longest_streak_days"], 1.5);
        assert_eq!(
            json["longest_streak"],
            serde_json::json!(["2026-11-16", "AM", "2026-11-17", "AM"])
        );
    }

    // --- R4.4 sickness return ----------------------------------------------------------------

    #[test]
    fn fifteen_days_are_reached_on_the_afternoon_of_the_thirtieth_illness_session() {
        let year = AcademicYear::new(2026);
        let i = [AttendanceCode::I];
        // Scattered illness: the first afternoon of term and one afternoon each school week
        // until half term and after it, then a block, with presence between.
        let mut marks = Vec::new();
        marks.extend(day(d(2026, 9, 3), "/", "I"));
        let mondays = (0..9)
            .map(|week| d(2026, 9, 7) + Days::new(7 * week))
            .filter(|monday| *monday != d(2026, 10, 26)); // half term
        for monday in mondays {
            marks.extend(day(monday, "/", "I"));
            marks.extend(day(monday + Days::new(1), "/", "\\"));
        }
        // 9 sessions so far (4.5 days); 10 whole days more from Monday 9 November make 29.
        let block = register_from(d(2026, 11, 9), &repeat("I", 20));
        marks.extend(&block);
        // Friday 27 November: present in the morning, ill in the afternoon: the 30th session.
        marks.extend(day(d(2026, 11, 27), "/", "I"));
        // And illness after it does not move the date.
        marks.extend(day(d(2026, 11, 30), "I", "I"));
        // Marks of the previous year do not count towards this year.
        marks.extend(register_from(d(2026, 7, 6), &repeat("I", 10)));
        marks.reverse();

        assert_eq!(
            sickness_return_reached(&marks, &i, year, 15.0),
            Some((d(2026, 11, 27), PM))
        );
        assert_eq!(illness(&marks, &i, year, &herts()).days_cumulative, 16.0);

        // Without the afternoon of the 27th the threshold is reached on Monday morning instead.
        let without: Vec<_> = marks
            .iter()
            .copied()
            .filter(|m| m.slot() != (d(2026, 11, 27), PM))
            .collect();
        assert_eq!(
            sickness_return_reached(&without, &i, year, 15.0),
            Some((d(2026, 11, 30), AM))
        );
        // Up to the 27th morning only 14.5 days: not reached.
        let before: Vec<_> = marks
            .iter()
            .copied()
            .filter(|m| m.date < d(2026, 11, 27))
            .collect();
        assert_eq!(illness(&before, &i, year, &herts()).days_cumulative, 14.5);
        assert_eq!(sickness_return_reached(&before, &i, year, 15.0), None);
        // The previous year had only 5 days.
        assert_eq!(
            sickness_return_reached(&marks, &i, year.previous(), 5.0),
            Some((d(2026, 7, 10), PM))
        );
    }

    #[test]
    fn odd_sickness_thresholds_do_not_panic() {
        let year = AcademicYear::new(2026);
        let i = [AttendanceCode::I];
        let marks = register_from(d(2026, 11, 16), &["/", "I", "I"]);
        assert_eq!(
            sickness_return_reached(&marks, &i, year, 0.0),
            Some((d(2026, 11, 16), PM))
        );
        assert_eq!(
            sickness_return_reached(&marks, &i, year, -3.0),
            Some((d(2026, 11, 16), PM))
        );
        assert_eq!(
            sickness_return_reached(&marks, &i, year, 0.75),
            Some((d(2026, 11, 17), AM))
        );
        assert_eq!(sickness_return_reached(&marks, &i, year, f64::NAN), None);
        assert_eq!(
            sickness_return_reached(&marks, &i, year, f64::INFINITY),
            None
        );
        let none_ill = register_from(d(2026, 11, 16), &["/", "\\"]);
        assert_eq!(sickness_return_reached(&none_ill, &i, year, 0.0), None);
    }

    // --- R5 unexplained absence --------------------------------------------------------------

    #[test]
    fn r5_1_example_no_calendar_today_monday_23_november_2026() {
        // RULES.md R5.1: an N of Friday 2026-11-13 is overdue (6 school days after it), one of
        // Monday 2026-11-16 is not (5).
        let marks = [
            mark(d(2026, 11, 13), AM, "N"),
            mark(d(2026, 11, 16), AM, "N"),
        ];
        let overdue = overdue_unexplained(&marks, d(2026, 11, 23), &SchoolCalendar::empty(), 5);
        assert_eq!(overdue, [(d(2026, 11, 13), AM, 6)]);
    }

    #[test]
    fn five_school_days_after_across_half_term_is_not_overdue_and_six_is() {
        // Wednesday 21 October 2026; half term 26 to 30 October. School days after it: Thu 22,
        // Fri 23, Mon 2 Nov, Tue 3, Wed 4 (5th), Thu 5 (6th).
        let calendar = herts();
        let marks = [mark(d(2026, 10, 21), PM, "N")];
        assert!(overdue_unexplained(&marks, d(2026, 10, 30), &calendar, 5).is_empty());
        assert!(overdue_unexplained(&marks, d(2026, 11, 4), &calendar, 5).is_empty());
        assert_eq!(
            overdue_unexplained(&marks, d(2026, 11, 5), &calendar, 5),
            [(d(2026, 10, 21), PM, 6)]
        );
        assert_eq!(
            unexplained_due_by(d(2026, 10, 21), &calendar, 5),
            d(2026, 11, 4)
        );
        assert_eq!(
            unexplained_overdue_from(d(2026, 10, 21), &calendar, 5),
            d(2026, 11, 5)
        );
        // Without the calendar the half-term week counts and it is overdue on Thursday 29 October.
        let none = SchoolCalendar::empty();
        assert!(overdue_unexplained(&marks, d(2026, 10, 28), &none, 5).is_empty());
        assert_eq!(
            overdue_unexplained(&marks, d(2026, 10, 29), &none, 5),
            [(d(2026, 10, 21), PM, 6)]
        );
    }

    #[test]
    fn an_n_due_on_friday_is_not_overdue_over_the_weekend() {
        // N of Friday 13 November: due by Friday 20 (5th school day), overdue on Monday 23.
        let none = SchoolCalendar::empty();
        let marks = [mark(d(2026, 11, 13), PM, "N")];
        assert_eq!(
            unexplained_due_by(d(2026, 11, 13), &none, 5),
            d(2026, 11, 20)
        );
        assert_eq!(
            unexplained_overdue_from(d(2026, 11, 13), &none, 5),
            d(2026, 11, 23)
        );
        for today in [d(2026, 11, 20), d(2026, 11, 21), d(2026, 11, 22)] {
            assert!(
                overdue_unexplained(&marks, today, &none, 5).is_empty(),
                "{today}"
            );
        }
        assert_eq!(
            overdue_unexplained(&marks, d(2026, 11, 23), &none, 5).len(),
            1
        );
    }

    #[test]
    fn overdue_exactly_from_the_overdue_from_date() {
        let calendar = herts();
        for date in [
            d(2026, 10, 16),
            d(2026, 10, 21),
            d(2026, 12, 14),
            d(2026, 11, 13),
        ] {
            let marks = [mark(date, AM, "N")];
            let from = unexplained_overdue_from(date, &calendar, 5);
            let due_by = unexplained_due_by(date, &calendar, 5);
            assert!(due_by < from);
            assert!(calendar.is_school_day(due_by) && calendar.is_school_day(from));
            let mut today = date;
            while today < d(2027, 2, 1) {
                let overdue = !overdue_unexplained(&marks, today, &calendar, 5).is_empty();
                assert_eq!(overdue, today >= from, "N of {date}, today {today}");
                today = today.succ_opt().unwrap();
            }
        }
        // Across the Christmas holiday (spring term starts Tuesday 5 January): N of Monday
        // 14 December is due by Tuesday 5 January and overdue on Wednesday 6 January.
        assert_eq!(
            unexplained_due_by(d(2026, 12, 14), &calendar, 5),
            d(2027, 1, 5)
        );
        assert_eq!(
            unexplained_overdue_from(d(2026, 12, 14), &calendar, 5),
            d(2027, 1, 6)
        );
    }

    #[test]
    fn only_marks_still_n_are_reported_oldest_first() {
        let none = SchoolCalendar::empty();
        let marks = [
            mark(d(2026, 11, 3), PM, "N"),
            mark(d(2026, 11, 2), AM, "O"),
            mark(d(2026, 11, 3), AM, "N"),
            mark(d(2026, 11, 2), PM, "I"),
            // Replaced later in the push: explained.
            mark(d(2026, 11, 4), AM, "N"),
            mark(d(2026, 11, 4), AM, "M"),
            // Dated after today: nothing after it yet.
            mark(d(2026, 12, 1), AM, "N"),
        ];
        assert_eq!(
            overdue_unexplained(&marks, d(2026, 11, 23), &none, 5),
            [(d(2026, 11, 3), AM, 14), (d(2026, 11, 3), PM, 14)]
        );
        assert!(overdue_unexplained(&[], d(2026, 11, 23), &none, 5).is_empty());
    }

    #[test]
    fn odd_unexplained_limits_do_not_panic() {
        let none = SchoolCalendar::empty();
        let marks = [mark(d(2026, 11, 13), AM, "N")];
        assert!(overdue_unexplained(&marks, d(2026, 11, 23), &none, u32::MAX).is_empty());
        assert_eq!(
            overdue_unexplained(&marks, d(2026, 11, 16), &none, 0),
            [(d(2026, 11, 13), AM, 1)]
        );
        assert_eq!(
            unexplained_due_by(d(2026, 11, 13), &none, 0),
            d(2026, 11, 13)
        );
        assert_eq!(
            unexplained_overdue_from(d(2026, 11, 13), &none, u32::MAX),
            NaiveDate::MAX
        );
    }

    // --- Policy ------------------------------------------------------------------------------

    #[test]
    fn the_default_policy_is_hertfordshires() {
        let policy = AttendancePolicy::default();
        assert_eq!(policy.illness_codes, [AttendanceCode::I]);
        assert_eq!(policy.min_possible_sessions_for_flags, 20);
        assert_eq!(policy.sickness_return_days, 15.0);
        assert_eq!(policy.unexplained_after_school_days, 5);
    }
}
