//! The LA's ESMA policy as data (ARCHITECTURE.md "Policy"; RULES.md R8, R10.3): thresholds, the
//! evidence sources that count, the LA code. Loaded from TOML; the Hertfordshire policy is
//! compiled in as the default. Every stored assessment names the policy and version it used.

use serde::{Deserialize, Serialize};

use super::attendance::AttendancePolicy;
use super::codes::AttendanceCode;
use super::referral::EvidenceSource;
use super::schedule::SchedulePolicy;

/// The compiled-in default, kept as the TOML an LA would edit.
pub const HERTFORDSHIRE_TOML: &str = include_str!("hertfordshire-esma-policy.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub name: String,
    pub version: String,
    /// The LA whose residents the service is for (R8.4).
    pub la_code: u16,
    /// Sources whose evidence meets the medical criterion (R8.2).
    pub targeted_evidence_sources: Vec<EvidenceSource>,
    /// Sources whose evidence meets it with conditions (R8.2).
    pub universal_evidence_sources: Vec<EvidenceSource>,
    /// Newest qualifying evidence older than this many days needs updating (R8.2).
    pub evidence_max_age_days: u32,
    /// Illness days, or expected school days of absence, that meet R8.5.
    pub entry_absence_days: u32,
    /// School days from receipt to the assessment deadline (R10.3).
    pub assessment_school_days: u32,
    /// Register thresholds (R2.2, R4, R5).
    pub attendance: AttendancePolicy,
    /// Review cadences and evidence gates of a case (R11).
    pub schedule: SchedulePolicy,
    /// The register during support (R12).
    pub support: SupportPolicy,
    /// Part-time timetables' review cadence and how long is prolonged (R15); the defaults when
    /// an older policy file has no `[part_time]`.
    #[serde(default)]
    pub part_time: super::part_time::PartTimePolicy,
}

/// RULES.md R12.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportPolicy {
    /// Codes for supported sessions; the first is the one to use (R12.1).
    pub register_codes: Vec<AttendanceCode>,
    /// Unauthorised sessions ... (R12.2)
    pub non_engagement_sessions: u32,
    /// ... within this many school days up to today.
    pub non_engagement_school_days: u32,
    /// R14.5: ESMA lesson attendance over the last 10 planned lessons below this percentage.
    pub lesson_attendance_alert_percent: u32,
}

/// Which policy an assessment was made under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRef {
    pub name: String,
    pub version: String,
}

/// How a source's evidence counts (R8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceStanding {
    TargetedOrSpecialist,
    Universal,
    Other,
}

impl Policy {
    /// The Hertfordshire policy compiled into the binary.
    pub fn hertfordshire() -> Policy {
        // A test proves the embedded file parses and validates; this cannot fail at run time.
        Policy::from_toml(HERTFORDSHIRE_TOML)
            .unwrap_or_else(|e| unreachable!("the compiled-in policy is checked by a test: {e}"))
    }

    /// Parses and checks a policy file; errors say what to fix.
    pub fn from_toml(text: &str) -> Result<Policy, String> {
        let policy: Policy =
            toml::from_str(text).map_err(|e| format!("policy file: {}", e.message()))?;
        policy.check()?;
        Ok(policy)
    }

    fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() || self.version.trim().is_empty() {
            return Err("policy file: name and version must not be empty".to_string());
        }
        if !(100..=999).contains(&self.la_code) {
            return Err(format!(
                "policy file: la_code should be a three-digit LA number, not {}",
                self.la_code
            ));
        }
        if let Some(both) = self
            .targeted_evidence_sources
            .iter()
            .find(|s| self.universal_evidence_sources.contains(s))
        {
            return Err(format!(
                "policy file: evidence source {} is listed as both targeted and universal",
                both.as_str()
            ));
        }
        if self.entry_absence_days == 0 || self.assessment_school_days == 0 {
            return Err(
                "policy file: entry_absence_days and assessment_school_days must be at least 1"
                    .to_string(),
            );
        }
        if self.support.register_codes.is_empty() {
            return Err("policy file: support.register_codes must name at least one code".into());
        }
        if self.schedule.review_interval_school_days == 0 {
            return Err(
                "policy file: schedule.review_interval_school_days must be at least 1".into(),
            );
        }
        if self.attendance.illness_codes.is_empty() {
            return Err("policy file: attendance.illness_codes must name at least one code".into());
        }
        Ok(())
    }

    pub fn reference(&self) -> PolicyRef {
        PolicyRef {
            name: self.name.clone(),
            version: self.version.clone(),
        }
    }

    pub fn standing_of(&self, source: EvidenceSource) -> SourceStanding {
        if self.targeted_evidence_sources.contains(&source) {
            SourceStanding::TargetedOrSpecialist
        } else if self.universal_evidence_sources.contains(&source) {
            SourceStanding::Universal
        } else {
            SourceStanding::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_policy_is_hertfordshires() {
        let p = Policy::from_toml(HERTFORDSHIRE_TOML).expect("embedded policy parses");
        assert_eq!(p.la_code, 919);
        assert_eq!(p.evidence_max_age_days, 120);
        assert_eq!(p.entry_absence_days, 15);
        assert_eq!(p.assessment_school_days, 15);
        assert_eq!(p.attendance, AttendancePolicy::default());
        assert_eq!(p.schedule, SchedulePolicy::default());
        assert_eq!(
            p.support.register_codes,
            [AttendanceCode::C2, AttendanceCode::K]
        );
        assert_eq!(
            p.standing_of(EvidenceSource::Camhs),
            SourceStanding::TargetedOrSpecialist
        );
        assert_eq!(p.standing_of(EvidenceSource::Gp), SourceStanding::Universal);
        assert_eq!(p.standing_of(EvidenceSource::Other), SourceStanding::Other);
    }

    #[test]
    fn a_policy_file_with_a_typo_or_a_contradiction_is_refused_with_the_reason() {
        let typo = HERTFORDSHIRE_TOML.replace("evidence_max_age_days", "evidence_max_age");
        assert!(Policy::from_toml(&typo)
            .unwrap_err()
            .contains("evidence_max_age"));
        let both = HERTFORDSHIRE_TOML.replace("[\"gp\"", "[\"camhs\", \"gp\"");
        assert!(Policy::from_toml(&both)
            .unwrap_err()
            .contains("camhs is listed as both"));
        let la = HERTFORDSHIRE_TOML.replace("la_code = 919", "la_code = 9190");
        assert!(Policy::from_toml(&la).unwrap_err().contains("three-digit"));
        let other =
            HERTFORDSHIRE_TOML.replace("name = \"Hertfordshire ESMA\"", "name = \"Test LA\"");
        assert_eq!(Policy::from_toml(&other).unwrap().name, "Test LA");
    }
}
