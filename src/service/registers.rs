//! Register push (API.md "Registers"; RULES.md R1): every mark checked in memory
//! ([`check_marks`]), then the valid ones written for the school in one transaction, set-based;
//! every refused row reported. Runs through [`push::take`].

use std::sync::Arc;

use super::attendance::{
    plan_marks_ahead, write_marks, write_marks_planned, MarkWrite, MarksAhead,
};
use super::imports::{Idempotency, PushMode, PushOutcome, Rejections};
use super::push::{self, Push, PushContext, PushRows, Stored};
use super::{Actor, AppState};
use crate::domain::attendance::AttendancePolicy;
use crate::domain::policy::Policy;
use crate::domain::push::PushKind;
pub use crate::domain::register::MarkIn;
use crate::domain::register::{check_marks, IncomingMark};
use crate::error::ApiError;
use crate::store::marks::WriteCounts;
use crate::store::{pupils, registers, DbConnection};

pub struct RegisterPush {
    pub marks: Vec<MarkIn>,
    /// `Some("/marks")` for JSON pushes, so errors carry JSON Pointers.
    pub pointer_prefix: Option<&'static str>,
    pub mode: PushMode,
    pub idempotency: Option<Idempotency>,
}

pub async fn push(
    state: &AppState,
    actor: &Actor,
    urn: i32,
    push: RegisterPush,
) -> Result<PushOutcome, ApiError> {
    let rows = RegisterRows {
        marks: push.marks,
        pointer_prefix: push.pointer_prefix,
        policy: state.attendance.clone(),
        cases: state.policy.clone(),
    };
    let push = Push {
        urn: Some(urn),
        mode: push.mode,
        idempotency: push.idempotency,
    };
    push::take(state, actor, push, rows).await
}

/// A register push's rows, with the thresholds its alerts are maintained by.
struct RegisterRows {
    marks: Vec<MarkIn>,
    pointer_prefix: Option<&'static str>,
    policy: Arc<AttendancePolicy>,
    /// The ESMA policy the alerts of the pupils' cases follow.
    cases: Arc<Policy>,
}

/// The marks a register push may write. The raw rows are gone by now: only these go on to the
/// writer.
struct CheckedRegister {
    marks: Vec<IncomingMark>,
    identical_repeats: usize,
    /// The push worked out before the write transaction, where that pays
    /// ([`registers::plans_ahead`]).
    ahead: Option<MarksAhead>,
    policy: Arc<AttendancePolicy>,
    cases: Arc<Policy>,
    /// What the writer did, kept to be freed after the writer's lock is released.
    written: WriteCounts,
}

impl PushRows for RegisterRows {
    const KIND: PushKind = PushKind::Register;
    type Checked = CheckedRegister;

    fn received(&self) -> usize {
        self.marks.len()
    }

    fn pointer_prefix(&self) -> Option<&'static str> {
        self.pointer_prefix
    }

    fn check(
        self,
        conn: &mut DbConnection,
        push: &PushContext,
        rejections: &mut Rejections,
    ) -> Result<CheckedRegister, ApiError> {
        let urn = push.school_urn()?;
        let roll = pupils::roll_periods_of(conn, urn)?;
        let on_roll = |upn: &str| roll.get(upn).copied();
        let checked = check_marks(&self.marks, urn, on_roll, push.today, rejections);
        drop(self.marks);
        let ahead = if push.mode.refuses_all(rejections.count) || !registers::plans_ahead(conn) {
            None
        } else {
            let today = push.today;
            Some(plan_marks_ahead(
                conn,
                urn,
                &checked.marks,
                today,
                &self.policy,
            )?)
        };
        Ok(CheckedRegister {
            marks: checked.marks,
            identical_repeats: checked.identical_repeats,
            ahead,
            policy: self.policy,
            cases: self.cases,
            written: WriteCounts::default(),
        })
    }

    fn write(
        checked: &mut CheckedRegister,
        conn: &mut DbConnection,
        push: &PushContext,
        import_id: i64,
    ) -> Result<Stored, ApiError> {
        let write = MarkWrite {
            school_urn: push.school_urn()?,
            import_id,
            now: push.now,
            today: push.today,
            policy: &checked.policy,
            case_policy: &checked.cases,
        };
        let written = match checked.ahead.as_mut() {
            Some(ahead) => write_marks_planned(conn, &write, ahead, &checked.marks)?,
            None => write_marks(conn, &write, &checked.marks)?,
        };
        let (inserted, updated) = (written.inserted, written.updated);
        checked.written = written;
        Ok(Stored {
            inserted,
            updated,
            unchanged: checked.marks.len() - inserted - updated + checked.identical_repeats,
        })
    }
}
