//! A support episode as the service keeps it (RULES.md R11-R13; API.md "Cases"): the case, its
//! reviews and the medical evidence received during it, with their states. The rules over them
//! are in `schedule.rs` (R11) and `exit.rs` (R13).

use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::decision::ProvisionItem;
use super::exit::{ExitRequest, RegisterFacts};
use super::referral::{Confidential, EvidenceItem, ReferralId};
use super::schedule::ReviewKind;

record_id!(
    /// A case (support episode) id.
    CaseId
);

record_id!(
    /// A review id (a review belongs to one case).
    ReviewId
);

/// Whether support is under way (R11) or has ended with an exit (R13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    Active,
    Closed,
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 2] = [CaseStatus::Active, CaseStatus::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Active => "active",
            CaseStatus::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<CaseStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for CaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A review is scheduled until it is held (or satisfied by evidence, R11.3) or cancelled by the
/// case's exit (R11.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    Scheduled,
    Held,
    Cancelled,
}

impl ReviewStatus {
    pub const ALL: [ReviewStatus; 3] = [
        ReviewStatus::Scheduled,
        ReviewStatus::Held,
        ReviewStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Scheduled => "scheduled",
            ReviewStatus::Held => "held",
            ReviewStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<ReviewStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for ReviewStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a review meeting recorded (API.md "Cases").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewOutcome {
    #[schema(example = "2026-12-14")]
    pub held_on: NaiveDate,
    #[serde(default)]
    #[validate(length(max = 30, message = "give at most 30 attendees"))]
    #[schema(max_items = 30, example = json!(["Parent", "SENDCo", "ESMA teacher"]))]
    pub attendees: Vec<String>,
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub pupil_voice: Option<Confidential>,
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub targets: Option<Confidential>,
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub actions: Option<Confidential>,
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub next_steps: Option<Confidential>,
}

/// A support episode, opened when the LA accepts a referral (R10.2).
#[derive(Debug, Clone)]
pub struct Case {
    pub id: CaseId,
    pub referral_id: ReferralId,
    pub school_urn: i32,
    pub upn: String,
    pub status: CaseStatus,
    pub start_date: NaiveDate,
    pub provision: Vec<ProvisionItem>,
    pub opened_at: NaiveDateTime,
    pub opened_by: String,
    pub closed_at: Option<NaiveDateTime>,
    /// The exit decision (R13), once the case is closed.
    pub exit: Option<ExitRequest>,
    pub exit_effective_date: Option<NaiveDate>,
    /// The register facts a non_attendance exit was decided on (R13).
    pub exit_register_facts: Option<RegisterFacts>,
}

impl Case {
    pub fn is_active(&self) -> bool {
        self.status == CaseStatus::Active
    }
}

/// One review of a case (R11).
#[derive(Debug, Clone)]
pub struct Review {
    pub id: ReviewId,
    pub case_id: CaseId,
    pub kind: ReviewKind,
    pub label: String,
    pub due_on: NaiveDate,
    /// Equals `due_on` until rescheduled.
    pub scheduled_for: NaiveDate,
    pub status: ReviewStatus,
    pub held_on: Option<NaiveDate>,
    pub outcome: Option<ReviewOutcome>,
    /// Why it moved, was cancelled, or what satisfied it.
    pub note: Option<String>,
    pub updated_at: NaiveDateTime,
}

/// Medical evidence received during a case (R11.3, R11.4).
#[derive(Debug, Clone)]
pub struct Evidence {
    pub id: i64,
    pub case_id: CaseId,
    pub issued_on: NaiveDate,
    pub received_at: NaiveDateTime,
    pub item: EvidenceItem,
    pub recorded_by: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_as_themselves_and_as_on_the_wire() {
        for s in CaseStatus::ALL {
            assert_eq!(CaseStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in ReviewStatus::ALL {
            assert_eq!(ReviewStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(CaseStatus::parse("open"), None);
        assert_eq!(ReviewStatus::parse("Scheduled"), None);
    }

    #[test]
    fn ids_are_plain_integers_on_the_wire() {
        let id = CaseId::from(7);
        assert_eq!(serde_json::to_value(id).unwrap(), serde_json::json!(7));
        assert_eq!(serde_json::from_str::<ReviewId>("31").unwrap().get(), 31);
        assert_eq!(id.to_string(), "7");
    }
}
