//! Part-time timetables (RULES.md R15; seed 003 Appendix 4, from "Working together to improve
//! school attendance"): what an agreement must say before `C2` may be recorded under it, its
//! reviews and extensions, and the checks the register answers to. Pure: the service loads the
//! pupil, the calendar and the other agreements and hands them in.

use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Weekday};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::age::CompulsorySchoolAge;
use super::calendar::SchoolCalendar;
use super::case::CaseId;
use super::codes::Session;
use super::eligibility::long_date;

record_id!(
    /// A part-time timetable agreement's id.
    PartTimeTimetableId
);

record_id!(
    /// A review of a part-time timetable.
    PartTimeReviewId
);

/// The policy's part-time numbers (R15.1, R15.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartTimePolicy {
    /// The first review within this many school days of the start, each next within this many
    /// of the one before (R15.1).
    pub review_school_days: u32,
    /// A span (with extensions) longer than this many school days is flagged for the LA (R15.2).
    pub prolonged_school_days: u32,
}

impl Default for PartTimePolicy {
    fn default() -> Self {
        PartTimePolicy {
            review_school_days: 30,
            prolonged_school_days: 60,
        }
    }
}

/// Why the pupil is on a part-time timetable (R15.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartTimeReason {
    /// A medical condition prevents full-time attendance.
    Health,
    /// Special educational needs or disabilities.
    Send,
    /// A phased return after absence.
    Reintegration,
    Other,
    /// Refused: "A part-time timetable should not be used to manage a student's behaviour".
    Behaviour,
}

impl PartTimeReason {
    pub const ALL: [PartTimeReason; 5] = [
        PartTimeReason::Health,
        PartTimeReason::Send,
        PartTimeReason::Reintegration,
        PartTimeReason::Other,
        PartTimeReason::Behaviour,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PartTimeReason::Health => "health",
            PartTimeReason::Send => "send",
            PartTimeReason::Reintegration => "reintegration",
            PartTimeReason::Other => "other",
            PartTimeReason::Behaviour => "behaviour",
        }
    }

    pub fn parse(text: &str) -> Option<PartTimeReason> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl fmt::Display for PartTimeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The sessions of a school week the pupil attends school (the rest are `C2`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklyPattern {
    #[serde(default)]
    #[schema(example = json!(["AM"]))]
    pub monday: Vec<Session>,
    #[serde(default)]
    #[schema(example = json!(["AM", "PM"]))]
    pub tuesday: Vec<Session>,
    #[serde(default)]
    pub wednesday: Vec<Session>,
    #[serde(default)]
    #[schema(example = json!(["AM", "PM"]))]
    pub thursday: Vec<Session>,
    #[serde(default)]
    pub friday: Vec<Session>,
}

impl WeeklyPattern {
    fn day(&self, weekday: Weekday) -> &[Session] {
        match weekday {
            Weekday::Mon => &self.monday,
            Weekday::Tue => &self.tuesday,
            Weekday::Wed => &self.wednesday,
            Weekday::Thu => &self.thursday,
            Weekday::Fri => &self.friday,
            Weekday::Sat | Weekday::Sun => &[],
        }
    }

    /// Whether the pupil is in school for this session under the pattern.
    pub fn in_school(&self, date: NaiveDate, session: Session) -> bool {
        self.day(date.weekday()).contains(&session)
    }

    /// Distinct sessions in school a week (a session listed twice counts once).
    pub fn sessions_in_school(&self) -> usize {
        [
            &self.monday,
            &self.tuesday,
            &self.wednesday,
            &self.thursday,
            &self.friday,
        ]
        .iter()
        .map(|day| {
            usize::from(day.contains(&Session::Am)) + usize::from(day.contains(&Session::Pm))
        })
        .sum()
    }
}

/// Who came to a review (R15.2: the pupil and a parent must be among them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttendeeRole {
    Pupil,
    Parent,
    School,
    Esma,
    LocalAuthority,
    Health,
    SocialWorker,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attendee {
    pub role: AttendeeRole,
    #[schema(max_length = 200, example = "Mrs Nowak")]
    pub name: Option<String>,
}

/// What an agreement says (R15.1), as checked and stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementTerms {
    pub start_date: NaiveDate,
    /// The end date in force (the latest of [`EndDateChange`]).
    pub end_date: NaiveDate,
    pub pattern: WeeklyPattern,
    pub reason: PartTimeReason,
    pub parent_agreed_on: NaiveDate,
    pub ambition: String,
    pub case_id: Option<CaseId>,
    pub plan_reference: Option<String>,
    pub review_dates: Vec<NaiveDate>,
    pub la_informed_on: Option<NaiveDate>,
    pub has_social_worker: bool,
    pub social_worker_informed: bool,
}

impl AgreementTerms {
    /// The terms with a new end date, if one is given, and more review dates, kept in order
    /// and each once (R15.2: a PATCH or a review extends an agreement the same way).
    pub fn extended(&self, end_date: Option<NaiveDate>, add_review_dates: Vec<NaiveDate>) -> Self {
        let mut terms = self.clone();
        if let Some(end) = end_date {
            terms.end_date = end;
        }
        terms.review_dates.extend(add_review_dates);
        terms.review_dates.sort();
        terms.review_dates.dedup();
        terms
    }
}

/// One setting of the end date: the first when the agreement was made, then each extension
/// (R15.2 "the history of end dates is kept").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndDateChange {
    pub end_date: NaiveDate,
    pub set_at: NaiveDateTime,
    pub set_by: String,
    /// The review that extended it, if a review did.
    pub review_id: Option<PartTimeReviewId>,
}

/// A review held (R15.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartTimeReview {
    pub id: PartTimeReviewId,
    pub held_on: NaiveDate,
    pub attendees: Vec<Attendee>,
    pub notes: Option<String>,
    /// The end date this review set, if it extended (or shortened) the agreement.
    pub new_end_date: Option<NaiveDate>,
    pub recorded_at: NaiveDateTime,
    pub recorded_by: String,
}

/// Where an agreement stands on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgreementStatus {
    /// Starts later.
    Upcoming,
    /// In force today.
    Active,
    /// Past its end date.
    Ended,
}

impl AgreementStatus {
    pub const ALL: [AgreementStatus; 3] = [
        AgreementStatus::Upcoming,
        AgreementStatus::Active,
        AgreementStatus::Ended,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AgreementStatus::Upcoming => "upcoming",
            AgreementStatus::Active => "active",
            AgreementStatus::Ended => "ended",
        }
    }

    pub fn parse(text: &str) -> Option<AgreementStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn on(terms: &AgreementTerms, today: NaiveDate) -> AgreementStatus {
        if today < terms.start_date {
            AgreementStatus::Upcoming
        } else if today > terms.end_date {
            AgreementStatus::Ended
        } else {
            AgreementStatus::Active
        }
    }
}

impl fmt::Display for AgreementStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored agreement with its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartTimeTimetable {
    pub id: PartTimeTimetableId,
    pub school_urn: i32,
    pub upn: String,
    pub terms: AgreementTerms,
    pub end_dates: Vec<EndDateChange>,
    pub reviews: Vec<PartTimeReview>,
    pub created_at: NaiveDateTime,
    pub created_by: String,
}

impl PartTimeTimetable {
    /// R15.2: school days from the start to the end in force, both counted.
    pub fn span_school_days(&self, calendar: &SchoolCalendar) -> u32 {
        span(calendar, self.terms.start_date, self.terms.end_date)
    }

    /// R15.2 "only in place for the shortest time necessary": longer than the policy allows.
    pub fn is_prolonged(&self, calendar: &SchoolCalendar, policy: &PartTimePolicy) -> bool {
        self.span_school_days(calendar) > policy.prolonged_school_days
    }

    /// R15.3 `part_time_review_overdue`: the review dates before today that the reviews held
    /// do not account for (the k-th date is met by the k-th review, whenever it was held).
    pub fn reviews_overdue(&self, today: NaiveDate) -> Vec<NaiveDate> {
        self.terms
            .review_dates
            .iter()
            .skip(self.reviews.len())
            .copied()
            .filter(|d| *d < today)
            .collect()
    }

    /// The first review date not yet met by a review.
    pub fn next_review_date(&self) -> Option<NaiveDate> {
        self.terms.review_dates.get(self.reviews.len()).copied()
    }

    /// Whether a `C2` on `date` is under this agreement (R15.3).
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.terms.start_date <= date && date <= self.terms.end_date
    }
}

fn span(calendar: &SchoolCalendar, from: NaiveDate, to: NaiveDate) -> u32 {
    calendar.school_days_between(from.pred_opt().unwrap_or(from), to)
}

/// What the service knows about the pupil and the school when an agreement is checked.
#[derive(Debug, Clone)]
pub struct AgreementContext<'a> {
    pub calendar: &'a SchoolCalendar,
    pub policy: &'a PartTimePolicy,
    pub today: NaiveDate,
    /// The pupil's roll periods at the school (from, until), `None` if not on its roll.
    pub on_roll: &'a [(NaiveDate, Option<NaiveDate>)],
    pub date_of_birth: Option<NaiveDate>,
    pub ehcp: bool,
    /// The linked case, if `case_id` was given and it is this pupil's at this school.
    pub case_found: Option<bool>,
    /// The pupil's other agreements at this school (for R15.1's no-overlap).
    pub others: &'a [PartTimeTimetable],
}

/// A problem with a JSON Pointer and the words of the guidance.
pub type AgreementProblem = (String, String);

/// R15.1: every condition an agreement must meet, each failure with its pointer.
pub fn check_terms(terms: &AgreementTerms, ctx: &AgreementContext) -> Vec<AgreementProblem> {
    let mut problems = Vec::new();
    let mut problem =
        |pointer: &str, message: String| problems.push((pointer.to_string(), message));
    let cal = ctx.calendar;
    let (start, end) = (terms.start_date, terms.end_date);
    for (pointer, date, what) in [("/start_date", start, "start"), ("/end_date", end, "end")] {
        if !cal.is_school_day(date) {
            problem(
                pointer,
                format!(
                    "the {what} date should be a school day; {} is not (the next is {})",
                    long_date(date),
                    cal.next_school_day_on_or_after(date)
                ),
            );
        }
    }
    if end <= start {
        problem(
            "/end_date",
            format!(
                "a part-time timetable should \"have a proposed end date\" after its start ({start})"
            ),
        );
    }
    // On roll for the whole period.
    if ctx.on_roll.is_empty() {
        problem("/upn", "the pupil is not on this school's roll".to_string());
    } else if !ctx
        .on_roll
        .iter()
        .any(|(from, until)| *from <= start && until.is_none_or(|u| u >= end))
    {
        problem(
            "/end_date",
            "the pupil is not on this school's roll for the whole period".to_string(),
        );
    }
    // R7: compulsory school age for the whole period; otherwise C2 cannot apply.
    if let Some(born) = ctx.date_of_birth {
        let age = CompulsorySchoolAge::of(born);
        if !(age.contains(start) && age.contains(end)) {
            problem(
                "/start_date",
                format!(
                    "a part-time timetable is for \"a student of compulsory school age\": this pupil is of \
                     compulsory school age from {} to {}, so C2 cannot apply for the whole period; record X \
                     for the sessions outside it",
                    long_date(age.starts),
                    long_date(age.ends)
                ),
            );
        }
    }
    if terms.pattern.sessions_in_school() >= 10 {
        problem(
            "/pattern",
            "every session of the week is in school: that is a full-time timetable, not a part-time one"
                .to_string(),
        );
    }
    if terms.reason == PartTimeReason::Behaviour {
        problem(
            "/reason",
            "\"A part-time timetable should not be used to manage a student's behaviour\""
                .to_string(),
        );
    }
    if terms.parent_agreed_on > ctx.today {
        problem(
            "/parent_agreed_on",
            format!(
                "{} is in the future; record the agreement once the parent has agreed",
                terms.parent_agreed_on
            ),
        );
    }
    if terms.parent_agreed_on > start {
        problem(
            "/parent_agreed_on",
            "a part-time timetable should \"have the agreement of both the school and the parent the student normally lives with\" before it starts".to_string(),
        );
    }
    if terms.ambition.trim().is_empty() {
        problem(
            "/ambition",
            "a part-time timetable should \"have a clear ambition\"".to_string(),
        );
    }
    match (terms.case_id, terms.plan_reference.as_deref().map(str::trim)) {
        (None, None | Some("")) => problem(
            "/plan_reference",
            "a part-time timetable should \"be part of the student's wider support, health care or reintegration plan\": give case_id or plan_reference".to_string(),
        ),
        (Some(id), _) if ctx.case_found == Some(false) => problem(
            "/case_id",
            format!("case {id} is not a case of this pupil at this school"),
        ),
        _ => {}
    }
    problems.extend(check_review_dates(terms, cal, ctx.policy));
    if ctx.ehcp && terms.la_informed_on.is_none() {
        problems.push((
            "/la_informed_on".to_string(),
            "the pupil has an EHCP: \"the school should discuss the part-time timetable with the local authority\"; give the date it did".to_string(),
        ));
    }
    if terms.has_social_worker && !terms.social_worker_informed {
        problems.push((
            "/social_worker_informed".to_string(),
            "\"Where the student has a social worker, the school is expected to keep them informed and involved\"".to_string(),
        ));
    }
    for other in ctx.others {
        if other.terms.start_date <= end && start <= other.terms.end_date {
            problems.push((
                "/start_date".to_string(),
                format!(
                    "it overlaps part-time timetable {} ({} to {}); a pupil has one agreement at a school at a time: extend that one instead",
                    other.id, other.terms.start_date, other.terms.end_date
                ),
            ));
        }
    }
    problems
}

/// R15.1's review dates: at least one, school days, in order, the first within
/// `review_school_days` of the start, each next within that of the one before, the last on or
/// before the end date ("regular review dates ... for the shortest time necessary").
pub fn check_review_dates(
    terms: &AgreementTerms,
    calendar: &SchoolCalendar,
    policy: &PartTimePolicy,
) -> Vec<AgreementProblem> {
    let mut problems = Vec::new();
    let dates = &terms.review_dates;
    if dates.is_empty() {
        problems.push((
            "/review_dates".to_string(),
            "a part-time timetable should \"have regular review dates which include the student and their parents\": give at least one".to_string(),
        ));
        return problems;
    }
    let limit = policy.review_school_days;
    let mut previous = terms.start_date;
    for (i, date) in dates.iter().enumerate() {
        let pointer = format!("/review_dates/{i}");
        if !calendar.is_school_day(*date) {
            problems.push((pointer, format!("{} is not a school day", long_date(*date))));
            continue;
        }
        if *date <= previous {
            problems.push((
                pointer,
                format!(
                    "review dates run in order after the start: {date} is not after {previous}"
                ),
            ));
            continue;
        }
        let gap = calendar.school_days_between(previous, *date);
        if gap > limit {
            let what = if i == 0 {
                "the start"
            } else {
                "the review before"
            };
            problems.push((
                pointer,
                format!(
                    "{date} is {gap} school days after {what} ({previous}); reviews are due at least every {limit} school days"
                ),
            ));
        }
        previous = *date;
    }
    if let Some(last) = dates.last() {
        if *last > terms.end_date {
            problems.push((
                format!("/review_dates/{}", dates.len() - 1),
                format!("{last} is after the end date ({})", terms.end_date),
            ));
        }
    }
    problems
}

/// R15.2: a review needs the pupil and a parent among those who came.
pub fn check_review(
    attendees: &[Attendee],
    held_on: NaiveDate,
    agreement: &PartTimeTimetable,
    today: NaiveDate,
) -> Vec<AgreementProblem> {
    let mut problems = Vec::new();
    let came = |role| attendees.iter().any(|a| a.role == role);
    if !came(AttendeeRole::Pupil) || !came(AttendeeRole::Parent) {
        problems.push((
            "/attendees".to_string(),
            "reviews should \"include the student and their parents\": list the pupil and a parent among the attendees".to_string(),
        ));
    }
    if held_on > today {
        problems.push((
            "/held_on".to_string(),
            format!("{held_on} is in the future; record a review once it is held"),
        ));
    }
    if held_on < agreement.terms.start_date {
        problems.push((
            "/held_on".to_string(),
            format!(
                "{held_on} is before the timetable started ({})",
                agreement.terms.start_date
            ),
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::hertfordshire_2026_27;

    fn d(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn calendar() -> SchoolCalendar {
        SchoolCalendar::new(vec![hertfordshire_2026_27()])
    }

    fn terms() -> AgreementTerms {
        AgreementTerms {
            start_date: d("2026-11-02"),
            end_date: d("2027-01-29"),
            pattern: WeeklyPattern {
                monday: vec![Session::Am],
                tuesday: vec![Session::Am, Session::Pm],
                ..WeeklyPattern::default()
            },
            reason: PartTimeReason::Health,
            parent_agreed_on: d("2026-10-30"),
            ambition: "full time by February".to_string(),
            case_id: None,
            plan_reference: Some("IHCP 2026-11".to_string()),
            review_dates: vec![d("2026-11-30")],
            la_informed_on: None,
            has_social_worker: false,
            social_worker_informed: false,
        }
    }

    fn check(terms: &AgreementTerms) -> Vec<AgreementProblem> {
        let cal = calendar();
        let roll = [(d("2026-09-03"), None)];
        check_terms(
            terms,
            &AgreementContext {
                calendar: &cal,
                policy: &PartTimePolicy::default(),
                today: d("2026-11-02"),
                on_roll: &roll,
                date_of_birth: Some(d("2012-05-05")),
                ehcp: false,
                case_found: None,
                others: &[],
            },
        )
    }

    fn pointers(problems: &[AgreementProblem]) -> Vec<&str> {
        problems.iter().map(|(p, _)| p.as_str()).collect()
    }

    #[test]
    fn a_complete_agreement_passes() {
        assert_eq!(check(&terms()), vec![]);
    }

    #[test]
    fn the_first_review_may_be_30_school_days_after_the_start_not_31() {
        let cal = calendar();
        let mut t = terms();
        let day_30 = cal.school_day_after(t.start_date, 30);
        t.review_dates = vec![day_30];
        assert_eq!(check(&t), vec![], "day 30 ({day_30})");
        t.review_dates = vec![cal.school_day_after(t.start_date, 31)];
        let problems = check(&t);
        assert_eq!(pointers(&problems), vec!["/review_dates/0"]);
        assert!(problems[0].1.contains("31 school days"), "{problems:?}");
    }

    #[test]
    fn each_review_within_30_school_days_of_the_one_before_and_the_last_by_the_end() {
        let cal = calendar();
        let mut t = terms();
        let first = cal.school_day_after(t.start_date, 20);
        t.review_dates = vec![first, cal.school_day_after(first, 31)];
        t.end_date = cal.school_day_after(first, 40);
        assert_eq!(pointers(&check(&t)), vec!["/review_dates/1"]);
        t.review_dates = vec![first, cal.school_day_after(first, 30)];
        assert_eq!(check(&t), vec![]);
        t.review_dates = vec![first, cal.school_day_after(first, 41)];
        assert!(pointers(&check(&t)).contains(&"/review_dates/1"));
        t.review_dates = vec![];
        assert_eq!(pointers(&check(&t)), vec!["/review_dates"]);
    }

    #[test]
    fn each_condition_of_the_guidance_is_named() {
        let mut t = terms();
        t.reason = PartTimeReason::Behaviour;
        t.ambition = " ".to_string();
        t.plan_reference = None;
        t.parent_agreed_on = d("2026-11-03");
        t.has_social_worker = true;
        t.end_date = t.start_date;
        let problems = check(&t);
        let all = pointers(&problems);
        for pointer in [
            "/reason",
            "/ambition",
            "/plan_reference",
            "/parent_agreed_on",
            "/social_worker_informed",
            "/end_date",
        ] {
            assert!(all.contains(&pointer), "{pointer} in {problems:#?}");
        }
        let behaviour = problems.iter().find(|(p, _)| p == "/reason").unwrap();
        assert!(behaviour
            .1
            .contains("should not be used to manage a student's behaviour"));
    }

    #[test]
    fn an_extension_sets_the_end_and_keeps_review_dates_in_order_once() {
        let t = terms();
        let e = t.extended(
            Some(d("2027-03-12")),
            vec![d("2027-03-05"), d("2026-11-30")],
        );
        assert_eq!(e.end_date, d("2027-03-12"));
        assert_eq!(e.review_dates, vec![d("2026-11-30"), d("2027-03-05")]);
        assert_eq!(t.extended(None, vec![]), t);
    }

    #[test]
    fn a_full_week_in_school_is_not_part_time() {
        let mut t = terms();
        let both = vec![Session::Am, Session::Pm];
        t.pattern = WeeklyPattern {
            monday: both.clone(),
            tuesday: both.clone(),
            wednesday: both.clone(),
            thursday: both.clone(),
            friday: both,
        };
        assert_eq!(pointers(&check(&t)), vec!["/pattern"]);
        t.pattern.friday = vec![Session::Am];
        assert_eq!(check(&t), vec![]);
    }

    #[test]
    fn an_ehcp_needs_the_date_the_la_was_told_and_age_limits_c2() {
        let cal = calendar();
        let roll = [(d("2026-09-03"), None)];
        let t = terms();
        let ctx = AgreementContext {
            calendar: &cal,
            policy: &PartTimePolicy::default(),
            today: d("2026-11-02"),
            on_roll: &roll,
            date_of_birth: Some(d("2010-12-01")),
            ehcp: true,
            case_found: None,
            others: &[],
        };
        let problems = check_terms(&t, &ctx);
        assert!(pointers(&problems).contains(&"/la_informed_on"));
        // Born 1 December 2010: compulsory school age ends on 25 June 2027, after this period.
        assert!(
            !pointers(&problems).contains(&"/start_date"),
            "{problems:?}"
        );
        let older = AgreementContext {
            date_of_birth: Some(d("2010-08-01")),
            ..ctx
        };
        let problems = check_terms(&t, &older);
        let age = problems.iter().find(|(p, _)| p == "/start_date").unwrap();
        assert!(age.1.contains("record X"), "{age:?}");
    }

    #[test]
    fn reviews_are_met_in_order_and_the_span_counts_school_days() {
        let cal = calendar();
        let mut t = terms();
        t.review_dates = vec![d("2026-11-16"), d("2026-12-07")];
        let agreement = PartTimeTimetable {
            id: PartTimeTimetableId::from(1),
            school_urn: 117001,
            upn: "X".to_string(),
            terms: t,
            end_dates: vec![],
            reviews: vec![],
            created_at: d("2026-11-02").and_hms_opt(9, 0, 0).unwrap(),
            created_by: "x".to_string(),
        };
        assert_eq!(agreement.reviews_overdue(d("2026-11-16")), vec![]);
        assert_eq!(
            agreement.reviews_overdue(d("2026-11-17")),
            vec![d("2026-11-16")]
        );
        assert_eq!(agreement.next_review_date(), Some(d("2026-11-16")));
        // 2 November 2026 to 29 January 2027: 35 school days in the autumn term's second half
        // (to 18 December) and 19 in January (from the 5th), 54 in all.
        assert_eq!(agreement.span_school_days(&cal), 54);
        assert!(!agreement.is_prolonged(&cal, &PartTimePolicy::default()));
    }

    #[test]
    fn a_review_needs_the_pupil_and_a_parent() {
        let agreement = PartTimeTimetable {
            id: PartTimeTimetableId::from(1),
            school_urn: 117001,
            upn: "X".to_string(),
            terms: terms(),
            end_dates: vec![],
            reviews: vec![],
            created_at: d("2026-11-02").and_hms_opt(9, 0, 0).unwrap(),
            created_by: "x".to_string(),
        };
        let school = Attendee {
            role: AttendeeRole::School,
            name: None,
        };
        let problems = check_review(
            std::slice::from_ref(&school),
            d("2026-11-20"),
            &agreement,
            d("2026-11-23"),
        );
        assert_eq!(pointers(&problems), vec!["/attendees"]);
        let all = [
            school,
            Attendee {
                role: AttendeeRole::Pupil,
                name: None,
            },
            Attendee {
                role: AttendeeRole::Parent,
                name: Some("Mrs Nowak".to_string()),
            },
        ];
        assert_eq!(
            check_review(&all, d("2026-11-20"), &agreement, d("2026-11-23")),
            vec![]
        );
        assert_eq!(
            pointers(&check_review(
                &all,
                d("2026-11-24"),
                &agreement,
                d("2026-11-23")
            )),
            vec!["/held_on"]
        );
    }
}
