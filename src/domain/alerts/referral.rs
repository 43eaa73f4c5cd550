//! The alert of an undecided referral (RULES.md R10.3).

use chrono::NaiveDate;

use super::{referral_subject_of, AlertKey, AlertKind, WantedAlert};
use crate::domain::calendar::AcademicYear;

/// What the referral rule knows of one undecided referral.
#[derive(Debug, Clone, Copy)]
pub struct ReferralFacts<'a> {
    pub referral_id: i64,
    pub school_urn: i32,
    pub upn: &'a str,
    pub received_on: NaiveDate,
    /// R10.3: the received date plus the policy's assessment school days.
    pub assessment_due_by: NaiveDate,
}

/// R10.3: an undecided referral still undecided after its assessment deadline, overdue from
/// the day after it.
pub fn assessment_overdue(referral: &ReferralFacts<'_>, today: NaiveDate) -> Option<WantedAlert> {
    let due_by = referral.assessment_due_by;
    (due_by < today).then(|| WantedAlert {
        key: AlertKey {
            kind: AlertKind::AssessmentOverdue,
            school_urn: referral.school_urn,
            upn: referral.upn.to_owned(),
            subject: referral_subject_of(referral.referral_id),
        },
        year: AcademicYear::containing(referral.received_on),
        since: due_by.succ_opt().unwrap_or(due_by),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn r10_3_overdue_from_the_day_after_the_deadline() {
        let referral = ReferralFacts {
            referral_id: 12,
            school_urn: 117001,
            upn: "H801200001001",
            received_on: date("2026-08-28"),
            assessment_due_by: date("2026-09-18"),
        };
        assert_eq!(assessment_overdue(&referral, date("2026-09-18")), None);
        let wanted = assessment_overdue(&referral, date("2026-09-19")).unwrap();
        assert_eq!(wanted.key.subject, "referral 12");
        assert_eq!(wanted.since, date("2026-09-19"));
        // The academic year it was received in.
        assert_eq!(wanted.year, AcademicYear::new(2025));
    }
}
