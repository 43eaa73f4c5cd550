//! One path for every bulk push of a school's rows (API.md "Conventions", "Registers", "Pupils").
//! A kind of push supplies its rows, a check and a writer ([`PushRows`]); [`take`] does the rest,
//! the same for every kind:
//!
//! 1. the prologue: the client may push these rows for the school ([`PushRows::authorise`]), and
//!    a reused Idempotency-Key is answered with the stored report (or 409);
//! 2. the check, in a read transaction: the school exists, and every row is checked (a pure
//!    `domain` function), refused rows collected for the report. On SQLite, where one writer
//!    holds the database at a time, whatever can be worked out before the writer's lock is;
//! 3. the write, in one transaction: the import is opened under the key, the accepted rows are
//!    written (unless `all_or_nothing` refuses the push), and the report and its audit row are
//!    stored with them. A push that lost the race for its key answers with the winner's report.

use std::time::Instant;

use chrono::{NaiveDate, NaiveDateTime};

use super::imports::{replay, Idempotency, PushOutcome, Rejections, Tally};
use super::{Actor, AppState, AuditSubject};
use crate::domain::access::Role;
use crate::domain::audit::AuditOutcome;
use crate::domain::push::{ImportOutcome, PushKind, PushMode};
use crate::error::{ApiError, ProblemKind};
use crate::store::imports::{self, Counts, OpenError};
use crate::store::{audit, schools, DbConnection};

/// A push as received: for which school, how invalid rows are treated, and the key that makes a
/// retry safe. Its rows come separately, as a [`PushRows`].
#[derive(Debug, Clone)]
pub struct Push {
    /// The school pushed for; None for a lesson push (the LA's, across schools).
    pub urn: Option<i32>,
    pub mode: PushMode,
    pub idempotency: Option<Idempotency>,
}

/// A push being taken: what its check, its writer and its report need besides its rows.
#[derive(Debug, Clone)]
pub struct PushContext {
    pub kind: PushKind,
    /// The school pushed for; None for a lesson push (the LA's, across schools).
    pub urn: Option<i32>,
    pub mode: PushMode,
    pub actor: Actor,
    pub now: NaiveDateTime,
    pub today: NaiveDate,
}

impl PushContext {
    /// The school of a school's push (roll, register).
    pub fn school_urn(&self) -> Result<i32, ApiError> {
        self.urn
            .ok_or_else(|| ApiError::internal(format!("a {:?} push names no school", self.kind)))
    }
}

/// What a writer did with a push's accepted rows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stored {
    pub inserted: usize,
    pub updated: usize,
    /// Accepted rows that matched what was stored, and identical repeats within the push.
    pub unchanged: usize,
}

/// The part of a push that depends on its kind: the rows, their check and their writer.
pub trait PushRows: Send + 'static {
    const KIND: PushKind;
    /// What the check hands the writer: the accepted rows and whatever was worked out ahead.
    /// It is dropped after the write transaction, outside the writer's lock.
    type Checked: Send + 'static;

    /// Who may push these rows for school `urn`: a `school` client for one of its own schools.
    fn authorise(actor: &Actor, urn: Option<i32>) -> Result<(), ApiError> {
        actor.require(&[Role::School])?;
        match urn {
            Some(urn) => actor.may_write_school(urn),
            None => Err(ApiError::internal(format!(
                "a {:?} push names no school",
                Self::KIND
            ))),
        }
    }

    /// How many rows were received.
    fn received(&self) -> usize;

    /// The JSON Pointer prefix of the rows (`/marks`), or None when they did not come as JSON.
    fn pointer_prefix(&self) -> Option<&'static str>;

    /// Checks every row (a `domain` function) against what the school's stored data says,
    /// refusing rows into `rejections`. Runs in a read transaction, before the write.
    fn check(
        self,
        conn: &mut DbConnection,
        push: &PushContext,
        rejections: &mut Rejections,
    ) -> Result<Self::Checked, ApiError>;

    /// Writes the accepted rows in the push's transaction, import `import_id` open. Not called
    /// when the push is refused whole.
    fn write(
        checked: &mut Self::Checked,
        conn: &mut DbConnection,
        push: &PushContext,
        import_id: i64,
    ) -> Result<Stored, ApiError>;

    /// What the report counts unchanged when the push is refused whole (nothing is written).
    fn unchanged_when_refused(_checked: &Self::Checked) -> usize {
        0
    }
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

/// Takes a push of `rows` for `push.urn` (see the module's introduction) and answers with its
/// report: 200, or 422 when `all_or_nothing` refused it.
pub async fn take<R: PushRows>(
    state: &AppState,
    actor: &Actor,
    push: Push,
    rows: R,
) -> Result<PushOutcome, ApiError> {
    R::authorise(actor, push.urn)?;
    if let Some(replayed) = find_replay(state, actor, &push.idempotency).await? {
        return replayed.into_result();
    }
    let context = PushContext {
        kind: R::KIND,
        urn: push.urn,
        mode: push.mode,
        actor: actor.clone(),
        today: state.clock.today(),
        now: state.clock.now_naive(),
    };
    let check_started = Instant::now();
    let checked = check(state, context, rows).await?;
    let check_ms = ms_since(check_started);
    let key = push.idempotency.clone();
    let write_started = Instant::now();
    let (outcome, time, spent) = match write(state, checked, push.idempotency).await {
        Ok(done) => done,
        Err(e) => {
            return settle_key_race(state, actor, &key, Err(e))
                .await?
                .into_result()
        }
    };
    drop(spent);
    // Where a push's time goes (RUST_LOG=esma_api::service::push=debug): the check (with, on
    // SQLite, the plan worked out ahead) before the write lock, the wait for it, then inside the
    // transaction the import opened, the rows written and the report concluded; `done_ms` adds
    // the commit and the way back to the worker.
    tracing::debug!(
        kind = ?R::KIND,
        school_urn = push.urn,
        check_ms,
        wait_ms = (time.locked_at - write_started).as_secs_f64() * 1e3,
        opened_ms = time.opened_ms,
        written_ms = time.written_ms,
        concluded_ms = time.concluded_ms,
        done_ms = ms_since(time.locked_at),
        "push"
    );
    outcome.into_result()
}

/// A push whose rows are checked, on its way to the writer.
struct Checked<R: PushRows> {
    context: PushContext,
    received: usize,
    rejections: Rejections,
    rows: R::Checked,
}

/// When the write transaction got the lock, and the milliseconds from then to each step.
struct WriteTimes {
    locked_at: Instant,
    opened_ms: f64,
    written_ms: f64,
    concluded_ms: f64,
}

/// The check, in a read transaction: the school exists, and every row is checked.
async fn check<R: PushRows>(
    state: &AppState,
    context: PushContext,
    rows: R,
) -> Result<Checked<R>, ApiError> {
    state
        .db
        .read(move |conn| {
            if let Some(urn) = context.urn {
                schools::find(conn, urn)?.ok_or_else(|| {
                    ApiError::not_found(format!(
                        "no school with URN {urn}; the LA registers schools first"
                    ))
                })?;
            }
            let received = rows.received();
            let mut rejections = Rejections::new(rows.pointer_prefix());
            let rows = rows.check(conn, &context, &mut rejections)?;
            Ok(Checked {
                context,
                received,
                rejections,
                rows,
            })
        })
        .await
}

/// The write, in one transaction: the import opened, the accepted rows written (unless the push
/// is refused whole), the report concluded. What the push worked with comes back out with the
/// answer, to be freed once the writer's lock is released.
async fn write<R: PushRows>(
    state: &AppState,
    checked: Checked<R>,
    idempotency: Option<Idempotency>,
) -> Result<(PushOutcome, WriteTimes, R::Checked), ApiError> {
    let Checked {
        context,
        received,
        rejections,
        mut rows,
    } = checked;
    state
        .db
        .write(move |conn| {
            let locked_at = Instant::now();
            let import_id = open_import(conn, &context, idempotency.as_ref())?;
            let opened_ms = ms_since(locked_at);
            let stored = if context.mode.refuses_all(rejections.count) {
                Stored {
                    unchanged: R::unchanged_when_refused(&rows),
                    ..Stored::default()
                }
            } else {
                R::write(&mut rows, conn, &context, import_id)?
            };
            let tally = Tally {
                received,
                inserted: stored.inserted,
                updated: stored.updated,
                unchanged: stored.unchanged,
            };
            let written_ms = ms_since(locked_at);
            let concluded = conclude(conn, &context, import_id, tally, rejections);
            let time = WriteTimes {
                locked_at,
                opened_ms,
                written_ms,
                concluded_ms: ms_since(locked_at),
            };
            Ok((concluded?, time, rows))
        })
        .await
}

/// Opens the import of a push in the caller's write transaction. Two pushes with one key at the
/// same moment both pass [`find_replay`]; the second's insert then meets the first's key (on
/// PostgreSQL after waiting for the first to commit) and is told the key is in progress, which
/// [`settle_key_race`] turns into the first push's answer.
pub fn open_import(
    conn: &mut DbConnection,
    push: &PushContext,
    idem: Option<&Idempotency>,
) -> Result<i64, ApiError> {
    let pair = idem.map(|i| (i.key.as_str(), i.request_hash.as_str()));
    let client = push.actor.client_id.as_str();
    match imports::open(conn, push.kind, push.urn, client, push.now, pair) {
        Ok(id) => Ok(id),
        Err(OpenError::KeyTaken) => Err(ApiError::idempotency_key_in_progress(
            &idem.map(|i| i.key.clone()).unwrap_or_default(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Writes the report of push `import_id` and its audit row, in the caller's transaction (the one
/// that wrote the data), and returns the answer.
pub fn conclude(
    conn: &mut DbConnection,
    push: &PushContext,
    import_id: i64,
    tally: Tally,
    rejections: Rejections,
) -> Result<PushOutcome, ApiError> {
    let outcome = if push.mode.refuses_all(rejections.count) {
        ImportOutcome::Rejected
    } else {
        ImportOutcome::Committed
    };
    let report = super::imports::ImportReport {
        import_id,
        kind: push.kind,
        school_urn: push.urn,
        received_at: push.now.and_utc(),
        mode: push.mode,
        outcome,
        received: tally.received as u32,
        inserted: tally.inserted as u32,
        updated: tally.updated as u32,
        unchanged: tally.unchanged as u32,
        rejected: rejections.count,
        errors_truncated: rejections.errors.len() < rejections.count as usize,
        rejected_by_reason: rejections.by_reason,
        errors: rejections.errors,
    };
    let counts = Counts {
        received: report.received as i32,
        inserted: report.inserted as i32,
        updated: report.updated as i32,
        unchanged: report.unchanged as i32,
        rejected: report.rejected as i32,
    };
    let json =
        serde_json::to_string(&report).map_err(|e| ApiError::internal(format!("report: {e}")))?;
    imports::finish(conn, import_id, outcome, &counts, &json)?;
    let resource = match push.kind {
        PushKind::Roll => "roll_import",
        PushKind::Register => "register_import",
        PushKind::Lessons => "lesson_import",
    };
    let mut subject = AuditSubject::new(resource, import_id.to_string());
    if let Some(urn) = push.urn {
        subject = subject.school(urn);
    }
    let mut event = push.actor.audit(push.now, "import", subject);
    event.outcome = match outcome {
        ImportOutcome::Committed => AuditOutcome::Committed,
        ImportOutcome::Rejected => AuditOutcome::Rejected,
    }
    .as_str()
    .to_string();
    audit::append(conn, &[event])?;
    Ok(PushOutcome {
        report,
        replayed: false,
    })
}

/// The stored answer to an earlier push with this client's key, if there was one.
pub async fn find_replay(
    state: &AppState,
    actor: &Actor,
    idem: &Option<Idempotency>,
) -> Result<Option<PushOutcome>, ApiError> {
    let Some(idem) = idem.clone() else {
        return Ok(None);
    };
    let client = actor.client_id.clone();
    let key = idem.key.clone();
    let row = state
        .db
        .read(move |conn| Ok(imports::find_by_key(conn, &client, &key)?))
        .await?;
    row.map(|row| replay(&row, &idem)).transpose()
}

/// A push that lost the race for its key answers with the winner's stored answer (or, should
/// that not be readable yet, the in-progress 409 with Retry-After).
pub async fn settle_key_race(
    state: &AppState,
    actor: &Actor,
    idem: &Option<Idempotency>,
    result: Result<PushOutcome, ApiError>,
) -> Result<PushOutcome, ApiError> {
    match result {
        Err(e) if e.kind == ProblemKind::IdempotencyKeyInProgress => {
            match find_replay(state, actor, idem).await? {
                Some(replayed) => Ok(replayed),
                None => Err(e),
            }
        }
        other => other,
    }
}
