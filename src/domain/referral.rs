//! The Hertfordshire ESMA service request (API.md "Referrals"; seed 004 "Requirements to submit"
//! and Annex 2) and the referral lifecycle (RULES.md R10).
//!
//! The form's shape is checked here (`validator`, 422 with pointers); what a form lacks for a
//! decision is not a shape error but a missing item of the assessment (R9), so most sections may
//! be incomplete when submitted and are completed later with a merge patch.

use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use super::decision::Decision;
use super::eligibility::EligibilityAssessment;
use super::identifiers::Upn;

/// Free text about a child's health, support or views. Never printed by `Debug`, so it cannot
/// reach a log line by accident (issue 5 "Privacy").
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Confidential(pub String);

impl Confidential {
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for Confidential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[confidential, {} chars]", self.0.chars().count())
    }
}

fn blank(text: &Option<Confidential>) -> bool {
    text.as_ref().is_none_or(Confidential::is_blank)
}

fn confidential_length(text: &Confidential) -> Result<(), ValidationError> {
    if text.0.chars().count() <= 10_000 {
        Ok(())
    } else {
        Err(ValidationError::new("length")
            .with_message("should be at most 10000 characters".into()))
    }
}

fn upn_rule(upn: &str) -> Result<(), ValidationError> {
    Upn::parse(upn)
        .map(|_| ())
        .map_err(|e| ValidationError::new("upn").with_message(e.to_string().into()))
}

fn name_rule(name: &str) -> Result<(), ValidationError> {
    let len = name.trim().chars().count();
    if (1..=100).contains(&len) {
        Ok(())
    } else {
        Err(ValidationError::new("length")
            .with_message("should be 1 to 100 characters, not blank".into()))
    }
}

/// UK postcode shape (outward code, space optional, inward code), e.g. `SG1 2AB`.
fn postcode_rule(postcode: &str) -> Result<(), ValidationError> {
    let compact: String = postcode
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    // ASCII only before splitting by bytes: anything else is not a postcode anyway.
    let ok =
        compact.bytes().all(|b| b.is_ascii_alphanumeric()) && (5..=7).contains(&compact.len()) && {
            let (outward, inward) = compact.split_at(compact.len() - 3);
            let ib = inward.as_bytes();
            outward.as_bytes()[0].is_ascii_alphabetic()
                && outward.bytes().all(|b| b.is_ascii_alphanumeric())
                && outward.bytes().any(|b| b.is_ascii_digit())
                && ib[0].is_ascii_digit()
                && ib[1].is_ascii_alphabetic()
                && ib[2].is_ascii_alphabetic()
        };
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new("postcode").with_message(
            format!(
                "'{}' is not a UK postcode like SG1 2AB",
                super::text::clip(postcode, super::text::ECHO_CHARS)
            )
            .into(),
        ))
    }
}

/// Health condition categories (API.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConditionCategory {
    Physical,
    Injury,
    MentalHealth,
    Emotional,
    Chronic,
    Progressive,
    Terminal,
    Other,
}

/// Who issued a piece of medical evidence (RULES.md R8.2; the policy says how each counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceSource {
    Consultant,
    Hospital,
    Camhs,
    Palms,
    Step2,
    NhsMentalHealthTier2,
    NhsMentalHealthTier3,
    Gp,
    SchoolNurse,
    Other,
}

impl EvidenceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceSource::Consultant => "consultant",
            EvidenceSource::Hospital => "hospital",
            EvidenceSource::Camhs => "camhs",
            EvidenceSource::Palms => "palms",
            EvidenceSource::Step2 => "step2",
            EvidenceSource::NhsMentalHealthTier2 => "nhs_mental_health_tier2",
            EvidenceSource::NhsMentalHealthTier3 => "nhs_mental_health_tier3",
            EvidenceSource::Gp => "gp",
            EvidenceSource::SchoolNurse => "school_nurse",
            EvidenceSource::Other => "other",
        }
    }

    /// How a parent would read it in a reason.
    pub fn describe(self) -> &'static str {
        match self {
            EvidenceSource::Consultant => "a consultant",
            EvidenceSource::Hospital => "a hospital",
            EvidenceSource::Camhs => "CAMHS",
            EvidenceSource::Palms => "PALMS",
            EvidenceSource::Step2 => "Step2",
            EvidenceSource::NhsMentalHealthTier2 => "an NHS tier 2 mental health service",
            EvidenceSource::NhsMentalHealthTier3 => "an NHS tier 3 mental health service",
            EvidenceSource::Gp => "a GP",
            EvidenceSource::SchoolNurse => "a school nurse",
            EvidenceSource::Other => "another source",
        }
    }
}

/// The pupil as the school knows them; must be on the referring school's roll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferredPupil {
    #[validate(custom(function = "upn_rule"))]
    #[schema(
        example = "H801200001001",
        pattern = "^[A-HJ-NP-RT-Z][0-9]{11}[0-9A-HJ-NP-RT-Z]$"
    )]
    pub upn: String,
    #[validate(custom(function = "name_rule"))]
    #[schema(min_length = 1, max_length = 100, example = "Amara")]
    pub legal_forename: String,
    #[validate(custom(function = "name_rule"))]
    #[schema(min_length = 1, max_length = 100, example = "Okafor")]
    pub legal_surname: String,
    #[schema(example = "2014-03-02")]
    pub date_of_birth: NaiveDate,
    #[validate(custom(function = "postcode_rule"))]
    #[schema(example = "SG1 2AB", max_length = 10)]
    pub postcode: Option<String>,
    /// The LA the pupil lives in (RULES.md R8.4); null when not known.
    #[validate(range(min = 100, max = 999, message = "should be a three-digit LA number"))]
    #[schema(example = 919, minimum = 100, maximum = 999)]
    pub home_la_code: Option<u16>,
    #[serde(default)]
    pub elective_home_education: bool,
}

/// The absence as the school records it (RULES.md R8.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AbsenceDeclaration {
    /// The first day of the absence the referral is about.
    #[schema(example = "2026-10-01")]
    pub first_day: NaiveDate,
    /// Whether the school has authorised the absence; null when it has not said.
    #[schema(example = true)]
    pub authorised_by_school: Option<bool>,
    #[serde(default)]
    pub reduced_timetable: bool,
}

/// One piece of medical evidence (RULES.md R8.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceItem {
    pub source: EvidenceSource,
    #[validate(length(max = 200, message = "should be at most 200 characters"))]
    #[schema(max_length = 200, example = "Dr A. Patel")]
    pub professional_name: Option<String>,
    #[validate(length(max = 200, message = "should be at most 200 characters"))]
    #[schema(max_length = 200, example = "01438 000000")]
    pub contact: Option<String>,
    #[schema(example = "2026-10-10")]
    pub issued_on: NaiveDate,
    /// The evidence says the pupil is unable to attend school.
    pub states_unable_to_attend: bool,
    /// How many school days the absence is likely to last, if the evidence says.
    #[validate(range(min = 1, max = 1000, message = "should be 1 to 1000 school days"))]
    #[schema(minimum = 1, maximum = 1000, example = 40)]
    pub likely_duration_school_days: Option<u32>,
}

/// Medical information (Annex 2 "Medical").
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MedicalInformation {
    pub condition_category: Option<ConditionCategory>,
    /// Free text; confidential.
    #[validate(custom(function = "confidential_length"))]
    #[schema(value_type = Option<String>, max_length = 10000, example = "Anxiety disorder, under CAMHS since June")]
    pub condition: Option<Confidential>,
    #[serde(default)]
    pub long_term_or_recurrent: bool,
    #[serde(default)]
    pub hospital_inpatient: bool,
    #[serde(default)]
    #[validate(length(max = 50, message = "give at most 50 evidence items"), nested)]
    #[schema(max_items = 50)]
    pub evidence: Vec<EvidenceItem>,
    #[serde(default)]
    pub treatment_plan_attached: bool,
    #[validate(custom(function = "confidential_length"))]
    #[schema(value_type = Option<String>, max_length = 10000, example = "Dr A. Patel, CAMHS North Herts")]
    pub named_medical_contact: Option<Confidential>,
}

/// Parental consent to share information (UK GDPR; Annex 2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    #[serde(default)]
    pub parental_consent_signed: bool,
    #[schema(example = "2026-10-12")]
    pub signed_on: Option<NaiveDate>,
    #[validate(length(max = 200, message = "should be at most 200 characters"))]
    #[schema(max_length = 200, example = "Grace Okafor (mother)")]
    pub signatory: Option<String>,
}

/// What the school already does (Annex 2 "Support").
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportInPlace {
    #[serde(default)]
    pub apdr_attached: bool,
    #[validate(custom(function = "confidential_length"))]
    #[schema(value_type = Option<String>, max_length = 10000, example = "Reduced timetable, key adult, work sent home weekly")]
    pub current_support_plan: Option<Confidential>,
    #[serde(default)]
    pub reintegration_plan_attached: bool,
    /// An individual healthcare plan exists.
    #[serde(default)]
    pub ihcp: bool,
}

/// Funding the pupil attracts (Annex 2 "Funding").
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Funding {
    #[serde(default)]
    pub ehcp: bool,
    #[serde(default)]
    pub local_high_needs_funding: bool,
    #[serde(default)]
    pub pupil_premium: bool,
    /// How the funding supports access to education.
    #[validate(custom(function = "confidential_length"))]
    #[schema(value_type = Option<String>, max_length = 10000, example = "Pupil premium funds a key adult for check-ins")]
    pub statement: Option<Confidential>,
}

/// Where the pupil is now (Annex 2 "Baseline").
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    #[validate(custom(function = "confidential_length"))]
    #[schema(value_type = Option<String>, max_length = 10000, example = "Working at expected standard in English and maths")]
    pub attainment: Option<Confidential>,
    #[validate(custom(function = "confidential_length"))]
    #[schema(value_type = Option<String>, max_length = 10000, example = "Completes work sent home about half the time")]
    pub engagement: Option<Confidential>,
    #[validate(custom(function = "confidential_length"))]
    #[schema(value_type = Option<String>, max_length = 10000, example = "Low mood, sleeping poorly")]
    pub wellbeing: Option<Confidential>,
}

/// Who at the school made the referral.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Referrer {
    #[validate(custom(function = "name_rule"))]
    #[schema(min_length = 1, max_length = 100, example = "Sam Reed")]
    pub name: String,
    #[validate(length(max = 100, message = "should be at most 100 characters"))]
    #[schema(max_length = 100, example = "SENDCo")]
    pub role: Option<String>,
    #[validate(email(message = "should be an email address"))]
    #[schema(example = "sendco@oakfield.herts.sch.uk", format = "email")]
    pub email: String,
}

/// The service request (API.md "Referrals"). Sections other than the pupil, the absence and the
/// referrer may be left out and supplied later; what is missing is reported by the assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferralForm {
    #[validate(range(min = 100000, max = 999999, message = "should be a six-digit URN"))]
    #[schema(example = 117001, minimum = 100000, maximum = 999999)]
    pub school_urn: i32,
    #[validate(nested)]
    pub pupil: ReferredPupil,
    #[validate(nested)]
    pub absence: AbsenceDeclaration,
    #[serde(default)]
    #[validate(nested)]
    pub medical: MedicalInformation,
    #[serde(default)]
    #[validate(nested)]
    pub consent: Consent,
    #[serde(default)]
    #[validate(nested)]
    pub support: SupportInPlace,
    #[serde(default)]
    #[validate(nested)]
    pub funding: Funding,
    #[serde(default)]
    #[validate(nested)]
    pub baseline: Baseline,
    /// The pupil's own view, in their words; confidential.
    #[validate(custom(function = "confidential_length"))]
    #[schema(value_type = Option<String>, max_length = 10000, example = "I want to keep up with my friends")]
    pub pupil_voice: Option<Confidential>,
    #[validate(nested)]
    pub referrer: Referrer,
}

impl ReferralForm {
    /// R11.4: when the form's medical evidence stating that the pupil cannot attend was issued
    /// (the evidence clocks of the case start from these).
    pub fn dates_unable_to_attend(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.medical
            .evidence
            .iter()
            .filter(|e| e.states_unable_to_attend)
            .map(|e| e.issued_on)
    }
    pub fn condition_missing(&self) -> bool {
        self.medical.condition_category.is_none() || blank(&self.medical.condition)
    }
    pub fn support_plan_missing(&self) -> bool {
        blank(&self.support.current_support_plan)
    }
    pub fn named_medical_contact_missing(&self) -> bool {
        blank(&self.medical.named_medical_contact)
    }
    pub fn funding_statement_missing(&self) -> bool {
        blank(&self.funding.statement)
    }
    /// The baseline parts not given, in form order.
    pub fn baseline_gaps(&self) -> Vec<&'static str> {
        let b = &self.baseline;
        [
            ("attainment", &b.attainment),
            ("engagement", &b.engagement),
            ("wellbeing", &b.wellbeing),
        ]
        .into_iter()
        .filter(|(_, text)| blank(text))
        .map(|(name, _)| name)
        .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Lifecycle (RULES.md R10.1)
// ---------------------------------------------------------------------------------------------

record_id!(
    /// A referral id.
    ReferralId
);

/// A referral as the service keeps it: the request as it stands, its state and the LA's decision.
#[derive(Debug, Clone)]
pub struct Referral {
    pub id: ReferralId,
    pub school_urn: i32,
    pub upn: String,
    pub status: ReferralStatus,
    pub form: ReferralForm,
    pub received_at: NaiveDateTime,
    pub assessment_due_by: NaiveDate,
    pub created_by: String,
    pub updated_at: NaiveDateTime,
    pub decision: Option<Decision>,
    pub decided_at: Option<NaiveDateTime>,
    pub withdrawn_at: Option<NaiveDateTime>,
    pub withdrawal_reason: Option<String>,
}

/// One assessment of a referral as kept (R8, R9): when, why, and the whole result.
#[derive(Debug, Clone)]
pub struct StoredAssessment {
    pub id: i64,
    pub evaluated_at: NaiveDateTime,
    pub trigger: AssessmentTrigger,
    pub assessment: EligibilityAssessment,
}

/// Why an assessment was made: the referral arrived, a patch changed it, or someone asked for
/// it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssessmentTrigger {
    Submitted,
    Patched,
    Requested,
}

impl AssessmentTrigger {
    pub const ALL: [AssessmentTrigger; 3] = [
        AssessmentTrigger::Submitted,
        AssessmentTrigger::Patched,
        AssessmentTrigger::Requested,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            AssessmentTrigger::Submitted => "submitted",
            AssessmentTrigger::Patched => "patched",
            AssessmentTrigger::Requested => "requested",
        }
    }

    pub fn parse(text: &str) -> Option<AssessmentTrigger> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReferralStatus {
    Submitted,
    Incomplete,
    Accepted,
    Declined,
    GuidanceOnly,
    Withdrawn,
}

impl ReferralStatus {
    pub const ALL: [ReferralStatus; 6] = [
        ReferralStatus::Submitted,
        ReferralStatus::Incomplete,
        ReferralStatus::Accepted,
        ReferralStatus::Declined,
        ReferralStatus::GuidanceOnly,
        ReferralStatus::Withdrawn,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ReferralStatus::Submitted => "submitted",
            ReferralStatus::Incomplete => "incomplete",
            ReferralStatus::Accepted => "accepted",
            ReferralStatus::Declined => "declined",
            ReferralStatus::GuidanceOnly => "guidance_only",
            ReferralStatus::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(text: &str) -> Option<ReferralStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Submitted or incomplete: the LA has not decided and nobody has withdrawn it.
    pub fn is_undecided(self) -> bool {
        matches!(self, ReferralStatus::Submitted | ReferralStatus::Incomplete)
    }

    /// R10.1: an undecided referral is `incomplete` exactly when its latest assessment is.
    pub fn after_assessment(outcome: super::eligibility::Outcome) -> ReferralStatus {
        match outcome {
            super::eligibility::Outcome::Incomplete => ReferralStatus::Incomplete,
            _ => ReferralStatus::Submitted,
        }
    }

    /// Why a change is refused in this state (R10.1), for a 409.
    pub fn refusal(self, wanted: &str) -> String {
        match self {
            ReferralStatus::Withdrawn => {
                format!("the referral was withdrawn, so it cannot be {wanted}")
            }
            decided => format!(
                "the referral has been decided ({}), so it cannot be {wanted}",
                decided.as_str()
            ),
        }
    }
}

impl fmt::Display for ReferralStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidential_text_never_shows_in_debug_output() {
        let form = MedicalInformation {
            condition: Some(Confidential("epilepsy with nocturnal seizures".into())),
            ..MedicalInformation::default()
        };
        let printed = format!("{form:?}");
        assert!(!printed.contains("epilepsy"), "{printed}");
        assert!(printed.contains("[confidential, 32 chars]"), "{printed}");
        // ... but it is kept and served as written.
        assert_eq!(
            serde_json::to_value(&form.condition).unwrap(),
            serde_json::json!("epilepsy with nocturnal seizures")
        );
    }

    #[test]
    fn postcodes_are_checked_for_shape_only() {
        for ok in [
            "SG1 2AB", "sg12ab", "EC1A 1BB", "W1A 0AX", "M1 1AE", "AL10 9AB",
        ] {
            assert!(postcode_rule(ok).is_ok(), "{ok}");
        }
        for bad in [
            "SG1",
            "12345",
            "SG1 2A",
            "SG1-2AB!",
            "ZZZZ ZZZ",
            "0\u{10000}",
            "SG1 2Ä B",
            "ÄÄÄÄÄ",
        ] {
            assert!(postcode_rule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn undecided_states_and_refusals() {
        assert!(ReferralStatus::Submitted.is_undecided());
        assert!(ReferralStatus::Incomplete.is_undecided());
        assert!(!ReferralStatus::Accepted.is_undecided());
        assert!(ReferralStatus::Declined
            .refusal("withdrawn")
            .contains("has been decided (declined)"));
        assert!(ReferralStatus::Withdrawn
            .refusal("decided")
            .contains("was withdrawn"));
        for s in ReferralStatus::ALL {
            assert_eq!(ReferralStatus::parse(s.as_str()), Some(s));
        }
    }
}
