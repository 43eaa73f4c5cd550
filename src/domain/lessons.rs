//! ESMA lessons (RULES.md R14.3-R14.5): the row check of a lesson push, the lesson measures of a
//! case, and the facts of `lesson_non_engagement`. Pure: `service::lessons` loads the cases and
//! the stored lessons, and writes what these decide.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::attendance::percentage_to_one_decimal;
use super::calendar::SchoolCalendar;
use super::case::{Case, CaseId};
use super::decision::Venue;
use super::push::Refusals;
use super::register::{parse_date, RowProblem, RowReason};
use super::text::{self, clip, TextKind, ECHO_CHARS};

/// The subject of a lesson (R14.3; seed 004 "teaching in the core subjects").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    English,
    Maths,
    Science,
    Other,
}

/// How a lesson was delivered (R14.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LessonMode {
    OnlineGroup,
    OnlineOneToOne,
    BaseGroup,
    BaseOneToOne,
    Home,
    Av1,
}

/// Whether the pupil came to a lesson (R14.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LessonAttendance {
    Attended,
    /// Came late (with `minutes_late`).
    Late,
    /// Medically exempt (seed 004 "recorded as authorised").
    AbsentAuthorised,
    /// Refused to engage (seed 004 "recorded as unauthorised absence").
    AbsentUnauthorised,
    /// Not held, ESMA's doing: not a planned lesson in the measures (R14.4).
    CancelledByEsma,
}

macro_rules! words {
    ($ty:ty { $($variant:ident = $word:literal),* $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(<$ty>::$variant => $word),*
                }
            }

            pub fn parse(text: &str) -> Option<$ty> {
                match text {
                    $($word => Some(<$ty>::$variant),)*
                    _ => None,
                }
            }

            fn words() -> String {
                Self::ALL.iter().map(|w| w.as_str()).collect::<Vec<_>>().join(", ")
            }
        }
    };
}

words!(Subject { English = "english", Maths = "maths", Science = "science", Other = "other" });
words!(LessonMode {
    OnlineGroup = "online_group",
    OnlineOneToOne = "online_one_to_one",
    BaseGroup = "base_group",
    BaseOneToOne = "base_one_to_one",
    Home = "home",
    Av1 = "av1",
});
words!(LessonAttendance {
    Attended = "attended",
    Late = "late",
    AbsentAuthorised = "absent_authorised",
    AbsentUnauthorised = "absent_unauthorised",
    CancelledByEsma = "cancelled_by_esma",
});

impl LessonAttendance {
    /// R14.4: every lesson but a cancelled one was planned.
    pub fn is_planned(self) -> bool {
        self != LessonAttendance::CancelledByEsma
    }

    /// R14.4: attended = `attended` + `late`.
    pub fn is_attended(self) -> bool {
        matches!(self, LessonAttendance::Attended | LessonAttendance::Late)
    }
}

/// A whole number as received: absent, a number, or (CSV) text that is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberIn {
    Missing,
    Value(i64),
    Invalid(String),
}

impl NumberIn {
    /// A CSV field: empty is absent.
    pub fn from_text(text: &str) -> NumberIn {
        match text {
            "" => NumberIn::Missing,
            t => t
                .parse()
                .map(NumberIn::Value)
                .unwrap_or_else(|_| NumberIn::Invalid(clip(t, 20))),
        }
    }

    pub fn from_option(value: Option<i64>) -> NumberIn {
        value.map_or(NumberIn::Missing, NumberIn::Value)
    }
}

/// A lesson as received (JSON or CSV), before any check.
#[derive(Debug, Clone)]
pub struct LessonIn {
    pub case_id: NumberIn,
    pub date: String,
    pub start_time: String,
    pub subject: String,
    pub mode: String,
    pub planned_minutes: NumberIn,
    pub attendance: String,
    pub minutes_late: NumberIn,
    pub engagement: NumberIn,
    pub teacher: Option<String>,
    pub note: Option<String>,
}

/// A lesson that passed R14.3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lesson {
    pub case_id: CaseId,
    pub date: NaiveDate,
    /// `HH:MM`, 24-hour: sorts as the time does.
    pub start_time: String,
    pub subject: Subject,
    pub mode: LessonMode,
    pub planned_minutes: i32,
    pub attendance: LessonAttendance,
    pub minutes_late: Option<i32>,
    pub engagement: Option<i32>,
    pub teacher: Option<String>,
    pub note: Option<String>,
}

/// What identifies a lesson (R14.3): a re-push with this key updates or leaves it.
pub type LessonKey = (CaseId, NaiveDate, String, Subject);

impl Lesson {
    pub fn key(&self) -> LessonKey {
        (
            self.case_id,
            self.date,
            self.start_time.clone(),
            self.subject,
        )
    }
}

/// What R14.3 needs to know of a lesson's case.
#[derive(Debug, Clone, Copy)]
pub struct LessonCase {
    pub start_date: NaiveDate,
    /// The exit's effective date, once the case is closed: the last day a lesson may be on.
    pub exit_effective_date: Option<NaiveDate>,
    /// Whether teaching at home was accepted for the case, which needed a completed risk
    /// assessment (R10.2: a decision with a `home` venue is refused without one).
    pub home_risk_assessed: bool,
}

impl From<&Case> for LessonCase {
    fn from(case: &Case) -> Self {
        LessonCase {
            start_date: case.start_date,
            exit_effective_date: case.exit_effective_date,
            home_risk_assessed: case.provision.iter().any(|p| p.venue == Venue::Home),
        }
    }
}

/// The lessons of a push that passed, and how many rows repeated one of them exactly.
#[derive(Debug, Default)]
pub struct CheckedLessons {
    pub lessons: Vec<Lesson>,
    pub identical_repeats: usize,
}

/// The largest planned lesson, in minutes (R14.3: 1-240).
pub const MAX_PLANNED_MINUTES: i64 = 240;

fn problem(field: &'static str, reason: RowReason, message: String) -> RowProblem {
    RowProblem::new(field, reason, message)
}

fn enum_word<T>(
    field: &'static str,
    text: &str,
    parse: fn(&str) -> Option<T>,
    words: String,
    reason: RowReason,
) -> Result<T, RowProblem> {
    parse(text).ok_or_else(|| {
        problem(
            field,
            reason,
            format!(
                "{field} should be one of {words}, not '{}'",
                clip(text, ECHO_CHARS)
            ),
        )
    })
}

/// `HH:MM`, 24-hour, two digits each.
fn start_time(text: &str) -> Result<String, RowProblem> {
    let b = text.as_bytes();
    let ok = b.len() == 5
        && b[2] == b':'
        && [0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit())
        && (b[0] - b'0') * 10 + (b[1] - b'0') < 24
        && (b[3] - b'0') * 10 + (b[4] - b'0') < 60;
    if ok {
        Ok(text.to_string())
    } else {
        Err(problem(
            "start_time",
            RowReason::InvalidStartTime,
            format!(
                "start_time should be a 24-hour time like 10:30, not '{}'",
                clip(text, ECHO_CHARS)
            ),
        ))
    }
}

fn whole(field: &'static str, n: &NumberIn, reason: RowReason) -> Result<Option<i64>, RowProblem> {
    match n {
        NumberIn::Missing => Ok(None),
        NumberIn::Value(v) => Ok(Some(*v)),
        NumberIn::Invalid(t) => Err(problem(
            field,
            reason,
            format!("{field} should be a whole number, not '{t}'"),
        )),
    }
}

/// R14.3, one row. The first problem found refuses it.
pub fn check_lesson(
    row: &LessonIn,
    case_of: &impl Fn(CaseId) -> Option<LessonCase>,
    calendar: &SchoolCalendar,
    today: NaiveDate,
) -> Result<Lesson, RowProblem> {
    for (field, value) in [
        ("date", Some(row.date.as_str())),
        ("start_time", Some(row.start_time.as_str())),
        ("subject", Some(row.subject.as_str())),
        ("mode", Some(row.mode.as_str())),
        ("attendance", Some(row.attendance.as_str())),
        ("teacher", row.teacher.as_deref()),
        ("note", row.note.as_deref()),
    ] {
        let kind = if field == "note" {
            TextKind::FreeText
        } else {
            TextKind::of_field(field)
        };
        if let Some(Err(message)) = value.map(|v| text::check(v, kind)) {
            return Err(problem(
                field,
                RowReason::InvalidText,
                format!("{field} {message}"),
            ));
        }
    }
    let unknown_case = |what: String| problem("case_id", RowReason::UnknownCase, what);
    let case_id = match whole("case_id", &row.case_id, RowReason::UnknownCase)? {
        None => return Err(unknown_case("case_id is required".to_string())),
        Some(id) => CaseId::from(id),
    };
    let case = case_of(case_id).ok_or_else(|| {
        unknown_case(format!("no case {case_id}; lessons are for accepted cases"))
    })?;
    let date = parse_date("date", &row.date)?;
    if date > today {
        return Err(problem(
            "date",
            RowReason::DateInFuture,
            format!("{date} is after today ({today}): push lessons once delivered"),
        ));
    }
    if !calendar.is_school_day(date) {
        return Err(problem(
            "date",
            RowReason::NotASchoolDay,
            format!("{date} is not a school day (R3)"),
        ));
    }
    if date < case.start_date {
        return Err(problem(
            "date",
            RowReason::BeforeCaseStart,
            format!(
                "{date} is before case {case_id} started ({})",
                case.start_date
            ),
        ));
    }
    if let Some(exit) = case.exit_effective_date.filter(|exit| date > *exit) {
        return Err(problem(
            "date",
            RowReason::AfterCaseExit,
            format!("{date} is after case {case_id} was exited ({exit})"),
        ));
    }
    let start_time = start_time(&row.start_time)?;
    let subject = enum_word(
        "subject",
        &row.subject,
        Subject::parse,
        Subject::words(),
        RowReason::InvalidSubject,
    )?;
    let mode = enum_word(
        "mode",
        &row.mode,
        LessonMode::parse,
        LessonMode::words(),
        RowReason::InvalidMode,
    )?;
    let planned = whole(
        "planned_minutes",
        &row.planned_minutes,
        RowReason::InvalidPlannedMinutes,
    )?;
    let planned_minutes = match planned {
        Some(m) if (1..=MAX_PLANNED_MINUTES).contains(&m) => m as i32,
        other => {
            return Err(problem(
                "planned_minutes",
                RowReason::InvalidPlannedMinutes,
                match other {
                    None => "planned_minutes is required (1 to 240)".to_string(),
                    Some(m) => format!("planned_minutes should be 1 to 240, not {m}"),
                },
            ))
        }
    };
    let attendance = enum_word(
        "attendance",
        &row.attendance,
        LessonAttendance::parse,
        LessonAttendance::words(),
        RowReason::InvalidAttendance,
    )?;
    let engagement = whole("engagement", &row.engagement, RowReason::InvalidEngagement)?;
    let engagement_problem = |m: String| problem("engagement", RowReason::InvalidEngagement, m);
    let engagement = match (attendance.is_attended(), engagement) {
        (true, Some(e)) if (1..=4).contains(&e) => Some(e as i32),
        (true, Some(e)) => {
            return Err(engagement_problem(format!(
                "engagement should be 1 (not engaged) to 4 (fully engaged), not {e}"
            )))
        }
        (true, None) => {
            return Err(engagement_problem(format!(
                "engagement (1-4) is required for an {} lesson",
                attendance.as_str()
            )))
        }
        (false, Some(_)) => {
            return Err(engagement_problem(format!(
                "engagement is only for a lesson attended or late, not {}",
                attendance.as_str()
            )))
        }
        (false, None) => None,
    };
    let late = whole(
        "minutes_late",
        &row.minutes_late,
        RowReason::InvalidMinutesLate,
    )?;
    let late_problem = |m: String| problem("minutes_late", RowReason::InvalidMinutesLate, m);
    let minutes_late = match (attendance == LessonAttendance::Late, late) {
        (true, Some(m)) if m >= 1 && m < i64::from(planned_minutes) => Some(m as i32),
        (true, Some(m)) => {
            return Err(late_problem(format!(
                "minutes_late should be 1 to {} (less than the lesson), not {m}",
                planned_minutes - 1
            )))
        }
        (true, None) => return Err(late_problem("a late lesson needs minutes_late".to_string())),
        (false, Some(_)) => {
            return Err(late_problem(format!(
                "minutes_late is only for a late lesson, not {}",
                attendance.as_str()
            )))
        }
        (false, None) => None,
    };
    if mode == LessonMode::Home && !case.home_risk_assessed {
        return Err(problem(
            "mode",
            RowReason::NoRiskAssessment,
            format!(
                "case {case_id} was not accepted for teaching at home, so it has no home-teaching risk assessment (R10.2)"
            ),
        ));
    }
    Ok(Lesson {
        case_id,
        date,
        start_time,
        subject,
        mode,
        planned_minutes,
        attendance,
        minutes_late,
        engagement,
        teacher: row.teacher.clone().filter(|t| !t.trim().is_empty()),
        note: row.note.clone().filter(|t| !t.trim().is_empty()),
    })
}

/// R14.3 over a push: each row checked, refused rows put in `refusals`; a lesson sent twice in
/// one push differently is refused the second time (`duplicate_in_push`), identically counted.
pub fn check_lessons(
    rows: &[LessonIn],
    case_of: impl Fn(CaseId) -> Option<LessonCase>,
    calendar: &SchoolCalendar,
    today: NaiveDate,
    refusals: &mut impl Refusals,
) -> CheckedLessons {
    let mut checked = CheckedLessons::default();
    let mut seen: HashMap<LessonKey, usize> = HashMap::new();
    for (index, row) in rows.iter().enumerate() {
        match check_lesson(row, &case_of, calendar, today) {
            Err(p) => refusals.refuse_row(index, p),
            Ok(lesson) => match seen.get(&lesson.key()) {
                Some(&at) if checked.lessons[at] == lesson => checked.identical_repeats += 1,
                Some(_) => refusals.refuse_row(
                    index,
                    problem(
                        "start_time",
                        RowReason::DuplicateInPush,
                        "this lesson (case, date, start time, subject) is in the push already, differently"
                            .to_string(),
                    ),
                ),
                None => {
                    seen.insert(lesson.key(), checked.lessons.len());
                    checked.lessons.push(lesson);
                }
            },
        }
    }
    checked
}

/// The lesson measures of some lessons (R14.4).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct LessonMeasures {
    /// All but `cancelled_by_esma`.
    pub planned: u32,
    /// `attended` + `late`.
    pub attended: u32,
    /// attended / planned x 100, one decimal (as R2); 0 with nothing planned.
    #[schema(example = 87.5)]
    pub attendance_rate: f64,
    /// Minutes of the attended lessons (less minutes late) / 60, one decimal.
    #[schema(example = 12.5)]
    pub hours_delivered: f64,
    /// Mean engagement (1-4) of the attended lessons, one decimal; absent with none attended.
    #[schema(example = 3.2)]
    pub mean_engagement: Option<f64>,
}

/// R14.4 for one subject or overall: every lesson, and the last 10 planned.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct LessonMeasuresWithRecent {
    pub all: LessonMeasures,
    pub last_10: LessonMeasures,
}

/// The lesson measures shown on a case (R14.4).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CaseLessonMeasures {
    pub overall: LessonMeasuresWithRecent,
    /// Keyed by subject, for the subjects with lessons.
    pub by_subject: BTreeMap<Subject, LessonMeasuresWithRecent>,
}

fn one_decimal(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// R14.4 over `lessons`, in any order.
pub fn measures<'a>(lessons: impl IntoIterator<Item = &'a Lesson>) -> LessonMeasures {
    let (mut planned, mut attended, mut minutes, mut engagement) = (0u32, 0u32, 0i64, 0i64);
    for lesson in lessons {
        if lesson.attendance.is_planned() {
            planned += 1;
        }
        if lesson.attendance.is_attended() {
            attended += 1;
            minutes += i64::from(lesson.planned_minutes - lesson.minutes_late.unwrap_or(0));
            engagement += i64::from(lesson.engagement.unwrap_or(0));
        }
    }
    LessonMeasures {
        planned,
        attended,
        attendance_rate: percentage_to_one_decimal(attended, planned),
        hours_delivered: one_decimal(minutes as f64 / 60.0),
        mean_engagement: (attended > 0)
            .then(|| one_decimal(engagement as f64 / f64::from(attended))),
    }
}

/// The lessons in the order R14.5 counts them: by date and start time.
pub fn in_order(lessons: &[Lesson]) -> Vec<&Lesson> {
    let mut ordered: Vec<&Lesson> = lessons.iter().collect();
    ordered.sort_by(|a, b| (a.date, &a.start_time).cmp(&(b.date, &b.start_time)));
    ordered
}

/// The last `n` planned lessons, in order.
fn last_planned<'a>(ordered: &[&'a Lesson], n: usize) -> Vec<&'a Lesson> {
    let planned: Vec<&Lesson> = ordered
        .iter()
        .copied()
        .filter(|l| l.attendance.is_planned())
        .collect();
    planned[planned.len().saturating_sub(n)..].to_vec()
}

fn with_recent(ordered: &[&Lesson]) -> LessonMeasuresWithRecent {
    LessonMeasuresWithRecent {
        all: measures(ordered.iter().copied()),
        last_10: measures(last_planned(ordered, 10)),
    }
}

/// R14.4: a case's lesson measures, overall and per subject.
pub fn case_measures(lessons: &[Lesson]) -> CaseLessonMeasures {
    let ordered = in_order(lessons);
    let mut by_subject: BTreeMap<Subject, Vec<&Lesson>> = BTreeMap::new();
    for lesson in &ordered {
        by_subject.entry(lesson.subject).or_default().push(lesson);
    }
    CaseLessonMeasures {
        overall: with_recent(&ordered),
        by_subject: by_subject
            .into_iter()
            .map(|(subject, lessons)| (subject, with_recent(&lessons)))
            .collect(),
    }
}

/// R14.5: since when a case's lessons show non-engagement, or None. 3 consecutive planned
/// lessons `absent_unauthorised` at the end (since the first of that run), or, once 10 planned
/// lessons exist, an attendance rate below `alert_percent` over the last 10 (since the first of
/// those 10); the earlier when both hold.
pub fn lesson_non_engagement(lessons: &[Lesson], alert_percent: f64) -> Option<NaiveDate> {
    let ordered = in_order(lessons);
    let planned: Vec<&Lesson> = last_planned(&ordered, usize::MAX);
    let run = planned
        .iter()
        .rev()
        .take_while(|l| l.attendance == LessonAttendance::AbsentUnauthorised)
        .count();
    let by_run = (run >= 3).then(|| planned[planned.len() - run].date);
    let by_rate = (planned.len() >= 10)
        .then(|| &planned[planned.len() - 10..])
        .filter(|window| measures(window.iter().copied()).attendance_rate < alert_percent)
        .map(|window| window[0].date);
    match (by_run, by_rate) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Which lessons of a case `GET /cases/{id}/lessons` lists.
#[derive(Debug, Clone, Default)]
pub struct LessonFilter {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub subject: Option<Subject>,
    /// The id of the last lesson of the previous page.
    pub after_id: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn row() -> LessonIn {
        LessonIn {
            case_id: NumberIn::Value(1),
            date: "2026-11-20".into(),
            start_time: "10:30".into(),
            subject: "maths".into(),
            mode: "online_one_to_one".into(),
            planned_minutes: NumberIn::Value(60),
            attendance: "attended".into(),
            minutes_late: NumberIn::Missing,
            engagement: NumberIn::Value(3),
            teacher: None,
            note: None,
        }
    }

    fn case(_: CaseId) -> Option<LessonCase> {
        Some(LessonCase {
            start_date: d("2026-11-02"),
            exit_effective_date: Some(d("2026-11-27")),
            home_risk_assessed: false,
        })
    }

    fn check(row: &LessonIn) -> Result<Lesson, RowReason> {
        check_lesson(row, &case, &SchoolCalendar::empty(), d("2026-12-04")).map_err(|p| p.reason)
    }

    #[test]
    fn r14_3_a_valid_lesson_passes() {
        let lesson = check(&row()).unwrap();
        assert_eq!(lesson.subject, Subject::Maths);
        assert_eq!(lesson.engagement, Some(3));
    }

    #[test]
    fn r14_3_planned_minutes_1_to_240() {
        for (m, ok) in [(0, false), (1, true), (240, true), (241, false)] {
            let r = LessonIn {
                planned_minutes: NumberIn::Value(m),
                ..row()
            };
            assert_eq!(check(&r).is_ok(), ok, "{m}");
        }
    }

    #[test]
    fn r14_3_engagement_required_for_attended_and_refused_otherwise() {
        let r = LessonIn {
            engagement: NumberIn::Missing,
            ..row()
        };
        assert_eq!(check(&r).unwrap_err(), RowReason::InvalidEngagement);
        let r = LessonIn {
            attendance: "absent_unauthorised".into(),
            ..row()
        };
        assert_eq!(check(&r).unwrap_err(), RowReason::InvalidEngagement);
        let r = LessonIn {
            attendance: "absent_unauthorised".into(),
            engagement: NumberIn::Missing,
            ..row()
        };
        assert!(check(&r).is_ok());
        let r = LessonIn {
            engagement: NumberIn::Value(5),
            ..row()
        };
        assert_eq!(check(&r).unwrap_err(), RowReason::InvalidEngagement);
    }

    #[test]
    fn r14_3_minutes_late_only_for_late() {
        let r = LessonIn {
            minutes_late: NumberIn::Value(5),
            ..row()
        };
        assert_eq!(check(&r).unwrap_err(), RowReason::InvalidMinutesLate);
        let r = LessonIn {
            attendance: "late".into(),
            ..row()
        };
        assert_eq!(check(&r).unwrap_err(), RowReason::InvalidMinutesLate);
        let r = LessonIn {
            attendance: "late".into(),
            minutes_late: NumberIn::Value(5),
            ..row()
        };
        assert_eq!(check(&r).unwrap().minutes_late, Some(5));
    }

    #[test]
    fn r14_3_dates_within_the_case_on_school_days_not_in_the_future() {
        for (date, reason) in [
            ("2026-10-30", RowReason::BeforeCaseStart),
            ("2026-11-30", RowReason::AfterCaseExit),
            ("2026-11-21", RowReason::NotASchoolDay),
            ("2026-12-07", RowReason::DateInFuture),
            ("2026-11-31", RowReason::InvalidDate),
        ] {
            let r = LessonIn {
                date: date.into(),
                ..row()
            };
            assert_eq!(check(&r).unwrap_err(), reason, "{date}");
        }
        let r = LessonIn {
            date: "2026-11-27".into(),
            ..row()
        };
        assert!(
            check(&r).is_ok(),
            "the exit's effective date is the last day"
        );
    }

    #[test]
    fn r14_3_words_and_times() {
        for (r, reason) in [
            (
                LessonIn {
                    start_time: "9:30".into(),
                    ..row()
                },
                RowReason::InvalidStartTime,
            ),
            (
                LessonIn {
                    start_time: "24:00".into(),
                    ..row()
                },
                RowReason::InvalidStartTime,
            ),
            (
                LessonIn {
                    subject: "Maths".into(),
                    ..row()
                },
                RowReason::InvalidSubject,
            ),
            (
                LessonIn {
                    mode: "zoom".into(),
                    ..row()
                },
                RowReason::InvalidMode,
            ),
            (
                LessonIn {
                    attendance: "present".into(),
                    ..row()
                },
                RowReason::InvalidAttendance,
            ),
            (
                LessonIn {
                    mode: "home".into(),
                    ..row()
                },
                RowReason::NoRiskAssessment,
            ),
            (
                LessonIn {
                    case_id: NumberIn::Missing,
                    ..row()
                },
                RowReason::UnknownCase,
            ),
            (
                LessonIn {
                    note: Some("a\u{7}".into()),
                    ..row()
                },
                RowReason::InvalidText,
            ),
        ] {
            assert_eq!(check(&r).unwrap_err(), reason, "{r:?}");
        }
    }

    fn lesson(day: u32, attendance: LessonAttendance) -> Lesson {
        Lesson {
            case_id: CaseId::from(1),
            date: NaiveDate::from_ymd_opt(2026, 11, day).unwrap(),
            start_time: "10:00".into(),
            subject: Subject::Maths,
            mode: LessonMode::OnlineGroup,
            planned_minutes: 60,
            attendance,
            minutes_late: (attendance == LessonAttendance::Late).then_some(30),
            engagement: attendance.is_attended().then_some(3),
            teacher: None,
            note: None,
        }
    }

    #[test]
    fn r14_4_measures() {
        use LessonAttendance::*;
        let lessons = [
            lesson(2, Attended),
            lesson(3, Late),
            lesson(4, AbsentUnauthorised),
            lesson(5, CancelledByEsma),
        ];
        let m = measures(&lessons);
        assert_eq!((m.planned, m.attended), (3, 2));
        assert_eq!(m.attendance_rate, 66.7);
        assert_eq!(m.hours_delivered, 1.5);
        assert_eq!(m.mean_engagement, Some(3.0));
        let c = case_measures(&lessons);
        assert_eq!(c.by_subject[&Subject::Maths].all, m);
    }

    #[test]
    fn r14_5_three_consecutive_unauthorised_absences_raise_two_do_not() {
        use LessonAttendance::*;
        let mut lessons = vec![
            lesson(2, Attended),
            lesson(3, AbsentUnauthorised),
            lesson(4, AbsentUnauthorised),
        ];
        assert_eq!(lesson_non_engagement(&lessons, 50.0), None);
        // A cancelled lesson is not planned: it does not break the run.
        lessons.push(lesson(5, CancelledByEsma));
        lessons.push(lesson(6, AbsentUnauthorised));
        assert_eq!(lesson_non_engagement(&lessons, 50.0), Some(d("2026-11-03")));
        lessons.push(lesson(9, Attended));
        assert_eq!(lesson_non_engagement(&lessons, 50.0), None, "resolved");
    }

    #[test]
    fn r14_5_rate_below_the_policy_over_the_last_ten() {
        use LessonAttendance::*;
        // 4 attended of 10, never 3 unauthorised in a row: 40% < 50%.
        let pattern = [
            Attended,
            AbsentAuthorised,
            AbsentUnauthorised,
            Attended,
            AbsentAuthorised,
            AbsentUnauthorised,
            Attended,
            AbsentAuthorised,
            AbsentUnauthorised,
            Attended,
        ];
        let lessons: Vec<Lesson> = pattern
            .iter()
            .enumerate()
            .map(|(i, a)| lesson(2 + i as u32, *a))
            .collect();
        assert_eq!(
            lesson_non_engagement(&lessons[..9], 50.0),
            None,
            "under 10 planned"
        );
        assert_eq!(lesson_non_engagement(&lessons, 50.0), Some(d("2026-11-02")));
        assert_eq!(
            lesson_non_engagement(&lessons, 40.0),
            None,
            "40% is not below 40"
        );
    }
}
