//! The review schedule and evidence clock of a support episode (RULES.md R11), counted in school
//! days (R3). Pure: the case's start date, the calendars, the policy and the evidence received in,
//! the planned reviews and the state of each evidence gate out.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::calendar::{AcademicYear, SchoolCalendar};

/// What a scheduled review is for (R11.1-R11.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewKind {
    /// Every 30 school days (6 school weeks) after the start (R11.1).
    ReviewMeeting,
    /// A half term with no review meeting in it gets one on its last school day (R11.2).
    HalfTermlyReview,
    /// On the last school day of each term (R11.3).
    MedicalEvidenceUpdate,
    /// After 12 and 24 school weeks: support continues only with fresh evidence (R11.4).
    EvidenceGate,
}

impl ReviewKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewKind::ReviewMeeting => "review_meeting",
            ReviewKind::HalfTermlyReview => "half_termly_review",
            ReviewKind::MedicalEvidenceUpdate => "medical_evidence_update",
            ReviewKind::EvidenceGate => "evidence_gate",
        }
    }

    pub fn parse(text: &str) -> Option<ReviewKind> {
        [
            ReviewKind::ReviewMeeting,
            ReviewKind::HalfTermlyReview,
            ReviewKind::MedicalEvidenceUpdate,
            ReviewKind::EvidenceGate,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// The cadences of R11 (policy values; Hertfordshire's in the compiled-in policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulePolicy {
    /// R11.1: school days between review meetings (30 = 6 school weeks).
    pub review_interval_school_days: u32,
    /// R11.4: the evidence gates, in school weeks after the start (12 and 24).
    pub evidence_gate_school_weeks: Vec<u32>,
    /// R11.4: `medical_evidence_due` is raised this many school days before a gate.
    pub evidence_due_school_days_before_gate: u32,
}

impl Default for SchedulePolicy {
    fn default() -> Self {
        SchedulePolicy {
            review_interval_school_days: 30,
            evidence_gate_school_weeks: vec![12, 24],
            evidence_due_school_days_before_gate: 10,
        }
    }
}

/// One review the schedule asks for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PlannedReview {
    pub due_on: NaiveDate,
    pub kind: ReviewKind,
    /// Which one: "review meeting 2", "autumn 2", "spring term", "24 school weeks".
    pub label: String,
}

/// A school week is 5 school days (R3.3).
const SCHOOL_WEEK: u32 = 5;

/// The school days after `start` at which the evidence gates fall (R11.4: the 60th and 120th).
pub fn evidence_gates(
    start: NaiveDate,
    calendar: &SchoolCalendar,
    policy: &SchedulePolicy,
) -> Vec<(u32, NaiveDate)> {
    policy
        .evidence_gate_school_weeks
        .iter()
        .map(|weeks| {
            (
                *weeks,
                calendar.school_day_after(start, weeks.saturating_mul(SCHOOL_WEEK)),
            )
        })
        .collect()
}

/// The last day the schedule plans for: the end of the start's academic year, or the last
/// evidence gate if that is later (a case starting in June runs into the next year).
pub fn horizon(start: NaiveDate, calendar: &SchoolCalendar, policy: &SchedulePolicy) -> NaiveDate {
    let year_end =
        calendar.previous_school_day_on_or_before(AcademicYear::containing(start).last_day());
    evidence_gates(start, calendar, policy)
        .into_iter()
        .map(|(_, date)| date)
        .fold(year_end, NaiveDate::max)
}

/// RULES.md R11.1-R11.4: every review a case starting on `start` needs, in date order. Half
/// terms and terms come from the LA calendars; a year without one (weekdays only, R3.1) has
/// review meetings and evidence gates but no half-termly or termly reviews.
pub fn plan(
    start: NaiveDate,
    calendar: &SchoolCalendar,
    policy: &SchedulePolicy,
) -> Vec<PlannedReview> {
    let end = horizon(start, calendar, policy);
    let mut reviews = Vec::new();

    // R11.1: the 30th, 60th ... school day after the start.
    let interval = policy.review_interval_school_days.max(1);
    let mut n = 1u32;
    loop {
        let due_on = calendar.school_day_after(start, interval.saturating_mul(n));
        if due_on > end || n > 1000 {
            break;
        }
        reviews.push(PlannedReview {
            due_on,
            kind: ReviewKind::ReviewMeeting,
            label: format!("review meeting {n}"),
        });
        n += 1;
    }
    let meetings: Vec<NaiveDate> = reviews.iter().map(|r| r.due_on).collect();

    for la in calendar.calendars() {
        // R11.2: each half term of the span with no review meeting gets one on its last school day.
        let mut seen_in_term: Vec<String> = Vec::new();
        for block in la.teaching_blocks() {
            let part = 1 + seen_in_term.iter().filter(|t| **t == block.term).count();
            seen_in_term.push(block.term.clone());
            let last = calendar.previous_school_day_on_or_before(block.ends);
            if last <= start || last > end || last < block.starts {
                continue;
            }
            let first = calendar.next_school_day_on_or_after(block.starts.max(start));
            if meetings.iter().any(|m| first <= *m && *m <= last) {
                continue;
            }
            reviews.push(PlannedReview {
                due_on: last,
                kind: ReviewKind::HalfTermlyReview,
                label: format!("{} {part}", block.term),
            });
        }
        // R11.3: the last school day of each term.
        for term in &la.terms {
            let last = calendar.previous_school_day_on_or_before(term.ends);
            if last <= start || last > end || last < term.starts {
                continue;
            }
            reviews.push(PlannedReview {
                due_on: last,
                kind: ReviewKind::MedicalEvidenceUpdate,
                label: format!("{} term", term.name),
            });
        }
    }

    // R11.4.
    for (weeks, due_on) in evidence_gates(start, calendar, policy) {
        reviews.push(PlannedReview {
            due_on,
            kind: ReviewKind::EvidenceGate,
            label: format!("{weeks} school weeks"),
        });
    }
    reviews.sort();
    reviews
}

/// Where one evidence gate stands (R11.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct GateState {
    #[schema(example = 12)]
    pub school_weeks: u32,
    pub gate_on: NaiveDate,
    /// Evidence must be dated after this day to count for the gate.
    pub evidence_after: NaiveDate,
    /// The newest evidence that counts, if any.
    pub satisfied_by: Option<NaiveDate>,
    /// From this day `medical_evidence_due` is raised while no evidence counts.
    pub evidence_due_from: NaiveDate,
    /// No evidence counts and `evidence_due_from` has come.
    pub evidence_due: bool,
}

/// R11.4: the gates of a case starting on `start`, given the dates of the medical evidence
/// received, as of `today`. Evidence for the first gate must be dated after the start; for
/// each later gate, after the gate before it.
pub fn evidence_clock(
    start: NaiveDate,
    evidence_dates: &[NaiveDate],
    calendar: &SchoolCalendar,
    policy: &SchedulePolicy,
    today: NaiveDate,
) -> Vec<GateState> {
    let mut after = start;
    evidence_gates(start, calendar, policy)
        .into_iter()
        .map(|(weeks, gate_on)| {
            let satisfied_by = evidence_dates
                .iter()
                .copied()
                .filter(|d| *d > after && *d <= today)
                .max();
            let evidence_due_from =
                calendar.school_day_before(gate_on, policy.evidence_due_school_days_before_gate);
            let state = GateState {
                school_weeks: weeks,
                gate_on,
                evidence_after: after,
                satisfied_by,
                evidence_due_from,
                evidence_due: satisfied_by.is_none() && today >= evidence_due_from,
            };
            after = gate_on;
            state
        })
        .collect()
}

#[cfg(test)]
mod tests;
