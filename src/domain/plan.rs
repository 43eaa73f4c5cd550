//! The Holistic Reintegration Plan of a case and the progress reviews record against it
//! (RULES.md R14.1, R14.2; API.md "Support delivery"). Pure: the caller loads the versions, the
//! referral's funding and the review; these functions say what is missing or wrong.

use std::collections::{BTreeSet, HashSet};
use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::case::{CaseId, ReviewId};

/// `draft` until everything R14.1 lists is there and the plan is `agreed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    Draft,
    Agreed,
}

impl PlanStatus {
    pub const ALL: [PlanStatus; 2] = [PlanStatus::Draft, PlanStatus::Agreed];

    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Draft => "draft",
            PlanStatus::Agreed => "agreed",
        }
    }

    pub fn parse(text: &str) -> Option<PlanStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for PlanStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a target belongs to (R14.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetOwner {
    School,
    Esma,
    Parent,
    Pupil,
    Health,
}

/// Progress on a target at a review (R14.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Progress {
    NotStarted,
    InProgress,
    Achieved,
    /// The target was changed at the review (a note says how).
    Revised,
    /// The target was given up (a note says why).
    Dropped,
}

impl Progress {
    pub const ALL: [Progress; 5] = [
        Progress::NotStarted,
        Progress::InProgress,
        Progress::Achieved,
        Progress::Revised,
        Progress::Dropped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Progress::NotStarted => "not_started",
            Progress::InProgress => "in_progress",
            Progress::Achieved => "achieved",
            Progress::Revised => "revised",
            Progress::Dropped => "dropped",
        }
    }

    pub fn parse(text: &str) -> Option<Progress> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// R14.2: `revised` and `dropped` say why in a note.
    pub fn needs_note(self) -> bool {
        matches!(self, Progress::Revised | Progress::Dropped)
    }
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the pupil starts (R14.1): attainment in the core subjects on a stated scale, as text on
/// that scale (schools use different scales: working-at grades, reading ages, GCSE grades), and
/// engagement and emotional wellbeing in words.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
// The referral form has a `Baseline` of its own (R9): the spec names this one apart.
#[schema(as = PlanBaseline)]
pub struct Baseline {
    /// The scale the attainment values are on.
    #[validate(length(max = 200, message = "should be at most 200 characters"))]
    #[schema(max_length = 200, example = "national curriculum: WTS / EXS / GDS")]
    pub scale: Option<String>,
    #[validate(length(max = 1000, message = "should be at most 1000 characters"))]
    #[schema(max_length = 1000, example = "WTS")]
    pub english: Option<String>,
    #[validate(length(max = 1000, message = "should be at most 1000 characters"))]
    #[schema(max_length = 1000, example = "WTS")]
    pub maths: Option<String>,
    #[validate(length(max = 1000, message = "should be at most 1000 characters"))]
    #[schema(max_length = 1000, example = "EXS")]
    pub science: Option<String>,
    #[validate(length(max = 5000, message = "should be at most 5000 characters"))]
    #[schema(max_length = 5000, example = "joins online lessons two days in three")]
    pub engagement: Option<String>,
    #[validate(length(max = 5000, message = "should be at most 5000 characters"))]
    #[schema(
        max_length = 5000,
        example = "anxious about returning; sleeping better"
    )]
    pub emotional_wellbeing: Option<String>,
}

/// A target of the plan. `id` is the server's: leave it out for a new target, send it back to
/// keep the target (and its progress) across versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    #[schema(example = 1)]
    pub id: Option<i64>,
    #[validate(length(min = 1, max = 2000, message = "should be 1 to 2000 characters"))]
    #[schema(
        min_length = 1,
        max_length = 2000,
        example = "attend two mornings a week in school"
    )]
    pub description: String,
    pub owner: TargetOwner,
    #[validate(length(min = 1, max = 2000, message = "should be 1 to 2000 characters"))]
    #[schema(
        min_length = 1,
        max_length = 2000,
        example = "register marks, half-termly"
    )]
    pub measure: String,
    #[schema(example = "2027-02-12")]
    pub by: Option<NaiveDate>,
}

/// One phase of the return to school (R14.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReintegrationStep {
    #[schema(example = "2027-01-11")]
    pub from: NaiveDate,
    /// Sessions (half days) a week in school from that date.
    #[validate(range(max = 10, message = "should be 0 to 10 sessions a week"))]
    #[schema(maximum = 10, example = 2)]
    pub sessions_per_week: u8,
}

/// The whole plan, as `PUT` takes it and as each version keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    pub status: PlanStatus,
    #[serde(default)]
    #[validate(nested)]
    pub baseline: Baseline,
    #[serde(default)]
    #[validate(length(max = 50, message = "give at most 50 targets"), nested)]
    #[schema(max_items = 50)]
    pub targets: Vec<Target>,
    #[validate(length(max = 10000, message = "should be at most 10000 characters"))]
    #[schema(
        max_length = 10000,
        example = "I want to be back with my friends for science"
    )]
    pub pupil_voice: Option<String>,
    #[validate(length(max = 10000, message = "should be at most 10000 characters"))]
    #[schema(
        max_length = 10000,
        example = "mornings are hardest; start with afternoons"
    )]
    pub parent_voice: Option<String>,
    #[serde(default)]
    #[validate(length(max = 20, message = "give at most 20 steps"), nested)]
    #[schema(max_items = 20)]
    pub reintegration_steps: Vec<ReintegrationStep>,
    /// How EHCP, local high-needs funding or pupil premium is used (needed to agree when the
    /// pupil has any of them).
    #[validate(length(max = 10000, message = "should be at most 10000 characters"))]
    #[schema(max_length = 10000, example = "pupil premium funds the AV1 robot")]
    pub funding_statement: Option<String>,
}

fn blank(text: &Option<String>) -> bool {
    text.as_deref().is_none_or(|t| t.trim().is_empty())
}

/// A (pointer, message) problem; `prefix` puts it inside an outer body (`/revised_plan`).
type Problem = (String, String);

/// R14.1: what agreeing the plan still lacks, one problem per missing item. `funded`: the pupil
/// has an EHCP, local high-needs funding or pupil premium.
pub fn check_agreement(plan: &PlanBody, funded: bool, prefix: &str) -> Vec<Problem> {
    let mut missing = Vec::new();
    let mut need = |pointer: &str, message: &str| {
        missing.push((format!("{prefix}{pointer}"), message.to_string()));
    };
    if plan.targets.is_empty() {
        need("/targets", "an agreed plan has at least one target");
    }
    if blank(&plan.pupil_voice) {
        need(
            "/pupil_voice",
            "an agreed plan records the pupil's voice (the pupil is involved in the plan)",
        );
    }
    let b = &plan.baseline;
    for (pointer, value, what) in [
        (
            "/baseline/scale",
            &b.scale,
            "the scale the attainment baseline is on",
        ),
        ("/baseline/english", &b.english, "a baseline for English"),
        ("/baseline/maths", &b.maths, "a baseline for maths"),
        ("/baseline/science", &b.science, "a baseline for science"),
        (
            "/baseline/engagement",
            &b.engagement,
            "a baseline for engagement",
        ),
        (
            "/baseline/emotional_wellbeing",
            &b.emotional_wellbeing,
            "a baseline for emotional wellbeing",
        ),
    ] {
        if blank(value) {
            need(pointer, &format!("an agreed plan needs {what}"));
        }
    }
    if funded && blank(&plan.funding_statement) {
        need(
            "/funding_statement",
            "the pupil has an EHCP, local high-needs funding or pupil premium: an agreed plan says how that funding is used",
        );
    }
    missing
}

/// Target ids sent back must be ones the case's plan has had, each once; descriptions and
/// measures say something.
pub fn check_targets(plan: &PlanBody, known: &BTreeSet<i64>, prefix: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for (i, t) in plan.targets.iter().enumerate() {
        if let Some(id) = t.id {
            if !known.contains(&id) {
                problems.push((
                    format!("{prefix}/targets/{i}/id"),
                    format!("the plan has no target {id}; leave id out for a new target"),
                ));
            } else if !seen.insert(id) {
                problems.push((
                    format!("{prefix}/targets/{i}/id"),
                    format!("target {id} appears twice"),
                ));
            }
        }
        if t.description.trim().is_empty() {
            problems.push((
                format!("{prefix}/targets/{i}/description"),
                "say what the target is".to_string(),
            ));
        }
        if t.measure.trim().is_empty() {
            problems.push((
                format!("{prefix}/targets/{i}/measure"),
                "say how the target is measured".to_string(),
            ));
        }
    }
    problems
}

/// Gives each new target the next id after every id the case's plan has used, so an id names
/// one target for the life of the case.
pub fn assign_target_ids(plan: &mut PlanBody, known: &BTreeSet<i64>) {
    let first = known.last().copied().unwrap_or(0) + 1;
    let new = plan.targets.iter_mut().filter(|t| t.id.is_none());
    for (id, t) in (first..).zip(new) {
        t.id = Some(id);
    }
}

/// Every target id a plan version carries.
pub fn target_ids(plan: &PlanBody) -> impl Iterator<Item = i64> + '_ {
    plan.targets.iter().filter_map(|t| t.id)
}

/// Progress on one target, as a review outcome gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetProgress {
    #[schema(example = 1)]
    pub target_id: i64,
    pub progress: Progress,
    /// Needed for `revised` and `dropped`.
    #[validate(length(max = 2000, message = "should be at most 2000 characters"))]
    #[schema(max_length = 2000, example = "two mornings managed since November")]
    pub note: Option<String>,
}

/// R14.2: one progress value for each target of the agreed version in force (`targets`), no
/// others, each once; `revised` and `dropped` with a note.
pub fn check_progress(targets: &[i64], given: &[TargetProgress]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for (i, p) in given.iter().enumerate() {
        if !targets.contains(&p.target_id) {
            problems.push((
                format!("/target_progress/{i}/target_id"),
                if targets.is_empty() {
                    format!(
                        "target {}: the case has no agreed plan to record progress against",
                        p.target_id
                    )
                } else {
                    format!("target {} is not a target of the agreed plan", p.target_id)
                },
            ));
        } else if !seen.insert(p.target_id) {
            problems.push((
                format!("/target_progress/{i}/target_id"),
                format!("target {} appears twice", p.target_id),
            ));
        }
        if p.progress.needs_note() && blank(&p.note) {
            problems.push((
                format!("/target_progress/{i}/note"),
                format!("{} progress needs a note saying why", p.progress),
            ));
        }
    }
    let missing: Vec<String> = targets
        .iter()
        .filter(|id| !given.iter().any(|p| p.target_id == **id))
        .map(|id| id.to_string())
        .collect();
    if !missing.is_empty() {
        problems.push((
            "/target_progress".to_string(),
            format!(
                "the agreed plan's targets {} have no progress; give one for every target",
                missing.join(", ")
            ),
        ));
    }
    problems
}

/// One version of a plan.
#[derive(Debug, Clone)]
pub struct PlanVersion {
    pub case_id: CaseId,
    pub version: i32,
    pub status: PlanStatus,
    pub body: PlanBody,
    /// The review that agreed this revision (R14.2).
    pub review_id: Option<ReviewId>,
    pub created_at: NaiveDateTime,
    pub created_by: String,
}

/// Progress on one target recorded at one review.
#[derive(Debug, Clone)]
pub struct RecordedProgress {
    pub review_id: ReviewId,
    pub target_id: i64,
    pub plan_version: i32,
    pub progress: Progress,
    pub note: Option<String>,
    pub held_on: NaiveDate,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agreed() -> PlanBody {
        PlanBody {
            status: PlanStatus::Agreed,
            baseline: Baseline {
                scale: Some("WTS/EXS/GDS".into()),
                english: Some("WTS".into()),
                maths: Some("WTS".into()),
                science: Some("EXS".into()),
                engagement: Some("low".into()),
                emotional_wellbeing: Some("anxious".into()),
            },
            targets: vec![Target {
                id: None,
                description: "two mornings".into(),
                owner: TargetOwner::School,
                measure: "register".into(),
                by: None,
            }],
            pupil_voice: Some("I want to go back".into()),
            parent_voice: None,
            reintegration_steps: vec![],
            funding_statement: None,
        }
    }

    fn pointers(problems: &[Problem]) -> Vec<&str> {
        problems.iter().map(|(p, _)| p.as_str()).collect()
    }

    #[test]
    fn a_complete_plan_can_be_agreed_and_funding_needs_a_statement() {
        assert!(check_agreement(&agreed(), false, "").is_empty());
        assert_eq!(
            pointers(&check_agreement(&agreed(), true, "")),
            ["/funding_statement"]
        );
        let mut funded = agreed();
        funded.funding_statement = Some("pays for the robot".into());
        assert!(check_agreement(&funded, true, "").is_empty());
    }

    #[test]
    fn each_missing_item_has_its_pointer() {
        let mut plan = agreed();
        plan.targets.clear();
        plan.pupil_voice = Some("  ".into());
        plan.baseline = Baseline::default();
        assert_eq!(
            pointers(&check_agreement(&plan, false, "/revised_plan")),
            [
                "/revised_plan/targets",
                "/revised_plan/pupil_voice",
                "/revised_plan/baseline/scale",
                "/revised_plan/baseline/english",
                "/revised_plan/baseline/maths",
                "/revised_plan/baseline/science",
                "/revised_plan/baseline/engagement",
                "/revised_plan/baseline/emotional_wellbeing",
            ]
        );
    }

    #[test]
    fn new_targets_get_ids_after_every_id_used_and_unknown_ids_are_refused() {
        let mut plan = agreed();
        plan.targets.push(plan.targets[0].clone());
        plan.targets[0].id = Some(2);
        let known: BTreeSet<i64> = [1, 2, 5].into();
        assert!(check_targets(&plan, &known, "").is_empty());
        assign_target_ids(&mut plan, &known);
        assert_eq!(target_ids(&plan).collect::<Vec<_>>(), [2, 6]);
        plan.targets[1].id = Some(9);
        assert_eq!(
            pointers(&check_targets(&plan, &known, "")),
            ["/targets/1/id"]
        );
    }

    #[test]
    fn progress_covers_every_target_and_revised_or_dropped_need_a_note() {
        let p = |target_id, progress, note: Option<&str>| TargetProgress {
            target_id,
            progress,
            note: note.map(str::to_string),
        };
        assert!(check_progress(
            &[1, 2],
            &[
                p(1, Progress::Achieved, None),
                p(2, Progress::Dropped, Some("moved school"))
            ]
        )
        .is_empty());
        let problems = check_progress(
            &[1, 2, 3],
            &[
                p(1, Progress::Revised, None),
                p(7, Progress::InProgress, None),
            ],
        );
        assert_eq!(
            pointers(&problems),
            [
                "/target_progress/0/note",
                "/target_progress/1/target_id",
                "/target_progress"
            ]
        );
        assert!(problems[2].1.contains("2, 3"), "{}", problems[2].1);
        assert!(check_progress(&[], &[]).is_empty());
    }

    #[test]
    fn words_read_back_as_themselves() {
        for s in PlanStatus::ALL {
            assert_eq!(PlanStatus::parse(s.as_str()), Some(s));
        }
        for p in Progress::ALL {
            assert_eq!(Progress::parse(p.as_str()), Some(p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
    }
}
