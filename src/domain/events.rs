//! The events someone must act on, and who may hear of them (API.md "Webhooks"; issue 7).
//! Pure: which event types exist, which alert raises which event, and whether a subscription
//! receives an event about a school.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::access::Role;
use crate::domain::alerts::AlertKind;

/// An event type a webhook subscription can ask for (API.md "Webhooks": the names are the
/// contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ToSchema)]
#[schema(description = "An event type a webhook subscription can ask for (API.md \"Webhooks\").")]
pub enum EventType {
    /// A referral arrived (already assessed: its outcome is in the data).
    #[schema(rename = "referral.received")]
    ReferralReceived,
    /// A referral was assessed again (a patch supplied missing information, or a re-run).
    #[schema(rename = "referral.assessed")]
    ReferralAssessed,
    /// The LA accepted, declined or gave guidance only (RULES.md R10.2).
    #[schema(rename = "referral.decided")]
    ReferralDecided,
    /// A review's scheduled day has come (RULES.md R11).
    #[schema(rename = "case.review_due")]
    CaseReviewDue,
    /// A review is past its day and not held (RULES.md R11.5).
    #[schema(rename = "case.review_overdue")]
    CaseReviewOverdue,
    /// An evidence gate is near with no evidence that counts for it (RULES.md R11.4).
    #[schema(rename = "case.medical_evidence_due")]
    CaseMedicalEvidenceDue,
    /// The LA recorded an exit (RULES.md R13).
    #[schema(rename = "case.closed")]
    CaseClosed,
    /// The case's ESMA lessons show non-engagement (RULES.md R14.5).
    #[schema(rename = "case.lesson_non_engagement")]
    CaseLessonNonEngagement,
    /// Cumulative illness reached 15 days: the sickness return is due (RULES.md R4.4).
    #[schema(rename = "attendance.sickness_return_due")]
    AttendanceSicknessReturnDue,
    /// An `N` is unresolved more than 5 school days on (RULES.md R5.1).
    #[schema(rename = "attendance.unexplained_absence_overdue")]
    AttendanceUnexplainedAbsenceOverdue,
    /// 10 school days of unauthorised absence, cumulative or in a row: the notice is due
    /// (RULES.md R16.1).
    #[schema(rename = "attendance.unauthorised_absence_10_days")]
    AttendanceUnauthorisedAbsence10Days,
    /// `C2` sessions no part-time timetable or case covers (RULES.md R15.3).
    #[schema(rename = "attendance.c2_without_agreement")]
    AttendanceC2WithoutAgreement,
    /// `C2` sessions after a part-time timetable's end date (RULES.md R15.3).
    #[schema(rename = "attendance.part_time_timetable_overrun")]
    AttendancePartTimeTimetableOverrun,
    /// A part-time timetable's review date passed with no review recorded (RULES.md R15.3).
    #[schema(rename = "attendance.part_time_review_overdue")]
    AttendancePartTimeReviewOverdue,
    /// A part-time timetable runs longer than the policy's school days (RULES.md R15.2).
    #[schema(rename = "attendance.part_time_timetable_prolonged")]
    AttendancePartTimeTimetableProlonged,
    /// A school recorded a part-time timetable agreement (RULES.md R15.1).
    #[schema(rename = "part_time_timetable.agreed")]
    PartTimeTimetableAgreed,
    /// A part-time timetable's end date changed (RULES.md R15.2).
    #[schema(rename = "part_time_timetable.extended")]
    PartTimeTimetableExtended,
    /// A part-time timetable's review was held (RULES.md R15.2).
    #[schema(rename = "part_time_timetable.reviewed")]
    PartTimeTimetableReviewed,
}

impl EventType {
    pub const ALL: [EventType; 18] = [
        EventType::ReferralReceived,
        EventType::ReferralAssessed,
        EventType::ReferralDecided,
        EventType::CaseReviewDue,
        EventType::CaseReviewOverdue,
        EventType::CaseMedicalEvidenceDue,
        EventType::CaseClosed,
        EventType::CaseLessonNonEngagement,
        EventType::AttendanceSicknessReturnDue,
        EventType::AttendanceUnexplainedAbsenceOverdue,
        EventType::AttendanceUnauthorisedAbsence10Days,
        EventType::AttendanceC2WithoutAgreement,
        EventType::AttendancePartTimeTimetableOverrun,
        EventType::AttendancePartTimeReviewOverdue,
        EventType::AttendancePartTimeTimetableProlonged,
        EventType::PartTimeTimetableAgreed,
        EventType::PartTimeTimetableExtended,
        EventType::PartTimeTimetableReviewed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ReferralReceived => "referral.received",
            EventType::ReferralAssessed => "referral.assessed",
            EventType::ReferralDecided => "referral.decided",
            EventType::CaseReviewDue => "case.review_due",
            EventType::CaseReviewOverdue => "case.review_overdue",
            EventType::CaseMedicalEvidenceDue => "case.medical_evidence_due",
            EventType::CaseClosed => "case.closed",
            EventType::CaseLessonNonEngagement => "case.lesson_non_engagement",
            EventType::AttendanceSicknessReturnDue => "attendance.sickness_return_due",
            EventType::AttendanceUnexplainedAbsenceOverdue => {
                "attendance.unexplained_absence_overdue"
            }
            EventType::AttendanceUnauthorisedAbsence10Days => {
                "attendance.unauthorised_absence_10_days"
            }
            EventType::AttendanceC2WithoutAgreement => "attendance.c2_without_agreement",
            EventType::AttendancePartTimeTimetableOverrun => {
                "attendance.part_time_timetable_overrun"
            }
            EventType::AttendancePartTimeReviewOverdue => "attendance.part_time_review_overdue",
            EventType::AttendancePartTimeTimetableProlonged => {
                "attendance.part_time_timetable_prolonged"
            }
            EventType::PartTimeTimetableAgreed => "part_time_timetable.agreed",
            EventType::PartTimeTimetableExtended => "part_time_timetable.extended",
            EventType::PartTimeTimetableReviewed => "part_time_timetable.reviewed",
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// Clock-driven events come from the periodic scan, not from a request's transaction.
    pub fn is_clock_driven(self) -> bool {
        matches!(
            self,
            EventType::CaseReviewDue
                | EventType::CaseReviewOverdue
                | EventType::CaseMedicalEvidenceDue
                | EventType::CaseLessonNonEngagement
                | EventType::AttendanceSicknessReturnDue
                | EventType::AttendanceUnexplainedAbsenceOverdue
                | EventType::AttendanceUnauthorisedAbsence10Days
                | EventType::AttendanceC2WithoutAgreement
                | EventType::AttendancePartTimeTimetableOverrun
                | EventType::AttendancePartTimeReviewOverdue
                | EventType::AttendancePartTimeTimetableProlonged
        )
    }

    /// The event an open alert of this kind announces, if any.
    pub fn announcing(kind: AlertKind) -> Option<EventType> {
        match kind {
            AlertKind::SicknessReturnDue => Some(EventType::AttendanceSicknessReturnDue),
            AlertKind::UnexplainedAbsenceOverdue => {
                Some(EventType::AttendanceUnexplainedAbsenceOverdue)
            }
            AlertKind::ReviewOverdue => Some(EventType::CaseReviewOverdue),
            AlertKind::MedicalEvidenceDue => Some(EventType::CaseMedicalEvidenceDue),
            AlertKind::LessonNonEngagement => Some(EventType::CaseLessonNonEngagement),
            AlertKind::UnauthorisedAbsence10Days => {
                Some(EventType::AttendanceUnauthorisedAbsence10Days)
            }
            AlertKind::C2WithoutAgreement => Some(EventType::AttendanceC2WithoutAgreement),
            AlertKind::PartTimeTimetableOverrun => {
                Some(EventType::AttendancePartTimeTimetableOverrun)
            }
            AlertKind::PartTimeReviewOverdue => Some(EventType::AttendancePartTimeReviewOverdue),
            AlertKind::PartTimeTimetableProlonged => {
                Some(EventType::AttendancePartTimeTimetableProlonged)
            }
            AlertKind::PersistentAbsence
            | AlertKind::SevereAbsence
            | AlertKind::AssessmentOverdue
            | AlertKind::RegisterCodeMismatch
            | AlertKind::SupportNonEngagement => None,
        }
    }
}

/// A subscription receives events while `active`; a 410 Gone from its receiver makes it
/// `disabled` (until its owner enables it again), its owner's delete `deleted` (kept for the
/// deliveries' history, never shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Active,
    Disabled,
    Deleted,
}

impl SubscriptionStatus {
    pub const ALL: [SubscriptionStatus; 3] = [
        SubscriptionStatus::Active,
        SubscriptionStatus::Disabled,
        SubscriptionStatus::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::Disabled => "disabled",
            SubscriptionStatus::Deleted => "deleted",
        }
    }

    pub fn parse(text: &str) -> Option<SubscriptionStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One event for one subscription: `pending` (due at its next attempt) until it is `delivered`,
/// `failed` (retries exhausted) or `cancelled` (the subscription was deleted or disabled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
    Cancelled,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 4] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
        DeliveryStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Over without being delivered, so its owner may put it back in the queue (issue 22): failed
    /// (retries exhausted), or cancelled when its subscription was disabled. A pending one is
    /// still being retried, a delivered one needs nothing.
    pub fn may_be_requeued(self) -> bool {
        matches!(self, DeliveryStatus::Failed | DeliveryStatus::Cancelled)
    }
}

/// Why a subscription's deliveries may not be requeued, or `None` when they may: only an active
/// subscription's are sent, so a disabled one must be enabled first (a 410 Gone said the
/// receiver wanted nothing more; its owner says when that has changed).
pub fn requeue_refusal(status: SubscriptionStatus) -> Option<&'static str> {
    match status {
        SubscriptionStatus::Active => None,
        SubscriptionStatus::Disabled => Some("is disabled"),
        SubscriptionStatus::Deleted => Some("is deleted"),
    }
}

/// Whether a subscription hears of an event about `school_urn`: an `la` client hears of every
/// school, a school client only of the schools it acted for when it subscribed (API.md: "school
/// for their own events"), and only of the types it asked for.
pub fn receives(
    role: Role,
    schools: &[i32],
    wanted: &[EventType],
    event: EventType,
    school_urn: i32,
) -> bool {
    if !wanted.contains(&event) {
        return false;
    }
    match role {
        Role::La => true,
        Role::School => schools.contains(&school_urn),
        Role::Admin => false,
    }
}

/// Why a webhook URL is refused, or `None` when it may be used. https only; plain http only to
/// a loopback address and only when insecure webhooks are allowed (development and tests).
/// No credentials in the URL (they would be stored and shown), no fragment.
pub fn url_problem(url: &str, allow_insecure_loopback: bool) -> Option<String> {
    let Ok(parsed) = url::Url::parse(url) else {
        return Some("the URL is not an absolute URL such as https://example.org/hooks".into());
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Some("the URL must not carry a user name or password".into());
    }
    if parsed.fragment().is_some() {
        return Some("the URL must not have a #fragment".into());
    }
    let Some(host) = parsed.host() else {
        return Some("the URL has no host".into());
    };
    match parsed.scheme() {
        "https" => None,
        "http" => {
            let loopback = match host {
                url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
                url::Host::Ipv4(ip) => ip.is_loopback(),
                url::Host::Ipv6(ip) => ip.is_loopback(),
            };
            if !loopback {
                Some("webhook URLs must use https".into())
            } else if !allow_insecure_loopback {
                Some(
                    "webhook URLs must use https (plain http to a loopback address needs \
                     ESMA_ALLOW_INSECURE_WEBHOOKS=1 on the server)"
                        .into(),
                )
            } else {
                None
            }
        }
        other => Some(format!("webhook URLs must use https, not {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_and_subscription_states_read_back_as_on_the_wire() {
        for s in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in SubscriptionStatus::ALL {
            assert_eq!(SubscriptionStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }

    #[test]
    fn only_undelivered_deliveries_of_active_subscriptions_are_requeued() {
        let requeued: Vec<DeliveryStatus> = DeliveryStatus::ALL
            .into_iter()
            .filter(|s| s.may_be_requeued())
            .collect();
        assert_eq!(
            requeued,
            [DeliveryStatus::Failed, DeliveryStatus::Cancelled]
        );
        assert_eq!(requeue_refusal(SubscriptionStatus::Active), None);
        assert!(requeue_refusal(SubscriptionStatus::Disabled).is_some());
        assert!(requeue_refusal(SubscriptionStatus::Deleted).is_some());
    }

    #[test]
    fn every_event_type_reads_back_from_its_name() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("referral.deleted"), None);
        assert_eq!(EventType::parse("Referral.Received"), None);
    }

    #[test]
    fn api_md_names_are_kept() {
        let names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(
            names,
            [
                "referral.received",
                "referral.assessed",
                "referral.decided",
                "case.review_due",
                "case.review_overdue",
                "case.medical_evidence_due",
                "case.closed",
                "case.lesson_non_engagement",
                "attendance.sickness_return_due",
                "attendance.unexplained_absence_overdue",
                "attendance.unauthorised_absence_10_days",
                "attendance.c2_without_agreement",
                "attendance.part_time_timetable_overrun",
                "attendance.part_time_review_overdue",
                "attendance.part_time_timetable_prolonged",
                "part_time_timetable.agreed",
                "part_time_timetable.extended",
                "part_time_timetable.reviewed"
            ]
        );
    }

    #[test]
    fn a_school_hears_only_of_its_own_schools_and_the_types_it_asked_for() {
        let wanted = [EventType::ReferralReceived];
        assert!(receives(
            Role::School,
            &[117001],
            &wanted,
            EventType::ReferralReceived,
            117001
        ));
        assert!(!receives(
            Role::School,
            &[117001],
            &wanted,
            EventType::ReferralReceived,
            117002
        ));
        assert!(!receives(
            Role::School,
            &[117001],
            &wanted,
            EventType::CaseClosed,
            117001
        ));
        assert!(!receives(
            Role::School,
            &[],
            &wanted,
            EventType::ReferralReceived,
            117001
        ));
        assert!(receives(
            Role::La,
            &[],
            &wanted,
            EventType::ReferralReceived,
            117002
        ));
        assert!(!receives(
            Role::Admin,
            &[],
            &wanted,
            EventType::ReferralReceived,
            117002
        ));
    }

    #[test]
    fn alerts_that_announce_events() {
        assert_eq!(
            EventType::announcing(AlertKind::SicknessReturnDue),
            Some(EventType::AttendanceSicknessReturnDue)
        );
        assert_eq!(EventType::announcing(AlertKind::PersistentAbsence), None);
        for kind in AlertKind::ALL {
            if let Some(t) = EventType::announcing(kind) {
                assert!(t.is_clock_driven(), "{kind:?}");
            }
        }
    }

    #[test]
    fn webhook_urls_are_https_or_loopback_when_allowed() {
        assert_eq!(
            url_problem("https://mis.example.org/hooks?x=1", false),
            None
        );
        assert!(url_problem("http://mis.example.org/hooks", true)
            .unwrap()
            .contains("https"));
        assert!(url_problem("http://127.0.0.1:9000/hooks", false)
            .unwrap()
            .contains("ESMA_ALLOW_INSECURE_WEBHOOKS"));
        assert_eq!(url_problem("http://127.0.0.1:9000/hooks", true), None);
        assert_eq!(url_problem("http://localhost:9000/", true), None);
        assert_eq!(url_problem("http://[::1]:9000/", true), None);
        assert!(url_problem("http://10.0.0.5/", true).is_some());
        assert!(url_problem("ftp://example.org/", true).is_some());
        assert!(url_problem("https://user:pw@example.org/", false).is_some());
        assert!(url_problem("https://example.org/#x", false).is_some());
        assert!(url_problem("not a url", false).is_some());
        assert!(url_problem("/relative", false).is_some());
    }
}
