//! Register push (API.md "Registers"; RULES.md R1): check every mark in memory, then write the
//! valid ones for the school in one transaction, set-based; report every refused row.

use std::collections::HashMap;

use chrono::NaiveDate;
use compact_str::CompactString;

use super::attendance::{plan_marks_ahead, write_marks, write_marks_planned};
use super::imports::{
    conclude, find_replay, open_import, settle_key_race, Idempotency, PushMode, PushOutcome,
    Rejections, Tally,
};
use super::{Actor, AppState};
use crate::domain::access::Role;
use crate::domain::codes::Session;
use crate::domain::register::{check_mark, covers, MarkRow, RowProblem};
use crate::error::ApiError;
use crate::store::marks::{self, IncomingMark};
use crate::store::registers::FastHash;
use crate::store::{pupils, schools, DbConnection};

/// A mark as received (JSON or CSV), before any check.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct MarkIn {
    pub upn: CompactString,
    pub date: CompactString,
    pub session: CompactString,
    pub code: CompactString,
    #[serde(default)]
    pub minutes_late: Option<i64>,
    /// A CSV `minutes_late` that is not a whole number, kept to report it.
    #[serde(skip)]
    pub minutes_late_text: Option<String>,
}

pub struct RegisterPush {
    pub marks: Vec<MarkIn>,
    /// `Some("/marks")` for JSON pushes, so errors carry JSON Pointers.
    pub pointer_prefix: Option<&'static str>,
    pub mode: PushMode,
    pub idempotency: Option<Idempotency>,
}

/// A session of a pupil, borrowing the UPN from the row as received.
type MarkKey<'a> = (&'a str, NaiveDate, Session);

pub async fn push(
    state: &AppState,
    actor: &Actor,
    urn: i32,
    push: RegisterPush,
) -> Result<PushOutcome, ApiError> {
    actor.require(&[Role::School])?;
    actor.may_write_school(urn)?;
    if let Some(replayed) = find_replay(state, actor, &push.idempotency).await? {
        return replayed.into_result();
    }
    let today = state.clock.today();
    let now = state.clock.now_naive();
    let caller = actor;
    let actor = actor.clone();
    let policy = state.attendance.clone();
    let plan_policy = state.attendance.clone();
    // Check every row before taking the write lock (SQLite has one writer): the roll is read,
    // the rows checked in memory, and only the writes happen under the lock.
    let check_started = std::time::Instant::now();
    let checked = state
        .db
        .read(move |conn| {
            schools::find(conn, urn)?.ok_or_else(|| ApiError::not_found(format!("no school with URN {urn}; the LA registers schools first")))?;
            let roll = pupils::roll_periods_of(conn, urn)?;
            let received = push.marks.len();
            let mut rejections = Rejections::new(push.pointer_prefix);

            // Check each row; keep the first of identical duplicates, refuse conflicting ones.
            let mut accepted: Vec<(usize, IncomingMark)> = Vec::with_capacity(received);
            let mut position: HashMap<MarkKey, usize, FastHash> =
                HashMap::with_capacity_and_hasher(received, FastHash::default());
            let mut conflicted: HashMap<MarkKey, Vec<usize>, FastHash> = HashMap::default();
            let mut identical_repeats = 0usize;
            let mut dropped: Vec<usize> = Vec::new();
            for (index, raw) in push.marks.iter().enumerate() {
                if let Some(text) = &raw.minutes_late_text {
                    rejections.reject(index, Some(raw.upn.as_str()), RowProblem::new("minutes_late", "invalid_minutes_late", format!(
                        "minutes_late should be a whole number of minutes, not '{text}'")));
                    continue;
                }
                let row = MarkRow { upn: &raw.upn, date: &raw.date, session: &raw.session, code: &raw.code, minutes_late: raw.minutes_late };
                let mark = match check_mark(&row, today) {
                    Ok(m) => m,
                    Err(problem) => {
                        rejections.reject(index, Some(raw.upn.as_str()), problem);
                        continue;
                    }
                };
                match roll.get(mark.upn) {
                    Some(e) if covers(e.on_roll_from, e.on_roll_until, mark.date) => {}
                    Some(e) => {
                        let until = e.on_roll_until.map(|u| format!(" until {u}")).unwrap_or_default();
                        rejections.reject(index, Some(raw.upn.as_str()), RowProblem::new("upn", "pupil_not_on_roll", format!(
                            "{} is on the roll of {urn} from {}{until}, not on {}", mark.upn, e.on_roll_from, mark.date)));
                        continue;
                    }
                    None => {
                        rejections.reject(index, Some(raw.upn.as_str()), RowProblem::new("upn", "pupil_not_on_roll", format!(
                            "{} is not on the roll of {urn}; push the roll (PUT /api/v1/schools/{urn}/pupils) first", mark.upn)));
                        continue;
                    }
                }
                // `check_mark` accepts a UPN only exactly as written, so the row's text is the key.
                let key = (raw.upn.as_str(), mark.date, mark.session);
                let incoming = IncomingMark {
                    upn: raw.upn.clone(),
                    mark_date: mark.date,
                    session: mark.session,
                    code: mark.code,
                    minutes_late: mark.minutes_late,
                };
                if let Some(rows) = conflicted.get_mut(&key) {
                    rows.push(index);
                    continue;
                }
                match position.get(&key) {
                    None => {
                        position.insert(key, accepted.len());
                        accepted.push((index, incoming));
                    }
                    Some(&at) if accepted[at].1.code == incoming.code && accepted[at].1.minutes_late == incoming.minutes_late => {
                        identical_repeats += 1;
                    }
                    Some(&at) => {
                        dropped.push(at);
                        conflicted.insert(key, vec![accepted[at].0, index]);
                    }
                }
            }
            // R1: a pupil has one mark per session; two different ones in a push cannot both be right.
            if !conflicted.is_empty() {
                let mut refused: Vec<(usize, &str, NaiveDate, Session)> = Vec::new();
                for (&(upn, date, session), rows) in &conflicted {
                    for &row in rows {
                        refused.push((row, upn, date, session));
                    }
                }
                refused.sort();
                for (row, upn, date, session) in refused {
                    let sent = &push.marks[row];
                    rejections.reject(row, Some(upn), RowProblem::new("code", "duplicate_in_push", format!(
                        "{upn} has different marks for {date} {session} in this push (this row: '{}'); send one", sent.code)));
                }
                dropped.sort_unstable();
                let mut position = 0;
                accepted.retain(|_| {
                    position += 1;
                    dropped.binary_search(&(position - 1)).is_err()
                });
            }

            // The raw rows are dropped here: only the checked marks go on to the writer.
            let rows: Vec<IncomingMark> = accepted.into_iter().map(|(_, m)| m).collect();
            // SQLite has one writer at a time: what can be worked out before its lock is, so other
            // schools' pushes write meanwhile (PostgreSQL writes schools in parallel anyway).
            let refuse_all = push.mode == PushMode::AllOrNothing && rejections.count > 0;
            let ahead = if refuse_all || !matches!(conn, DbConnection::Sqlite(_)) {
                None
            } else {
                Some(plan_marks_ahead(conn, urn, &rows, today, &plan_policy)?)
            };
            Ok((push.mode, push.idempotency, received, rejections, rows, ahead, identical_repeats))
        })
        .await?;
    let (mode, idempotency, received, rejections, rows, ahead, identical_repeats) = checked;
    let key = idempotency.clone();
    let check_ms = check_started.elapsed().as_secs_f64() * 1e3;
    let write_started = std::time::Instant::now();
    let outcome = state
        .db
        .write(move |conn| {
            let locked_at = std::time::Instant::now();
            let import_id = open_import(
                conn,
                "register",
                urn,
                &actor.client_id,
                now,
                idempotency.as_ref(),
            )?;
            let opened_ms = locked_at.elapsed().as_secs_f64() * 1e3;
            let refuse_all = mode == PushMode::AllOrNothing && rejections.count > 0;
            let mut ahead = ahead;
            let (written, unchanged) = if refuse_all {
                (marks::WriteCounts::default(), 0)
            } else {
                let written = match ahead.as_mut() {
                    Some(ahead) => write_marks_planned(
                        conn, urn, ahead, &rows, import_id, now, today, &policy,
                    )?,
                    None => write_marks(conn, urn, &rows, import_id, now, today, &policy)?,
                };
                let unchanged = rows.len() - written.inserted - written.updated + identical_repeats;
                (written, unchanged)
            };
            let tally = Tally {
                received,
                inserted: written.inserted,
                updated: written.updated,
                unchanged,
            };
            let written_ms = locked_at.elapsed().as_secs_f64() * 1e3;
            let concluded = conclude(
                conn, &actor, now, "register", import_id, urn, mode, refuse_all, tally, rejections,
            );
            let concluded_ms = locked_at.elapsed().as_secs_f64() * 1e3;
            // What the push worked with goes back out with the outcome, to be freed after the
            // writer's lock is released (thousands of small allocations per push).
            let spent = (rows, ahead, written);
            Ok((
                concluded?,
                locked_at,
                [opened_ms, written_ms, concluded_ms],
                spent,
            ))
        })
        .await;
    let (outcome, locked_at, [opened_ms, written_ms, concluded_ms], spent) = match outcome {
        Ok(done) => done,
        Err(e) => {
            return settle_key_race(state, caller, &key, Err(e))
                .await?
                .into_result()
        }
    };
    drop(spent);
    // Where a push's time goes, for tuning (RUST_LOG=esma_api::service::registers=debug): the
    // checks (and on SQLite the plan) before the write lock, the wait for it, and inside the
    // transaction the time until the import was opened, the marks written and the report
    // concluded; `done_ms` adds the commit and the way back to the worker.
    tracing::debug!(
        school_urn = urn,
        check_ms,
        wait_ms = (locked_at - write_started).as_secs_f64() * 1e3,
        opened_ms,
        written_ms,
        concluded_ms,
        done_ms = locked_at.elapsed().as_secs_f64() * 1e3,
        "register push"
    );
    outcome.into_result()
}
