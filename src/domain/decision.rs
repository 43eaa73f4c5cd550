//! The LA's decision on a referral (RULES.md R10.2): what each outcome needs. Pure: returns the
//! problems as JSON Pointers into the decision, for a 422.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::calendar::SchoolCalendar;
use super::eligibility::{long_date, Outcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionOutcome {
    Accepted,
    Declined,
    GuidanceOnly,
}

impl DecisionOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionOutcome::Accepted => "accepted",
            DecisionOutcome::Declined => "declined",
            DecisionOutcome::GuidanceOnly => "guidance_only",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProvisionKind {
    TelepresenceRobot,
    GroupTeaching,
    OneToOneTuition,
    ReintegrationSupport,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Venue {
    Online,
    EsmaBase,
    SchoolSite,
    Home,
}

/// One strand of the teaching offered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisionItem {
    pub kind: ProvisionKind,
    /// Hours a week, in half hours: 0.5 to 25 (a full-time week).
    #[validate(range(min = 0.5, max = 25.0, message = "should be 0.5 to 25 hours a week"))]
    #[schema(minimum = 0.5, maximum = 25, example = 5)]
    pub hours_per_week: f64,
    pub venue: Venue,
}

/// `POST /api/v1/referrals/{id}/decision` (API.md "Referrals").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub outcome: DecisionOutcome,
    /// Why: needed when declining (the failed criteria are offered as reasons).
    #[serde(default)]
    #[validate(length(max = 20, message = "give at most 20 reasons"))]
    #[schema(max_items = 20, example = json!([]))]
    pub reasons: Vec<String>,
    /// The first day of support: a school day (accepted only).
    #[schema(example = "2026-12-01")]
    pub start_date: Option<NaiveDate>,
    /// The teaching offered (accepted only; at least one item).
    #[serde(default)]
    #[validate(length(max = 10, message = "give at most 10 provision items"), nested)]
    #[schema(max_items = 10)]
    pub provision: Vec<ProvisionItem>,
    /// Needed (true) when any provision is at home.
    pub risk_assessment_completed: Option<bool>,
    /// Needed to accept a referral whose latest assessment is not `eligible`.
    #[validate(length(max = 2000, message = "should be at most 2000 characters"))]
    #[schema(max_length = 2000)]
    pub override_reason: Option<String>,
    #[validate(length(min = 1, max = 200, message = "say who decided (1 to 200 characters)"))]
    #[schema(min_length = 1, max_length = 200, example = "J. Smith, ESMA panel")]
    pub decided_by: String,
}

fn blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// RULES.md R10.2: the problems with `decision` for a referral whose latest assessment is
/// `assessed`, received on `received_on`; `failed_reasons` are offered when declining without a
/// reason. Empty when the decision can be recorded.
pub fn decision_problems(
    decision: &Decision,
    assessed: Outcome,
    failed_reasons: &[String],
    received_on: NaiveDate,
    calendar: &SchoolCalendar,
) -> Vec<(String, String)> {
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut problem =
        |pointer: &str, message: String| problems.push((pointer.to_string(), message));
    if blank(&decision.decided_by) {
        problem("/decided_by", "say who decided".to_string());
    }
    for (i, reason) in decision.reasons.iter().enumerate() {
        if blank(reason) || reason.chars().count() > 2000 {
            problem(
                &format!("/reasons/{i}"),
                "a reason should be 1 to 2000 characters, not blank".to_string(),
            );
        }
    }
    match decision.outcome {
        DecisionOutcome::Accepted => {
            let override_given = decision
                .override_reason
                .as_deref()
                .is_some_and(|r| !blank(r));
            if assessed != Outcome::Eligible && !override_given {
                problem(
                    "/override_reason",
                    format!(
                        "the latest assessment is {}: accepting it needs an override_reason saying why",
                        assessed.as_str()
                    ),
                );
            }
            if decision.provision.is_empty() {
                problem(
                    "/provision",
                    "accepting needs at least one provision item (kind, hours_per_week, venue)"
                        .to_string(),
                );
            }
            match decision.start_date {
                None => problem("/start_date", "accepting needs a start_date".to_string()),
                Some(start) if !calendar.is_school_day(start) => problem(
                    "/start_date",
                    format!(
                        "{} is not a school day; the next one is {}",
                        long_date(start),
                        calendar.next_school_day_on_or_after(start)
                    ),
                ),
                Some(start) if start < received_on => problem(
                    "/start_date",
                    format!(
                        "support cannot start before the referral was received ({received_on})"
                    ),
                ),
                Some(_) => {}
            }
            let at_home = decision.provision.iter().any(|p| p.venue == Venue::Home);
            if at_home && decision.risk_assessment_completed != Some(true) {
                problem(
                    "/risk_assessment_completed",
                    "teaching at home needs a completed risk assessment (risk_assessment_completed: true)"
                        .to_string(),
                );
            }
        }
        DecisionOutcome::Declined | DecisionOutcome::GuidanceOnly => {
            let declined = decision.outcome == DecisionOutcome::Declined;
            if declined && !decision.reasons.iter().any(|r| !blank(r)) {
                problem(
                    "/reasons",
                    if failed_reasons.is_empty() {
                        "declining needs at least one reason".to_string()
                    } else {
                        format!(
                            "declining needs at least one reason; the criteria not met were: {}",
                            failed_reasons.join(" ")
                        )
                    },
                );
            }
            let what = decision.outcome.as_str();
            if !decision.provision.is_empty() {
                problem("/provision", format!("a referral {what} has no provision"));
            }
            if decision.start_date.is_some() {
                problem(
                    "/start_date",
                    format!("a referral {what} has no start date"),
                );
            }
            if decision.override_reason.is_some() {
                problem(
                    "/override_reason",
                    "an override reason is only for accepting a referral that is not eligible"
                        .to_string(),
                );
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::hertfordshire_2026_27;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn accept() -> Decision {
        Decision {
            outcome: DecisionOutcome::Accepted,
            reasons: vec![],
            start_date: Some(d("2026-12-01")),
            provision: vec![ProvisionItem {
                kind: ProvisionKind::OneToOneTuition,
                hours_per_week: 5.0,
                venue: Venue::Online,
            }],
            risk_assessment_completed: None,
            override_reason: None,
            decided_by: "J. Smith".into(),
        }
    }

    fn problems(decision: &Decision, assessed: Outcome) -> Vec<String> {
        let calendar = SchoolCalendar::new(vec![hertfordshire_2026_27()]);
        decision_problems(
            decision,
            assessed,
            &["Illness recorded on 3 school days.".to_string()],
            d("2026-11-23"),
            &calendar,
        )
        .into_iter()
        .map(|(pointer, message)| format!("{pointer}: {message}"))
        .collect()
    }

    #[test]
    fn accepting_an_eligible_referral_with_provision_and_a_school_day() {
        assert!(problems(&accept(), Outcome::Eligible).is_empty());
    }

    #[test]
    fn accepting_a_referral_that_is_not_eligible_needs_an_override_reason() {
        let p = problems(&accept(), Outcome::Ineligible);
        assert_eq!(
            p,
            vec!["/override_reason: the latest assessment is ineligible: accepting it needs an override_reason saying why"]
        );
        assert_eq!(problems(&accept(), Outcome::Incomplete).len(), 1);
        let mut overridden = accept();
        overridden.override_reason = Some("Consultant letter arrived by post".into());
        assert!(problems(&overridden, Outcome::Ineligible).is_empty());
    }

    #[test]
    fn acceptance_needs_provision_a_school_day_start_and_a_risk_assessment_for_home() {
        let mut d1 = accept();
        d1.provision.clear();
        assert!(problems(&d1, Outcome::Eligible)[0].starts_with("/provision"));
        let mut weekend = accept();
        weekend.start_date = Some(d("2026-11-28"));
        assert_eq!(
            problems(&weekend, Outcome::Eligible),
            vec!["/start_date: 28 November 2026 is not a school day; the next one is 2026-11-30"]
        );
        let mut half_term = accept();
        half_term.start_date = Some(d("2026-10-27"));
        assert!(problems(&half_term, Outcome::Eligible)[0].starts_with("/start_date"));
        let mut none = accept();
        none.start_date = None;
        assert!(problems(&none, Outcome::Eligible)[0].starts_with("/start_date: accepting needs"));
        let mut before = accept();
        before.start_date = Some(d("2026-11-20"));
        assert!(
            problems(&before, Outcome::Eligible)[0].contains("before the referral was received")
        );
        let mut home = accept();
        home.provision[0].venue = Venue::Home;
        assert!(problems(&home, Outcome::Eligible)[0].starts_with("/risk_assessment_completed"));
        home.risk_assessment_completed = Some(true);
        assert!(problems(&home, Outcome::Eligible).is_empty());
    }

    #[test]
    fn declining_needs_a_reason_and_is_offered_the_failed_criteria() {
        let decline = Decision {
            outcome: DecisionOutcome::Declined,
            start_date: None,
            provision: vec![],
            ..accept()
        };
        let p = problems(&decline, Outcome::Ineligible);
        assert_eq!(
            p,
            vec!["/reasons: declining needs at least one reason; the criteria not met were: Illness recorded on 3 school days."]
        );
        let mut with_reason = decline.clone();
        with_reason.reasons = vec!["Not 15 days yet".into()];
        assert!(problems(&with_reason, Outcome::Ineligible).is_empty());
        let mut blank_reason = decline.clone();
        blank_reason.reasons = vec!["  ".into()];
        assert_eq!(problems(&blank_reason, Outcome::Ineligible).len(), 2);
        let guidance = Decision {
            outcome: DecisionOutcome::GuidanceOnly,
            ..decline.clone()
        };
        assert!(problems(&guidance, Outcome::Eligible).is_empty());
        let mut with_provision = with_reason;
        with_provision.provision = accept().provision;
        assert_eq!(
            problems(&with_provision, Outcome::Eligible),
            vec!["/provision: a referral declined has no provision"]
        );
    }
}
