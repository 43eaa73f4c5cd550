//! The vocabulary of the change feed (API.md "Change feed"): which resource changed and what
//! happened to it. The feed says only that something changed; the resource itself is read from
//! its own endpoint.

use serde::Serialize;
use utoipa::ToSchema;

use super::case::{CaseId, ReviewId};
use super::referral::ReferralId;

/// The resources an LA system keeps in sync through the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangedResource {
    Referral,
    Case,
    Review,
    Alert,
    /// A part-time timetable agreement (R15).
    PartTimeTimetable,
}

impl ChangedResource {
    pub const ALL: [ChangedResource; 5] = [
        ChangedResource::Referral,
        ChangedResource::Case,
        ChangedResource::Review,
        ChangedResource::Alert,
        ChangedResource::PartTimeTimetable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangedResource::Referral => "referral",
            ChangedResource::Case => "case",
            ChangedResource::Review => "review",
            ChangedResource::Alert => "alert",
            ChangedResource::PartTimeTimetable => "part_time_timetable",
        }
    }

    pub fn parse(text: &str) -> Option<ChangedResource> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// What happened to the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    /// A referral was submitted (and assessed at once), or a part-time timetable agreed.
    Created,
    /// A referral's form was patched (and re-assessed), or a part-time timetable changed.
    Updated,
    /// A referral was assessed again on current data.
    Assessed,
    /// The LA decided a referral (R10.2).
    Decided,
    /// A referral was withdrawn.
    Withdrawn,
    /// A case opened on acceptance.
    Opened,
    /// Medical evidence was recorded for a case (R11.3, R11.4).
    EvidenceAdded,
    /// A case closed on its exit (R13).
    Closed,
    /// A review was planned when its case opened (R11).
    Planned,
    /// The LA added a review meeting.
    Added,
    /// A review moved: by the LA, or off a day the calendar no longer has as a school day.
    Rescheduled,
    /// A review was held (a case's, or a part-time timetable's), or satisfied by medical
    /// evidence.
    Held,
    /// A review was cancelled by its case's exit.
    Cancelled,
    /// An alert was raised.
    Raised,
    /// An alert was resolved.
    Resolved,
    /// An open alert's `since` moved (a corrected mark moved the day a threshold was reached).
    SinceMoved,
    /// A new version of the case's plan (R14.1), by a PUT or at a review (R14.2).
    PlanUpdated,
    /// An officer acknowledged an open alert (R16.3).
    Acknowledged,
}

impl ChangeAction {
    pub const ALL: [ChangeAction; 18] = [
        ChangeAction::Created,
        ChangeAction::Updated,
        ChangeAction::Assessed,
        ChangeAction::Decided,
        ChangeAction::Withdrawn,
        ChangeAction::Opened,
        ChangeAction::EvidenceAdded,
        ChangeAction::Closed,
        ChangeAction::Planned,
        ChangeAction::Added,
        ChangeAction::Rescheduled,
        ChangeAction::Held,
        ChangeAction::Cancelled,
        ChangeAction::Raised,
        ChangeAction::Resolved,
        ChangeAction::SinceMoved,
        ChangeAction::PlanUpdated,
        ChangeAction::Acknowledged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeAction::Created => "created",
            ChangeAction::Updated => "updated",
            ChangeAction::Assessed => "assessed",
            ChangeAction::Decided => "decided",
            ChangeAction::Withdrawn => "withdrawn",
            ChangeAction::Opened => "opened",
            ChangeAction::EvidenceAdded => "evidence_added",
            ChangeAction::Closed => "closed",
            ChangeAction::Planned => "planned",
            ChangeAction::Added => "added",
            ChangeAction::Rescheduled => "rescheduled",
            ChangeAction::Held => "held",
            ChangeAction::Cancelled => "cancelled",
            ChangeAction::Raised => "raised",
            ChangeAction::Resolved => "resolved",
            ChangeAction::SinceMoved => "since_moved",
            ChangeAction::PlanUpdated => "plan_updated",
            ChangeAction::Acknowledged => "acknowledged",
        }
    }

    pub fn parse(text: &str) -> Option<ChangeAction> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// One change, before the feed gives it its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub resource: ChangedResource,
    pub resource_id: i64,
    /// The school the resource belongs to (a review's and an alert's: its case's or pupil's).
    pub school_urn: i32,
    pub action: ChangeAction,
}

impl Change {
    pub fn referral(id: ReferralId, school_urn: i32, action: ChangeAction) -> Change {
        Change::of(ChangedResource::Referral, id.get(), school_urn, action)
    }
    pub fn case(id: CaseId, school_urn: i32, action: ChangeAction) -> Change {
        Change::of(ChangedResource::Case, id.get(), school_urn, action)
    }
    pub fn review(id: ReviewId, school_urn: i32, action: ChangeAction) -> Change {
        Change::of(ChangedResource::Review, id.get(), school_urn, action)
    }
    pub fn alert(id: i64, school_urn: i32, action: ChangeAction) -> Change {
        Change::of(ChangedResource::Alert, id, school_urn, action)
    }
    pub fn part_time_timetable(
        id: super::part_time::PartTimeTimetableId,
        school_urn: i32,
        action: ChangeAction,
    ) -> Change {
        Change::of(
            ChangedResource::PartTimeTimetable,
            id.get(),
            school_urn,
            action,
        )
    }
    fn of(
        resource: ChangedResource,
        resource_id: i64,
        school_urn: i32,
        action: ChangeAction,
    ) -> Change {
        Change {
            resource,
            resource_id,
            school_urn,
            action,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reads_back_as_itself() {
        for r in ChangedResource::ALL {
            assert_eq!(ChangedResource::parse(r.as_str()), Some(r));
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::json!(r.as_str())
            );
        }
        for a in ChangeAction::ALL {
            assert_eq!(ChangeAction::parse(a.as_str()), Some(a));
            assert_eq!(
                serde_json::to_value(a).unwrap(),
                serde_json::json!(a.as_str())
            );
        }
        assert_eq!(ChangeAction::parse("deleted"), None);
    }
}
