//! What every bulk push of a school's rows shares (API.md "Conventions", "Registers", "Pupils"):
//! what it carries, how it treats invalid rows, what became of it, and where its checks put the
//! rows they refuse.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::register::RowProblem;

/// What a push carries: `roll` (the pupils on a school's roll), `register` (register marks) or
/// `lessons` (ESMA lessons delivered, the LA's across schools).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushKind {
    /// The pupils on a school's roll (`PUT /schools/{urn}/pupils`).
    Roll,
    /// Register marks (`POST /schools/{urn}/registers`).
    Register,
    /// ESMA lessons delivered (`POST /lessons`, R14.3).
    Lessons,
}

/// How a push treats its invalid rows: `partial` (valid rows stored, invalid reported) or
/// `all_or_nothing` (an invalid row refuses the whole push: nothing stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushMode {
    /// Valid rows are stored and invalid ones reported.
    Partial,
    /// Any invalid row refuses the whole push: nothing is stored.
    AllOrNothing,
}

impl PushMode {
    /// The `mode` query parameter's value, as hashed into an Idempotency-Key's request.
    pub fn as_str(self) -> &'static str {
        match self {
            PushMode::Partial => "partial",
            PushMode::AllOrNothing => "all_or_nothing",
        }
    }

    /// Whether a push with `refused` rows is refused whole.
    pub fn refuses_all(self, refused: u32) -> bool {
        self == PushMode::AllOrNothing && refused > 0
    }
}

/// What became of a push: `committed`, or `rejected` (all_or_nothing with an invalid row:
/// nothing stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportOutcome {
    /// The valid rows are stored (all of them, or in `partial` mode those that passed).
    Committed,
    /// `all_or_nothing` with an invalid row: nothing stored.
    Rejected,
}

/// Where a push's checks put the rows they refuse: the row's 0-based position in the push, the
/// UPN as sent, and why.
pub trait Refusals {
    fn refuse(&mut self, index: usize, upn: &str, problem: RowProblem);
    /// A row that names no pupil (a lesson names its case).
    fn refuse_row(&mut self, index: usize, problem: RowProblem);
}

/// Refusals kept in the order they were made (for tests and small pushes).
impl Refusals for Vec<(usize, String, RowProblem)> {
    fn refuse(&mut self, index: usize, upn: &str, problem: RowProblem) {
        self.push((index, upn.to_string(), problem));
    }
    fn refuse_row(&mut self, index: usize, problem: RowProblem) {
        self.push((index, String::new(), problem));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_all_or_nothing_with_a_refused_row_refuses_the_push() {
        assert!(!PushMode::Partial.refuses_all(3));
        assert!(!PushMode::AllOrNothing.refuses_all(0));
        assert!(PushMode::AllOrNothing.refuses_all(1));
    }

    #[test]
    fn the_wire_names_are_snake_case() {
        let text = |v: serde_json::Value| v.as_str().unwrap().to_string();
        assert_eq!(text(serde_json::json!(PushKind::Register)), "register");
        assert_eq!(text(serde_json::json!(PushKind::Roll)), "roll");
        assert_eq!(
            text(serde_json::json!(PushMode::AllOrNothing)),
            "all_or_nothing"
        );
        assert_eq!(
            text(serde_json::json!(PushMode::Partial)),
            PushMode::Partial.as_str()
        );
        assert_eq!(text(serde_json::json!(ImportOutcome::Rejected)), "rejected");
        assert_eq!(
            text(serde_json::json!(ImportOutcome::Committed)),
            "committed"
        );
    }
}
