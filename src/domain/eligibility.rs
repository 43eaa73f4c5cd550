//! The eligibility assessment of a referral (RULES.md R8 entry criteria, R9 required information
//! and outcome): a pure function of the form, the register evidence, the policy and the date.
//! Every criterion comes back with its outcome, a reason a parent could read (with the numbers
//! and dates that decided it) and the evidence used.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::age::{
    age_on, national_curriculum_year, national_curriculum_year_name, CompulsorySchoolAge,
};
use super::attendance::IllnessRun;
use super::attendance::SessionMark;
use super::calendar::{AcademicYear, SchoolCalendar};
use super::codes::AttendanceCode;
use super::policy::{Policy, PolicyRef, SourceStanding};
use super::referral::{EvidenceItem, ReferralForm};

/// R9.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Eligible,
    Ineligible,
    Incomplete,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Eligible => "eligible",
            Outcome::Ineligible => "ineligible",
            Outcome::Incomplete => "incomplete",
        }
    }
}

/// R8: each criterion's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CriterionOutcome {
    Met,
    MetWithConditions,
    NotMet,
    /// Not enough information to decide; makes the assessment `incomplete`.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CriterionId {
    StatutorySchoolAge,
    MedicalEvidence,
    AbsenceAuthorised,
    LaResident,
    FifteenSchoolDays,
    NotElectivelyHomeEducated,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CriterionResult {
    pub id: CriterionId,
    pub outcome: CriterionOutcome,
    /// A full sentence with the numbers and dates that decided it.
    #[schema(
        example = "Illness recorded on 11.5 school days since 1 September 2026; 15 are needed, or medical evidence that the absence will last 15 school days or more."
    )]
    pub reason: String,
    /// The values used.
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
}

/// R9: information the LA needs before it can decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MissingItemId {
    MedicalEvidence,
    ParentalConsent,
    Condition,
    LikelyDuration,
    SupportPlan,
    Apdr,
    Baseline,
    FundingStatement,
    ReintegrationPlan,
    TreatmentPlan,
    NamedMedicalContact,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MissingItem {
    pub item: MissingItemId,
    pub reason: String,
}

/// What the register says, gathered by the caller for the pupil at every school whose register
/// it may count (RULES.md R4, read from the maintained tallies and the marks).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegisterEvidence {
    pub schools: Vec<i32>,
    /// Illness days in the academic year of the assessment date (R4.2).
    pub illness_days_cumulative: f64,
    /// The longest illness run (R4.3).
    pub longest_run: Option<IllnessRun>,
    /// The run containing the latest possible session (R4.3).
    pub current_run: Option<IllnessRun>,
    /// The pupil's marks from `absence.first_day` to the assessment date (R8.3).
    pub absence_period_marks: Vec<SessionMark>,
    /// The pupil's part-time timetable agreements at the referring school in force on the
    /// assessment date or later (R15; issue 24: the referral form links to them).
    pub part_time: Vec<PartTimeAgreementFact>,
}

/// A part-time timetable agreement as an assessment sees it (R15.1): its dates and the plan it
/// names (a case or a reference), which is the reintegration plan R9 asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PartTimeAgreementFact {
    #[schema(example = 1)]
    pub part_time_timetable_id: i64,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    /// "case 2" or the plan reference the agreement names.
    #[schema(example = "IHCP, November 2026")]
    pub plan: Option<String>,
}

/// The numbers behind the criteria (API.md `facts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AssessmentFacts {
    #[schema(example = 12)]
    pub age_years: i32,
    /// Reception 0, Year 1 = 1 ... (R7.2).
    #[schema(example = 8)]
    pub national_curriculum_year: i32,
    pub compulsory_school_age_from: NaiveDate,
    pub compulsory_school_age_until: NaiveDate,
    /// Illness days since 1 September of the academic year (R4.2).
    #[schema(example = 11.5)]
    pub illness_days_cumulative: f64,
    /// The longest run of illness (R4.3).
    #[schema(example = 8.0)]
    pub illness_longest_streak_days: f64,
    pub illness_longest_streak_from: Option<NaiveDate>,
    pub illness_longest_streak_to: Option<NaiveDate>,
    #[schema(example = 3.5)]
    pub illness_current_streak_days: f64,
    /// School days from the first day of absence to the assessment date, both included.
    #[schema(example = 38)]
    pub school_days_since_absence_began: u32,
    /// Sessions with a mark in that period, at the schools counted.
    pub sessions_marked_since_absence_began: u32,
    /// The schools whose registers were read.
    pub register_schools: Vec<i32>,
    /// The newest evidence that qualifies (R8.2), and its age in days.
    pub newest_qualifying_evidence_on: Option<NaiveDate>,
    pub newest_qualifying_evidence_age_days: Option<i64>,
    /// With `absence.reduced_timetable`: the pupil's part-time timetable agreements at the
    /// school in force on the assessment date or later (R15).
    #[serde(default)]
    pub part_time_timetables: Vec<PartTimeAgreementFact>,
}

/// The whole assessment (API.md "The assessment").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EligibilityAssessment {
    pub outcome: Outcome,
    pub policy: PolicyRefView,
    /// The date the criteria were assessed as of.
    pub assessed_on: NaiveDate,
    pub criteria: Vec<CriterionResult>,
    pub missing: Vec<MissingItem>,
    pub facts: AssessmentFacts,
}

/// The policy an assessment was made under (name and version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PolicyRefView {
    #[schema(example = "Hertfordshire ESMA")]
    pub name: String,
    #[schema(example = "2026-09")]
    pub version: String,
}

impl From<PolicyRef> for PolicyRefView {
    fn from(p: PolicyRef) -> Self {
        PolicyRefView {
            name: p.name,
            version: p.version,
        }
    }
}

impl EligibilityAssessment {
    /// The criteria not met, as reasons the LA is offered when declining (R10.2).
    pub fn failed_reasons(&self) -> Vec<String> {
        self.criteria
            .iter()
            .filter(|c| c.outcome == CriterionOutcome::NotMet)
            .map(|c| c.reason.clone())
            .collect()
    }
}

/// "1 September 2026": dates in reasons are written for parents.
pub fn long_date(date: NaiveDate) -> String {
    date.format("%-d %B %Y").to_string()
}

fn days_text(days: f64) -> String {
    if days.fract() == 0.0 {
        format!("{days:.0}")
    } else {
        format!("{days:.1}")
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// RULES.md R8 and R9: assesses `form` as of `today`.
pub fn assess(
    form: &ReferralForm,
    register: &RegisterEvidence,
    policy: &Policy,
    calendar: &SchoolCalendar,
    today: NaiveDate,
) -> EligibilityAssessment {
    let name = form.pupil.legal_forename.trim().to_string();
    let evidence = qualifying_evidence(&form.medical.evidence, today);
    let criteria = vec![
        statutory_school_age(form, &name, today),
        medical_evidence(form, &name, &evidence, policy, today),
        absence_authorised(form, register, today),
        la_resident(form, &name, policy),
        fifteen_school_days(form, register, &evidence, policy, today),
        not_electively_home_educated(form, &name),
    ];
    let missing = missing_items(form, register);
    let outcome = if criteria
        .iter()
        .any(|c| c.outcome == CriterionOutcome::NotMet)
    {
        Outcome::Ineligible
    } else if !missing.is_empty()
        || criteria
            .iter()
            .any(|c| c.outcome == CriterionOutcome::Unknown)
    {
        Outcome::Incomplete
    } else {
        Outcome::Eligible
    };

    let dob = form.pupil.date_of_birth;
    let age = CompulsorySchoolAge::of(dob);
    let first_day = form.absence.first_day;
    let newest = evidence.newest();
    EligibilityAssessment {
        outcome,
        policy: policy.reference().into(),
        assessed_on: today,
        criteria,
        missing,
        facts: AssessmentFacts {
            age_years: age_on(dob, today),
            national_curriculum_year: national_curriculum_year(dob, today),
            compulsory_school_age_from: age.starts,
            compulsory_school_age_until: age.ends,
            illness_days_cumulative: register.illness_days_cumulative,
            illness_longest_streak_days: register.longest_run.map_or(0.0, |r| r.days()),
            illness_longest_streak_from: register.longest_run.map(|r| r.first.0),
            illness_longest_streak_to: register.longest_run.map(|r| r.last.0),
            illness_current_streak_days: register.current_run.map_or(0.0, |r| r.days()),
            school_days_since_absence_began: school_days_from(calendar, first_day, today),
            sessions_marked_since_absence_began: u32::try_from(register.absence_period_marks.len())
                .unwrap_or(u32::MAX),
            register_schools: register.schools.clone(),
            newest_qualifying_evidence_on: newest.map(|e| e.issued_on),
            newest_qualifying_evidence_age_days: newest.map(|e| (today - e.issued_on).num_days()),
            part_time_timetables: if form.absence.reduced_timetable {
                register.part_time.clone()
            } else {
                Vec::new()
            },
        },
    }
}

/// School days from `first` to `last`, both included (0 when `first` is later).
fn school_days_from(calendar: &SchoolCalendar, first: NaiveDate, last: NaiveDate) -> u32 {
    if first > last {
        return 0;
    }
    calendar
        .school_days_between(first, last)
        .saturating_add(u32::from(calendar.is_school_day(first)))
}

/// The evidence items split by whether they can count today (R8.2: not dated in the future).
struct EvidenceAsOf<'a> {
    current: Vec<&'a EvidenceItem>,
    future: Vec<&'a EvidenceItem>,
}

impl<'a> EvidenceAsOf<'a> {
    /// Items that state the pupil is unable to attend.
    fn stating(&self) -> impl Iterator<Item = &&'a EvidenceItem> {
        self.current.iter().filter(|e| e.states_unable_to_attend)
    }
    fn newest(&self) -> Option<&'a EvidenceItem> {
        self.stating().max_by_key(|e| e.issued_on).copied()
    }
}

fn qualifying_evidence(items: &[EvidenceItem], today: NaiveDate) -> EvidenceAsOf<'_> {
    let (current, future) = items.iter().partition(|e| e.issued_on <= today);
    EvidenceAsOf { current, future }
}

fn criterion(
    id: CriterionId,
    outcome: CriterionOutcome,
    reason: String,
    evidence: serde_json::Value,
) -> CriterionResult {
    CriterionResult {
        id,
        outcome,
        reason,
        evidence,
    }
}

/// R8.1.
fn statutory_school_age(form: &ReferralForm, name: &str, today: NaiveDate) -> CriterionResult {
    let dob = form.pupil.date_of_birth;
    let age = CompulsorySchoolAge::of(dob);
    let years = age_on(dob, today);
    let nc = national_curriculum_year_name(national_curriculum_year(dob, today));
    let evidence = json!({
        "date_of_birth": dob,
        "compulsory_school_age_from": age.starts,
        "compulsory_school_age_until": age.ends,
        "assessed_on": today,
    });
    if age.contains(today) {
        criterion(
            CriterionId::StatutorySchoolAge,
            CriterionOutcome::Met,
            format!(
                "{name} (born {}) is of compulsory school age from {} to {}; on {} {name} is {years} ({nc}).",
                long_date(dob),
                long_date(age.starts),
                long_date(age.ends),
                long_date(today)
            ),
            evidence,
        )
    } else if today < age.starts {
        criterion(
            CriterionId::StatutorySchoolAge,
            CriterionOutcome::NotMet,
            format!(
                "{name} (born {}) is not yet of compulsory school age on {}: it starts on {}.",
                long_date(dob),
                long_date(today),
                long_date(age.starts)
            ),
            evidence,
        )
    } else {
        criterion(
            CriterionId::StatutorySchoolAge,
            CriterionOutcome::NotMet,
            format!(
                "{name} (born {}) is no longer of compulsory school age on {}: it ended on {}.",
                long_date(dob),
                long_date(today),
                long_date(age.ends)
            ),
            evidence,
        )
    }
}

/// R8.2.
fn medical_evidence(
    form: &ReferralForm,
    name: &str,
    evidence: &EvidenceAsOf<'_>,
    policy: &Policy,
    today: NaiveDate,
) -> CriterionResult {
    let items = &form.medical.evidence;
    let future_note = match evidence.future.as_slice() {
        [] => String::new(),
        future => format!(
            " {} dated after {} ({}) cannot count yet.",
            if future.len() == 1 {
                "The item"
            } else {
                "The items"
            },
            long_date(today),
            future
                .iter()
                .map(|e| long_date(e.issued_on))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let best_of = |standing: SourceStanding| {
        evidence
            .stating()
            .filter(|e| policy.standing_of(e.source) == standing)
            .max_by_key(|e| e.issued_on)
            .copied()
    };
    let targeted = best_of(SourceStanding::TargetedOrSpecialist);
    let universal = best_of(SourceStanding::Universal);
    let newest = evidence.newest();
    let record = json!({
        "items": items.len(),
        "items_stating_unable_to_attend": evidence.stating().count(),
        "items_dated_after_assessment": evidence.future.iter().map(|e| e.issued_on).collect::<Vec<_>>(),
        "best_source": targeted.or(universal).map(|e| e.source.as_str()),
        "newest_qualifying_issued_on": newest.map(|e| e.issued_on),
        "max_age_days": policy.evidence_max_age_days,
    });
    if items.is_empty() {
        return criterion(
            CriterionId::MedicalEvidence,
            CriterionOutcome::Unknown,
            "No medical evidence has been supplied yet; add at least one item that says whether the pupil is unable to attend school.".to_string(),
            record,
        );
    }
    let (mut outcome, mut reason) = match (targeted, universal) {
        (Some(item), _) => (
            CriterionOutcome::Met,
            format!(
                "{} stated on {} that {name} is unable to attend school.",
                capitalise(item.source.describe()),
                long_date(item.issued_on)
            ),
        ),
        (None, Some(item)) => (
            CriterionOutcome::MetWithConditions,
            format!(
                "Only {} has stated (on {}) that {name} is unable to attend school: support can be considered; further medical advice is expected.",
                item.source.describe(),
                long_date(item.issued_on)
            ),
        ),
        (None, None) => {
            let others = evidence.stating().count();
            (
                CriterionOutcome::NotMet,
                if others > 0 {
                    format!(
                        "Only evidence from sources the policy does not count ({}) states that {name} is unable to attend school; evidence from a GP, a school nurse or a specialist service is needed.",
                        plural(others, "item", "items")
                    )
                } else {
                    format!(
                        "None of the {} dated on or before {} states that {name} is unable to attend school.",
                        plural(evidence.current.len(), "evidence item", "evidence items"),
                        long_date(today)
                    )
                },
            )
        }
    };
    if let (Some(newest), CriterionOutcome::Met | CriterionOutcome::MetWithConditions) =
        (newest, outcome)
    {
        let age_days = (today - newest.issued_on).num_days();
        if age_days > i64::from(policy.evidence_max_age_days) {
            outcome = CriterionOutcome::MetWithConditions;
            reason.push_str(&format!(
                " The newest evidence is from {}, {age_days} days before {} (more than {}): updated evidence is needed.",
                long_date(newest.issued_on),
                long_date(today),
                policy.evidence_max_age_days
            ));
        }
    }
    reason.push_str(&future_note);
    criterion(CriterionId::MedicalEvidence, outcome, reason, record)
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

fn sessions_list(marks: &[&SessionMark]) -> String {
    const SHOWN: usize = 10;
    let mut parts: Vec<String> = marks
        .iter()
        .take(SHOWN)
        .map(|m| {
            format!(
                "{} {} ({})",
                long_date(m.date),
                m.session.as_str(),
                m.code.as_str()
            )
        })
        .collect();
    if marks.len() > SHOWN {
        parts.push(format!("and {} more", marks.len() - SHOWN));
    }
    parts.join(", ")
}

/// R8.3.
fn absence_authorised(
    form: &ReferralForm,
    register: &RegisterEvidence,
    today: NaiveDate,
) -> CriterionResult {
    let first = form.absence.first_day;
    let period: Vec<&SessionMark> = register
        .absence_period_marks
        .iter()
        .filter(|m| m.date >= first && m.date <= today)
        .collect();
    let unauthorised: Vec<&SessionMark> = period
        .iter()
        .copied()
        .filter(|m| {
            matches!(
                m.code,
                AttendanceCode::G | AttendanceCode::O | AttendanceCode::U
            )
        })
        .collect();
    let unexplained: Vec<&SessionMark> = period
        .iter()
        .copied()
        .filter(|m| m.code == AttendanceCode::N)
        .collect();
    let record = json!({
        "declared_authorised": form.absence.authorised_by_school,
        "period_from": first,
        "period_to": today,
        "sessions_marked": period.len(),
        "unauthorised_sessions": unauthorised.iter().map(|m| json!({"date": m.date, "session": m.session, "code": m.code.as_str()})).collect::<Vec<_>>(),
        "unexplained_sessions": unexplained.iter().map(|m| json!({"date": m.date, "session": m.session})).collect::<Vec<_>>(),
    });
    let since = long_date(first);
    if !unauthorised.is_empty() {
        return criterion(
            CriterionId::AbsenceAuthorised,
            CriterionOutcome::NotMet,
            format!(
                "The register records unauthorised absence since {since}: {}.",
                sessions_list(&unauthorised)
            ),
            record,
        );
    }
    match form.absence.authorised_by_school {
        Some(false) => criterion(
            CriterionId::AbsenceAuthorised,
            CriterionOutcome::NotMet,
            format!("The school says the absence since {since} is not authorised."),
            record,
        ),
        None => criterion(
            CriterionId::AbsenceAuthorised,
            CriterionOutcome::Unknown,
            format!("The school has not said whether the absence since {since} is authorised."),
            record,
        ),
        Some(true) if first > today => criterion(
            CriterionId::AbsenceAuthorised,
            CriterionOutcome::MetWithConditions,
            format!(
                "The school says the absence is authorised; it begins on {since}, after {}, so the register cannot confirm it yet.",
                long_date(today)
            ),
            record,
        ),
        Some(true) if period.is_empty() => criterion(
            CriterionId::AbsenceAuthorised,
            CriterionOutcome::MetWithConditions,
            format!(
                "The school says the absence is authorised, but the register has no marks for the pupil from {since} to {} to confirm it.",
                long_date(today)
            ),
            record,
        ),
        Some(true) if !unexplained.is_empty() => criterion(
            CriterionId::AbsenceAuthorised,
            CriterionOutcome::MetWithConditions,
            format!(
                "The school says the absence is authorised and the register has no unauthorised absence since {since}, but {} {} still N (reason not yet provided): {}.",
                plural(unexplained.len(), "session", "sessions"),
                if unexplained.len() == 1 { "is" } else { "are" },
                sessions_list(&unexplained)
            ),
            record,
        ),
        Some(true) => criterion(
            CriterionId::AbsenceAuthorised,
            CriterionOutcome::Met,
            format!(
                "The school says the absence is authorised and the register has no unauthorised absence (G, O or U) in the {} marked since {since}.",
                plural(period.len(), "session", "sessions")
            ),
            record,
        ),
    }
}

/// R8.4.
fn la_resident(form: &ReferralForm, name: &str, policy: &Policy) -> CriterionResult {
    let record = json!({"home_la_code": form.pupil.home_la_code, "policy_la_code": policy.la_code});
    match form.pupil.home_la_code {
        None => criterion(
            CriterionId::LaResident,
            CriterionOutcome::Unknown,
            format!("The referral does not say which LA {name} lives in (pupil.home_la_code)."),
            record,
        ),
        Some(code) if code == policy.la_code => criterion(
            CriterionId::LaResident,
            CriterionOutcome::Met,
            format!("{name} lives in LA {code}, the LA this service is for."),
            record,
        ),
        Some(code) => criterion(
            CriterionId::LaResident,
            CriterionOutcome::NotMet,
            format!(
                "{name} lives in LA {code}, not LA {}: the home LA arranges education for children who cannot attend school because of health needs.",
                policy.la_code
            ),
            record,
        ),
    }
}

/// R8.5.
fn fifteen_school_days(
    form: &ReferralForm,
    register: &RegisterEvidence,
    evidence: &EvidenceAsOf<'_>,
    policy: &Policy,
    today: NaiveDate,
) -> CriterionResult {
    let needed = f64::from(policy.entry_absence_days);
    let cumulative = register.illness_days_cumulative;
    let longest = register.longest_run.map_or(0.0, |r| r.days());
    let expected = evidence
        .current
        .iter()
        .filter_map(|e| e.likely_duration_school_days.map(|d| (d, *e)))
        .max_by_key(|(d, _)| *d);
    let year_start = AcademicYear::containing(today).first_day();
    let record = json!({
        "illness_days_cumulative": cumulative,
        "illness_longest_streak_days": longest,
        "expected_school_days": expected.map(|(d, _)| d),
        "long_term_or_recurrent": form.medical.long_term_or_recurrent,
        "needed_days": policy.entry_absence_days,
    });
    let met = |reason: String| {
        criterion(
            CriterionId::FifteenSchoolDays,
            CriterionOutcome::Met,
            reason,
            record.clone(),
        )
    };
    if cumulative >= needed {
        return met(format!(
            "Illness recorded on {} school days since {}; {} are needed.",
            days_text(cumulative),
            long_date(year_start),
            policy.entry_absence_days
        ));
    }
    if longest >= needed {
        let run = register.longest_run.map(|r| (r.first.0, r.last.0));
        return met(format!(
            "Illness recorded on {} consecutive school days{}; {} are needed.",
            days_text(longest),
            run.map(|(a, b)| format!(" ({} to {})", long_date(a), long_date(b)))
                .unwrap_or_default(),
            policy.entry_absence_days
        ));
    }
    if let Some((days, item)) = expected.filter(|(d, _)| *d >= policy.entry_absence_days) {
        return met(format!(
            "The absence is expected to last {days} school days ({}, {}); {} are needed. Illness recorded so far: {} school days since {}.",
            item.source.describe(),
            long_date(item.issued_on),
            policy.entry_absence_days,
            days_text(cumulative),
            long_date(year_start)
        ));
    }
    if form.medical.long_term_or_recurrent {
        return met(format!(
            "The condition is long-term or recurrent, so support may start within the first {} days of absence (illness recorded so far: {} school days since {}).",
            policy.entry_absence_days,
            days_text(cumulative),
            long_date(year_start)
        ));
    }
    let so_far = if cumulative > 0.0 {
        format!(
            "Illness recorded on {} school days since {} (longest run: {} days)",
            days_text(cumulative),
            long_date(year_start),
            days_text(longest)
        )
    } else {
        format!("No illness recorded since {}", long_date(year_start))
    };
    let needed = policy.entry_absence_days;
    criterion(
        CriterionId::FifteenSchoolDays,
        CriterionOutcome::NotMet,
        format!(
            "{so_far}; {needed} are needed, or medical evidence that the absence will last {needed} school days or more. The school remains responsible for the first {needed} days of absence."
        ),
        record,
    )
}

/// R8.6.
fn not_electively_home_educated(form: &ReferralForm, name: &str) -> CriterionResult {
    let ehe = form.pupil.elective_home_education;
    criterion(
        CriterionId::NotElectivelyHomeEducated,
        if ehe {
            CriterionOutcome::NotMet
        } else {
            CriterionOutcome::Met
        },
        if ehe {
            format!(
                "{name} is electively home educated; the service is for pupils on a school roll."
            )
        } else {
            format!("{name} is not electively home educated.")
        },
        json!({"elective_home_education": ehe}),
    )
}

/// R9: what the LA still needs, in the order of the Annex 2 checklist.
fn missing_items(form: &ReferralForm, register: &RegisterEvidence) -> Vec<MissingItem> {
    let mut missing = Vec::new();
    let mut add = |item: MissingItemId, reason: &str| {
        missing.push(MissingItem {
            item,
            reason: reason.to_string(),
        })
    };
    let medical = &form.medical;
    if medical.evidence.is_empty() {
        add(
            MissingItemId::MedicalEvidence,
            "At least one piece of medical evidence is needed (medical.evidence).",
        );
    }
    if !form.consent.parental_consent_signed {
        add(
            MissingItemId::ParentalConsent,
            "Signed parental consent is needed before information can be shared (UK GDPR).",
        );
    }
    if form.condition_missing() {
        add(
            MissingItemId::Condition,
            "Say what the condition is: its category and a description (medical.condition_category, medical.condition).",
        );
    }
    if !medical
        .evidence
        .iter()
        .any(|e| e.likely_duration_school_days.is_some())
    {
        add(
            MissingItemId::LikelyDuration,
            "No evidence item says how long the absence is likely to last (likely_duration_school_days).",
        );
    }
    if form.support_plan_missing() {
        add(
            MissingItemId::SupportPlan,
            "Describe the support the school has in place (support.current_support_plan).",
        );
    }
    if !form.support.apdr_attached {
        add(
            MissingItemId::Apdr,
            "An Assess-Plan-Do-Review record is needed (support.apdr_attached).",
        );
    }
    let gaps = form.baseline_gaps();
    if !gaps.is_empty() {
        add(
            MissingItemId::Baseline,
            &format!(
                "The baseline needs attainment, engagement and wellbeing; missing: {}.",
                gaps.join(", ")
            ),
        );
    }
    let funding = &form.funding;
    if (funding.ehcp || funding.local_high_needs_funding || funding.pupil_premium)
        && form.funding_statement_missing()
    {
        add(
            MissingItemId::FundingStatement,
            "The pupil has an EHCP, local high needs funding or pupil premium: say how that funding supports access to education (funding.statement).",
        );
    }
    // R9 with R15.1: a recorded part-time timetable names the plan it belongs to, which is the
    // reintegration plan this item asks for.
    let agreement_names_plan = register.part_time.iter().any(|a| a.plan.is_some());
    if form.absence.reduced_timetable
        && !form.support.reintegration_plan_attached
        && !agreement_names_plan
    {
        add(
            MissingItemId::ReintegrationPlan,
            "The pupil is on a reduced timetable: a reintegration plan is needed (support.reintegration_plan_attached), or a part-time timetable recorded for the pupil that names its plan (POST /api/v1/schools/{urn}/part-time-timetables).",
        );
    }
    if medical.long_term_or_recurrent && !medical.treatment_plan_attached {
        add(
            MissingItemId::TreatmentPlan,
            "The condition is long-term or recurrent: a treatment plan is needed (medical.treatment_plan_attached).",
        );
    }
    if medical.long_term_or_recurrent && form.named_medical_contact_missing() {
        add(
            MissingItemId::NamedMedicalContact,
            "The condition is long-term or recurrent: name a medical contact (medical.named_medical_contact).",
        );
    }
    missing
}

/// RULES.md R10.3: the assessment is due `assessment_school_days` school days after receipt.
pub fn assessment_due_by(
    received_on: NaiveDate,
    policy: &Policy,
    calendar: &SchoolCalendar,
) -> NaiveDate {
    calendar.school_day_after(received_on, policy.assessment_school_days)
}

#[cfg(test)]
mod tests;
