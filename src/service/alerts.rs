//! Alert upkeep in one place (ARCHITECTURE.md "One alert engine"). The rules in
//! `domain::alerts` say which alerts should be open given the facts; this module gathers the
//! facts, compares what the rules want with the stored alerts and writes the difference (raise,
//! resolve, move `since`), returning the changes for the change feed, which the caller records
//! last in its transaction. The clock-driven event scan (`service::webhooks::scan`) announces
//! the open alerts on the outbox.
//!
//! Who keeps what, by the scope of each kind (`AlertKind::rule`):
//! - register kinds: every push applies the changes of each pupil's tallies ([`AlertWork`]);
//!   `esma-api recompute` reconciles a school from scratch ([`reconcile_register`]);
//! - referral and case kinds: the clock ([`follow_clock`], before the worklist is read and in
//!   the event scan), a case read ([`reconcile_case`]), a lesson push (the cases it touched,
//!   together: [`reconcile_cases_of`]), a case exit ([`close_case`]) and a referral's decision or
//!   withdrawal ([`resolve_assessment_overdue`]).
//!
//! It imports no other use case: cases, referrals, attendance and webhooks call it.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::{page_of, Actor, AppState, AuditSubject};
use crate::domain::access::Role;
use crate::domain::alerts::{
    case_of_subject, is_about_case, parse_session_subject, referral_subject,
    unexplained_overdue_before, Acknowledgement, Acknowledging, Alert, AlertChange, AlertKey,
    AlertKind, AlertScope, AlertState, CaseClock, CaseFacts, ReferralFacts, WantedAlert,
    CASE_REGISTER_CODES,
};
use crate::domain::attendance::{
    unexplained_due_by, unexplained_overdue_from, AttendancePolicy, SessionMark,
    UNAUTHORISED_NOTICE_SESSIONS,
};
use crate::domain::audit::AuditOutcome;
use crate::domain::calendar::{AcademicYear, SchoolCalendar};
use crate::domain::case::{Case, CaseId, CaseStatus};
use crate::domain::changes::{Change, ChangeAction};
use crate::domain::codes::{AttendanceCode, Session};
use crate::domain::events::EventType;
use crate::domain::lessons::Lesson;
use crate::domain::policy::Policy;
use crate::domain::referral::{Referral, ReferralId};
use crate::domain::tally::YearTally;
use crate::error::ApiError;
use crate::store::alerts::{self as store, AlertFilter, NewAlert};
use crate::store::cases as case_store;
use crate::store::lessons as lesson_store;
use crate::store::marks::{self, StoredMark};
use crate::store::referrals as referral_store;
use crate::store::{attendance as tallies, audit, calendars, changes, DbConnection, StoreResult};

// ---------------------------------------------------------------------------------------------
// The engine: wanted against stored
// ---------------------------------------------------------------------------------------------

/// Which stored alerts a reconciliation compares with what the rules want.
#[derive(Debug, Clone, Copy)]
enum Stored<'a> {
    /// The open alerts of the kinds everywhere.
    Everywhere,
    /// Those at one school.
    AtSchool(i32),
    /// Those about these cases (read by their pupils: a case's alerts are its pupil's).
    OfCases {
        ids: &'a HashSet<i64>,
        upns: &'a [&'a str],
    },
}

/// What a reconciliation wrote.
#[derive(Debug, Default)]
pub(crate) struct Reconciled {
    /// For the change feed, in the order written.
    pub changes: Vec<Change>,
    pub raised: usize,
    pub resolved: usize,
}

/// Compares `wanted` (alerts of `kinds`) with the open alerts of `kinds` in `stored` and writes
/// the difference: an open alert no longer wanted is resolved with its kind's `when_gone` (one
/// without it stays), one whose cause moved has its `since` moved (kinds whose `since` follows
/// the cause), and the wanted alerts not open are raised, in the order given (the order of
/// their ids and of the change feed).
fn reconcile(
    conn: &mut DbConnection,
    kinds: &[AlertKind],
    stored: Stored<'_>,
    wanted: Vec<WantedAlert>,
    today: NaiveDate,
) -> StoreResult<Reconciled> {
    let mut done = Reconciled::default();
    let mut pending: HashMap<AlertKey, (usize, AcademicYear, NaiveDate)> = wanted
        .into_iter()
        .enumerate()
        .map(|(position, w)| (w.key, (position, w.year, w.since)))
        .collect();
    // Kinds that are only ever raised here need not be compared: raising skips an open one.
    let compared = kinds.iter().any(|k| {
        let rule = k.rule();
        rule.when_gone.is_some() || rule.since_follows_cause
    });
    let open = match (compared, stored) {
        (false, _) => Vec::new(),
        (true, Stored::AtSchool(urn)) => store::open_of_school(conn, urn, kinds)?,
        (true, Stored::Everywhere) => store::open_of_kinds(conn, kinds)?,
        (true, Stored::OfCases { upns, .. }) => store::open_of_pupils(conn, upns, kinds)?,
    };
    for open in open {
        if let Stored::OfCases { ids, .. } = stored {
            if !case_of_subject(&open.subject).is_some_and(|id| ids.contains(&id)) {
                continue;
            }
        }
        let rule = open.kind.rule();
        let key = open.key();
        match pending.remove(&key) {
            Some((_, _, since)) if rule.since_follows_cause && since != open.since => {
                if let Some(id) = store::move_since(conn, &key, since)? {
                    done.changes
                        .push(Change::alert(id, key.school_urn, ChangeAction::SinceMoved));
                }
            }
            Some(_) => {}
            None => {
                let Some(why) = rule.when_gone else {
                    continue;
                };
                if let Some(id) = store::resolve(conn, &key, today, why)? {
                    done.resolved += 1;
                    done.changes
                        .push(Change::alert(id, key.school_urn, ChangeAction::Resolved));
                }
            }
        }
    }
    let raised = store::raise(conn, &in_order(pending, today))?;
    done.raised = raised.len();
    done.changes.extend(
        raised
            .into_iter()
            .map(|a| Change::alert(a.id, a.school_urn, ChangeAction::Raised)),
    );
    Ok(done)
}

/// The wanted alerts left to raise, back in the order they were wanted.
fn in_order(
    pending: HashMap<AlertKey, (usize, AcademicYear, NaiveDate)>,
    today: NaiveDate,
) -> Vec<NewAlert> {
    let mut raise: Vec<(usize, NewAlert)> = pending
        .into_iter()
        .map(|(key, (position, year, since))| {
            let alert = NewAlert {
                kind: key.kind,
                school_urn: key.school_urn,
                upn: key.upn,
                academic_year: year.start_year(),
                subject: key.subject,
                since,
                raised_on: today,
            };
            (position, alert)
        })
        .collect();
    raise.sort_unstable_by_key(|(position, _)| *position);
    raise.into_iter().map(|(_, alert)| alert).collect()
}

/// The kinds of alert of one scope.
fn kinds_where(scope: impl Fn(AlertScope) -> bool) -> Vec<AlertKind> {
    AlertKind::ALL
        .into_iter()
        .filter(|k| scope(k.rule().scope))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Register kinds (R2.2, R4.4, R5.1)
// ---------------------------------------------------------------------------------------------

/// What the register alerts of one school need to change after a push, gathered while the
/// tallies are brought up to date and written with the push (no alert is read: each change
/// follows from a pupil's tally before and after, `domain::alerts::pupil_alert_changes`).
#[derive(Default)]
pub struct AlertWork {
    raise: Vec<NewAlert>,
    resolve: Vec<(AlertKey, String)>,
    move_since: Vec<(AlertKey, NaiveDate)>,
}

impl AlertWork {
    pub(crate) fn add(
        &mut self,
        school_urn: i32,
        upn: &str,
        change: AlertChange,
        today: NaiveDate,
    ) {
        let key = |kind: AlertKind, subject: String| AlertKey {
            kind,
            school_urn,
            upn: upn.to_owned(),
            subject,
        };
        match change {
            AlertChange::Raise {
                kind,
                year,
                subject,
                since,
            } => self.raise.push(NewAlert {
                kind,
                school_urn,
                upn: upn.to_owned(),
                academic_year: year.start_year(),
                subject,
                since,
                raised_on: today,
            }),
            AlertChange::Resolve {
                kind,
                subject,
                resolution,
            } => self.resolve.push((key(kind, subject), resolution)),
            AlertChange::MoveSince {
                kind,
                subject,
                since,
            } => self.move_since.push((key(kind, subject), since)),
        }
    }

    /// Writes the changes; returns them as the change feed says them.
    pub(crate) fn apply(
        self,
        conn: &mut DbConnection,
        today: NaiveDate,
    ) -> StoreResult<Vec<Change>> {
        let mut changed = Vec::new();
        // Resolutions first: an alert resolved and raised again in one push (a flag that went
        // and came back) leaves one closed and one open row.
        changed.extend(
            store::resolve_all(conn, &self.resolve, today)?
                .into_iter()
                .map(|a| Change::alert(a.id, a.school_urn, ChangeAction::Resolved)),
        );
        for (key, since) in &self.move_since {
            if let Some(id) = store::move_since(conn, key, *since)? {
                changed.push(Change::alert(id, key.school_urn, ChangeAction::SinceMoved));
            }
        }
        changed.extend(
            store::raise(conn, &self.raise)?
                .into_iter()
                .map(|a| Change::alert(a.id, a.school_urn, ChangeAction::Raised)),
        );
        Ok(changed)
    }
}

/// `esma-api recompute`: reconciles the open register alerts of a school with `wanted`, what
/// its register supports (`domain::alerts::register_alerts` of each pupil).
pub(crate) fn reconcile_register(
    conn: &mut DbConnection,
    school_urn: i32,
    mut wanted: Vec<WantedAlert>,
    today: NaiveDate,
) -> StoreResult<Reconciled> {
    wanted.sort_by(|a, b| a.key.cmp(&b.key));
    reconcile(
        conn,
        &AlertKind::FROM_REGISTER,
        Stored::AtSchool(school_urn),
        wanted,
        today,
    )
}

// ---------------------------------------------------------------------------------------------
// Referral kinds (R10.3)
// ---------------------------------------------------------------------------------------------

/// The referral alerts every undecided referral past its deadline wants.
fn reconcile_referrals(conn: &mut DbConnection, today: NaiveDate) -> StoreResult<Reconciled> {
    let kinds = kinds_where(|s| matches!(s, AlertScope::Referral(_)));
    let rules: Vec<_> = kinds
        .iter()
        .filter_map(|k| match k.rule().scope {
            AlertScope::Referral(rule) => Some(rule),
            _ => None,
        })
        .collect();
    let mut wanted = Vec::new();
    // Raised in the order of the referrals.
    for referral in referral_store::overdue(conn, today)? {
        let facts = ReferralFacts {
            referral_id: referral.id.get(),
            school_urn: referral.school_urn,
            upn: &referral.upn,
            received_on: referral.received_at.date(),
            assessment_due_by: referral.assessment_due_by,
        };
        wanted.extend(rules.iter().filter_map(|rule| rule(&facts, today)));
    }
    reconcile(conn, &kinds, Stored::Everywhere, wanted, today)
}

/// A referral was decided or withdrawn: its `assessment_overdue`, if open, is resolved with
/// `resolution`.
pub(crate) fn resolve_assessment_overdue(
    conn: &mut DbConnection,
    referral_id: ReferralId,
    school_urn: i32,
    upn: &str,
    today: NaiveDate,
    resolution: &str,
) -> StoreResult<Option<Change>> {
    let key = AlertKey {
        kind: AlertKind::AssessmentOverdue,
        school_urn,
        upn: upn.to_owned(),
        subject: crate::domain::alerts::referral_subject_of(referral_id.get()),
    };
    let resolved = store::resolve(conn, &key, today, resolution)?;
    Ok(resolved.map(|alert| Change::alert(alert, school_urn, ChangeAction::Resolved)))
}

// ---------------------------------------------------------------------------------------------
// Case kinds (R11.4, R11.5, R12.1, R12.2)
// ---------------------------------------------------------------------------------------------

fn session_mark(stored: &StoredMark) -> Result<SessionMark, ApiError> {
    let session = Session::parse(&stored.session)
        .map_err(|e| ApiError::internal(format!("stored mark cannot be read: {e}")))?;
    let code = AttendanceCode::parse(&stored.code)
        .map_err(|e| ApiError::internal(format!("stored mark cannot be read: {e}")))?;
    Ok(SessionMark::new(stored.mark_date, session, code))
}

/// What the case rules read of a set of cases, in a fixed number of queries for them all, not
/// a few per case: the clock reads every active case before each read of the worklist.
struct CasesRead {
    reviews_past: HashMap<CaseId, Vec<(i64, NaiveDate)>>,
    /// Medical evidence received for each case: dates of the items stating inability to attend.
    evidence: HashMap<CaseId, Vec<NaiveDate>>,
    referrals: HashMap<ReferralId, Referral>,
    /// Each pupil's sessions coded with a `CASE_REGISTER_CODES` code, by pupil and school.
    register: HashMap<String, HashMap<i32, Vec<SessionMark>>>,
    /// Each case's ESMA lessons (R14.5).
    lessons: HashMap<CaseId, Vec<Lesson>>,
}

impl CasesRead {
    fn of(conn: &mut DbConnection, cases: &[Case], today: NaiveDate) -> Result<Self, ApiError> {
        let ids: Vec<CaseId> = cases.iter().map(|c| c.id).collect();
        let mut reviews_past: HashMap<CaseId, Vec<(i64, NaiveDate)>> = HashMap::new();
        for review in case_store::scheduled_before(conn, &ids, today)? {
            reviews_past
                .entry(review.case_id)
                .or_default()
                .push((review.id.get(), review.scheduled_for));
        }
        let mut evidence: HashMap<CaseId, Vec<NaiveDate>> = HashMap::new();
        for row in case_store::evidence_of_cases(conn, &ids)? {
            if row.item.states_unable_to_attend {
                evidence.entry(row.case_id).or_default().push(row.issued_on);
            }
        }
        let referral_ids: Vec<ReferralId> = cases.iter().map(|c| c.referral_id).collect();
        let referrals = referral_store::of_ids(conn, &referral_ids)?;
        let upns: Vec<&str> = cases.iter().map(|c| c.upn.as_str()).collect();
        let earliest = cases.iter().map(|c| c.start_date).min().unwrap_or(today);
        let watched = CASE_REGISTER_CODES.map(AttendanceCode::as_str);
        let mut register: HashMap<String, HashMap<i32, Vec<SessionMark>>> = HashMap::new();
        for mark in marks::with_codes_of_pupils(conn, &upns, &watched, earliest, today)? {
            let session = session_mark(&mark)?;
            register
                .entry(mark.upn)
                .or_default()
                .entry(mark.school_urn)
                .or_default()
                .push(session);
        }
        let mut lessons: HashMap<CaseId, Vec<Lesson>> = HashMap::new();
        for (_, lesson) in lesson_store::of_cases(conn, &ids)? {
            lessons.entry(lesson.case_id).or_default().push(lesson);
        }
        Ok(CasesRead {
            reviews_past,
            evidence,
            referrals,
            register,
            lessons,
        })
    }

    /// R11.4: the dates of the case's medical evidence, the referral's and what came after.
    fn evidence_dates(&mut self, case: &Case) -> Result<Vec<NaiveDate>, ApiError> {
        let mut dates = self.evidence.remove(&case.id).unwrap_or_default();
        if let Some(referral) = self.referrals.get(&case.referral_id) {
            dates.extend(referral.form.dates_unable_to_attend());
        }
        Ok(dates)
    }
}

/// The case alerts of the active cases (`only`: those cases, the active ones) as of `today`.
fn reconcile_cases(
    conn: &mut DbConnection,
    policy: &Policy,
    today: NaiveDate,
    only: Option<&[CaseId]>,
) -> Result<Reconciled, ApiError> {
    let kinds = kinds_where(|s| matches!(s, AlertScope::Case(_)));
    let rules: Vec<_> = kinds
        .iter()
        .filter_map(|k| match k.rule().scope {
            AlertScope::Case(rule) => Some(rule),
            _ => None,
        })
        .collect();
    // Closed cases among `only` are compared with nothing wanted: their alerts go.
    let (cases, of_only): (Vec<Case>, Vec<Case>) = match only {
        None => (case_store::active(conn)?, Vec::new()),
        Some(ids) => {
            let found = case_store::of_ids(conn, ids)?;
            let active = found
                .iter()
                .filter(|c| c.status == CaseStatus::Active)
                .cloned()
                .collect();
            (active, found)
        }
    };
    let calendar = SchoolCalendar::new(calendars::all(conn)?);
    let clock = CaseClock::new(today, &calendar, policy);
    let mut read = CasesRead::of(conn, &cases, today)?;
    let mut wanted = Vec::new();
    for case in &cases {
        let evidence_dates = read.evidence_dates(case)?;
        let facts = CaseFacts {
            case_id: case.id.get(),
            school_urn: case.school_urn,
            upn: &case.upn,
            start_date: case.start_date,
            reviews_past: read.reviews_past.get(&case.id).map_or(&[], Vec::as_slice),
            evidence_dates: &evidence_dates,
            marks: read
                .register
                .get(case.upn.as_str())
                .and_then(|at| at.get(&case.school_urn))
                .map_or(&[], Vec::as_slice),
            lessons: read.lessons.get(&case.id).map_or(&[], Vec::as_slice),
        };
        for rule in &rules {
            wanted.extend(rule(&facts, &clock));
        }
    }
    wanted.sort_by(|a, b| a.key.cmp(&b.key));
    let ids: HashSet<i64> = only.unwrap_or_default().iter().map(|id| id.get()).collect();
    let mut upns: Vec<&str> = of_only.iter().map(|c| c.upn.as_str()).collect();
    upns.sort_unstable();
    upns.dedup();
    let stored = match only {
        None => Stored::Everywhere,
        Some(_) => Stored::OfCases {
            ids: &ids,
            upns: &upns,
        },
    };
    Ok(reconcile(conn, &kinds, stored, wanted, today)?)
}

/// The alerts of case `case_id` as of today, before the case is read (not as of the last time
/// someone read the alert list). Returns what changed, for the change feed.
pub(crate) fn reconcile_case(
    conn: &mut DbConnection,
    policy: &Policy,
    today: NaiveDate,
    case_id: CaseId,
) -> Result<Vec<Change>, ApiError> {
    reconcile_cases_of(conn, policy, today, &[case_id])
}

/// [`reconcile_case`] for many cases at once, as a lesson push needs (R14.5): the same queries
/// for all of them, not one round of queries per case.
pub(crate) fn reconcile_cases_of(
    conn: &mut DbConnection,
    policy: &Policy,
    today: NaiveDate,
    case_ids: &[CaseId],
) -> Result<Vec<Change>, ApiError> {
    let mut changes = Vec::new();
    // Each read binds a parameter per case (or pupil): 500 at a time stay well within both
    // backends' limits.
    for chunk in case_ids.chunks(500) {
        changes.extend(reconcile_cases(conn, policy, today, Some(chunk))?.changes);
    }
    Ok(changes)
}

/// The open alerts a case shows: its pupil's at its school, the case's own and the register's,
/// not those of an earlier case.
pub(crate) fn open_of_case(
    conn: &mut DbConnection,
    case_id: CaseId,
    school_urn: i32,
    upn: &str,
) -> StoreResult<Vec<Alert>> {
    Ok(store::open_of_pupil_at(conn, school_urn, upn)?
        .into_iter()
        .filter(|a| !a.subject.starts_with("case ") || is_about_case(&a.subject, case_id.get()))
        .collect())
}

/// A case closed: its own open alerts (among `open`) end with it; the pupil's register alerts
/// do not. Returns what changed, for the change feed.
pub(crate) fn close_case(
    conn: &mut DbConnection,
    case_id: CaseId,
    open: &[Alert],
    today: NaiveDate,
) -> StoreResult<Vec<Change>> {
    let mut changed = Vec::new();
    for alert in open
        .iter()
        .filter(|a| is_about_case(&a.subject, case_id.get()))
    {
        let resolved = store::resolve(conn, &alert.key(), today, "the case closed")?;
        changed
            .extend(resolved.map(|id| Change::alert(id, alert.school_urn, ChangeAction::Resolved)));
    }
    Ok(changed)
}

/// R12.1 "with the dates": for each `register_code_mismatch` alert among `alerts`, the sessions
/// at its school still coded `C` from its case's start (to its resolution, or today), by alert
/// id. Two queries for the whole page.
fn mismatch_sessions(
    conn: &mut DbConnection,
    alerts: &[Alert],
    today: NaiveDate,
) -> Result<HashMap<i64, Vec<(NaiveDate, String)>>, ApiError> {
    let mismatches: Vec<(&Alert, CaseId)> = alerts
        .iter()
        .filter(|a| a.kind == AlertKind::RegisterCodeMismatch)
        .filter_map(|a| {
            let id = a.subject.strip_prefix("case ")?.parse::<i64>().ok()?;
            Some((a, CaseId::from(id)))
        })
        .collect();
    let case_ids: Vec<CaseId> = mismatches.iter().map(|(_, id)| *id).collect();
    let starts: HashMap<CaseId, NaiveDate> = case_store::of_ids(conn, &case_ids)?
        .into_iter()
        .map(|c| (c.id, c.start_date))
        .collect();
    let upns: Vec<&str> = mismatches.iter().map(|(a, _)| a.upn.as_str()).collect();
    let earliest = starts.values().min().copied().unwrap_or(today);
    let stored = marks::with_codes_of_pupils(conn, &upns, &["C"], earliest, today)?;
    let mut out = HashMap::new();
    for (alert, case_id) in mismatches {
        let Some(start) = starts.get(&case_id) else {
            continue;
        };
        let until = alert.resolved_on.unwrap_or(today);
        let sessions: Vec<(NaiveDate, String)> = stored
            .iter()
            .filter(|m| m.school_urn == alert.school_urn && m.upn == alert.upn)
            .filter(|m| *start <= m.mark_date && m.mark_date <= until)
            .map(|m| (m.mark_date, m.session.clone()))
            .collect();
        out.insert(alert.id, sessions);
    }
    Ok(out)
}

/// The deadline and facts of a case alert, read back from its subject
/// (`domain::alerts::case_subject`); `c_sessions`: a register_code_mismatch alert's sessions
/// coded C (see [`mismatch_sessions`]).
pub fn case_alert_facts(
    kind: AlertKind,
    subject: &str,
    since: NaiveDate,
    c_sessions: Option<&Vec<(NaiveDate, String)>>,
) -> (Option<NaiveDate>, serde_json::Value) {
    let parts: Vec<&str> = subject.split(' ').collect();
    let case_id = parts.get(1).and_then(|p| p.parse::<i64>().ok());
    let date_at = |i: usize| parts.get(i).and_then(|p| p.parse::<NaiveDate>().ok());
    match kind {
        AlertKind::ReviewOverdue => (
            date_at(4),
            json!({"case_id": case_id, "review_id": parts.get(3).and_then(|p| p.parse::<i64>().ok()),
                   "scheduled_for": date_at(4)}),
        ),
        AlertKind::MedicalEvidenceDue => (
            date_at(4),
            json!({"case_id": case_id, "gate_school_weeks": parts.get(3).and_then(|p| p.parse::<u32>().ok()),
                   "gate_on": date_at(4), "due_from": since}),
        ),
        AlertKind::RegisterCodeMismatch => {
            // R12.1 "with the dates": every date coded C since the start, not only the first.
            let sessions = c_sessions.map(Vec::as_slice).unwrap_or_default();
            let mut dates: Vec<NaiveDate> = sessions.iter().map(|(d, _)| *d).collect();
            dates.dedup();
            let listed: Vec<serde_json::Value> = sessions
                .iter()
                .map(|(d, s)| json!({"date": d, "session": s}))
                .collect();
            (
                None,
                json!({"case_id": case_id, "first_date": since, "dates": dates,
                       "sessions": listed}),
            )
        }
        _ => (None, json!({"case_id": case_id, "first_date": since})),
    }
}

// ---------------------------------------------------------------------------------------------
// The clock
// ---------------------------------------------------------------------------------------------

/// Brings the clock-driven alerts up to date as of `today`: overdue referral assessments
/// (R10.3), then the alerts of every active case (R11.4, R11.5, R12.1, R12.2). Run before the
/// worklist is read and by the event scan, so nobody has to look for them to be raised.
/// Returns what changed, for the change feed.
pub(crate) fn follow_clock(
    conn: &mut DbConnection,
    policy: &Policy,
    today: NaiveDate,
) -> Result<Vec<Change>, ApiError> {
    let mut changed = reconcile_referrals(conn, today)?.changes;
    changed.extend(reconcile_cases(conn, policy, today, None)?.changes);
    Ok(changed)
}

/// The open alerts that announce an event (`EventType::announcing`) and have not yet: an `N`
/// once it is overdue as of `today` (R5.1).
pub(crate) fn to_announce(
    conn: &mut DbConnection,
    today: NaiveDate,
    calendar: &SchoolCalendar,
    attendance: &AttendancePolicy,
) -> StoreResult<Vec<Alert>> {
    let kinds: Vec<AlertKind> = AlertKind::ALL
        .into_iter()
        .filter(|k| EventType::announcing(*k).is_some())
        .collect();
    let before =
        unexplained_overdue_before(today, calendar, attendance.unexplained_after_school_days);
    store::to_announce(conn, &kinds, AlertKind::UnexplainedAbsenceOverdue, before)
}

// ---------------------------------------------------------------------------------------------
// GET /api/v1/alerts
// ---------------------------------------------------------------------------------------------

/// What the caller asked the worklist for (already parsed).
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    pub kinds: Option<Vec<AlertKind>>,
    pub school_urn: Option<i32>,
    pub upn: Option<String>,
    /// Only alerts in this state; `None`: both.
    pub state: Option<AlertState>,
    /// Only acknowledged (`true`) or unacknowledged (`false`, the default worklist) alerts;
    /// `None`: both (R16.3).
    pub acknowledged: Option<bool>,
    pub since_from: Option<NaiveDate>,
    pub since_to: Option<NaiveDate>,
    pub after_id: Option<i64>,
    pub limit: i64,
}

/// One alert as the worklist shows it.
#[derive(Debug, Clone)]
pub struct AlertView {
    pub id: i64,
    pub kind: AlertKind,
    pub upn: String,
    pub school_urn: i32,
    pub academic_year: AcademicYear,
    pub since: NaiveDate,
    pub due_by: Option<NaiveDate>,
    pub state: AlertState,
    pub raised_on: NaiveDate,
    pub resolved_on: Option<NaiveDate>,
    pub resolution: Option<String>,
    /// R16.3: who acknowledged it, when, with what note.
    pub acknowledgement: Option<Acknowledgement>,
    pub facts: serde_json::Value,
}

pub struct AlertPage {
    pub alerts: Vec<AlertView>,
    /// Set when there may be more: pass it as `cursor`.
    pub next_after_id: Option<i64>,
}

/// What a worklist page's facts are read from, in a fixed number of queries for the page.
struct PageFacts<'a> {
    tallies: HashMap<(i32, i32, String), YearTally>,
    referrals: HashMap<ReferralId, Referral>,
    c_sessions: HashMap<i64, Vec<(NaiveDate, String)>>,
    policy: &'a AttendancePolicy,
    calendar: &'a SchoolCalendar,
    today: NaiveDate,
}

impl PageFacts<'_> {
    fn view(&self, row: Alert) -> Result<AlertView, ApiError> {
        let (due_by, facts) = match row.kind {
            AlertKind::UnexplainedAbsenceOverdue => self.unexplained(&row)?,
            AlertKind::SicknessReturnDue => self.sickness_return(&row),
            AlertKind::UnauthorisedAbsence10Days => self.unauthorised_notice(&row),
            AlertKind::AssessmentOverdue => self.assessment(&row),
            AlertKind::ReviewOverdue
            | AlertKind::MedicalEvidenceDue
            | AlertKind::RegisterCodeMismatch
            | AlertKind::SupportNonEngagement
            | AlertKind::LessonNonEngagement => case_alert_facts(
                row.kind,
                &row.subject,
                row.since,
                self.c_sessions.get(&row.id),
            ),
            AlertKind::PersistentAbsence | AlertKind::SevereAbsence => self.absence(&row),
        };
        Ok(AlertView {
            id: row.id,
            kind: row.kind,
            state: row.state(),
            upn: row.upn,
            school_urn: row.school_urn,
            academic_year: AcademicYear::new(row.academic_year),
            since: row.since,
            due_by,
            raised_on: row.raised_on,
            resolved_on: row.resolved_on,
            resolution: row.resolution,
            acknowledgement: row.acknowledgement,
            facts,
        })
    }

    fn tally(&self, row: &Alert) -> Option<&YearTally> {
        self.tallies
            .get(&(row.school_urn, row.academic_year, row.upn.clone()))
    }

    /// R5.1: the `N` and its deadline, read back from the subject.
    fn unexplained(&self, row: &Alert) -> Result<(Option<NaiveDate>, Value), ApiError> {
        let (date, session) = parse_session_subject(&row.subject).ok_or_else(|| {
            ApiError::internal(format!(
                "stored alert {} has subject {}",
                row.id, row.subject
            ))
        })?;
        let (calendar, after) = (self.calendar, self.policy.unexplained_after_school_days);
        let due_by = unexplained_due_by(date, calendar, after);
        Ok((
            Some(due_by),
            json!({
                "mark_date": date,
                "session": session,
                "code": "N",
                "school_days_since": calendar.school_days_between(date, self.today),
                "school_days_allowed": after,
                "overdue_from": unexplained_overdue_from(date, calendar, after),
            }),
        ))
    }

    /// R4: the illness days behind a sickness return, as they are now.
    fn sickness_return(&self, row: &Alert) -> (Option<NaiveDate>, Value) {
        let policy = self.policy;
        let tally = self.tally(row);
        let reached = tally.and_then(|t| t.sickness_return_reached);
        (
            // Due from the session that reached the threshold: no later deadline is set.
            Some(row.since),
            json!({
                "illness_days_cumulative": tally.map(|t| t.illness_days(policy)),
                "threshold_days": policy.sickness_return_days,
                "reached_on": reached.map(|r| r.0),
                "reached_session": reached.map(|r| r.1),
                "current_streak_days": tally.map(|t| t.current_streak_days()),
                "longest_streak_days": tally.map(|t| t.longest_streak_days()),
            }),
        )
    }

    /// R16.1: the unauthorised sessions behind the 10-day notice, as they are now.
    fn unauthorised_notice(&self, row: &Alert) -> (Option<NaiveDate>, Value) {
        let tally = self.tally(row);
        let reached = tally.and_then(|t| t.unauthorised_notice_reached);
        let sessions = tally.map(|t| t.unauthorised_sessions());
        (
            // Due from the session that reached it, as a sickness return is.
            Some(row.since),
            json!({
                "unauthorised_sessions": sessions,
                "unauthorised_days_cumulative": sessions.map(|s| f64::from(s) / 2.0),
                "current_run_sessions": tally.map(|t| t.unauthorised_run),
                "threshold_sessions": UNAUTHORISED_NOTICE_SESSIONS,
                "reached_on": reached.map(|r| r.0),
                "reached_session": reached.map(|r| r.1),
            }),
        )
    }

    /// R10.3: the referral whose assessment is overdue.
    fn assessment(&self, row: &Alert) -> (Option<NaiveDate>, Value) {
        let referral =
            referral_subject(&row.subject).and_then(|id| self.referrals.get(&ReferralId::from(id)));
        let due_by = referral.map(|r| r.assessment_due_by);
        (
            due_by,
            json!({
                "referral_id": referral.map(|r| r.id),
                "status": referral.map(|r| r.status),
                "received_on": referral.map(|r| r.received_at.date()),
                "assessment_due_by": due_by,
                "school_days_overdue": due_by.map(|d| self.calendar.school_days_between(d, self.today)),
            }),
        )
    }

    /// R2.2: the measures behind persistent or severe absence.
    fn absence(&self, row: &Alert) -> (Option<NaiveDate>, Value) {
        let tally = self.tally(row);
        let measures = tally.map(|t| t.measures(self.policy));
        (
            None,
            json!({
                "possible_sessions": measures.as_ref().map(|m| m.possible_sessions),
                "absence_sessions": measures.as_ref().map(|m| m.authorised_absence + m.unauthorised_absence),
                "authorised_absence": measures.as_ref().map(|m| m.authorised_absence),
                "unauthorised_absence": measures.as_ref().map(|m| m.unauthorised_absence),
                "absence_rate": measures.as_ref().map(|m| m.absence_rate),
                "threshold_percent": if row.kind == AlertKind::SevereAbsence { 50 } else { 10 },
                "latest_session_date": tally.and_then(|t| t.latest).map(|l| l.0),
            }),
        )
    }
}

/// The alerts as the worklist shows them, with their facts read in a fixed number of queries.
fn views(
    conn: &mut DbConnection,
    rows: Vec<Alert>,
    policy: &AttendancePolicy,
    calendar: &SchoolCalendar,
    today: NaiveDate,
) -> Result<Vec<AlertView>, ApiError> {
    // The tallies behind the page's facts, in one query rather than one per alert.
    let keys: Vec<(i32, i32, &str)> = rows
        .iter()
        .filter(|r| r.kind != AlertKind::UnexplainedAbsenceOverdue)
        .map(|r| (r.school_urn, r.academic_year, r.upn.as_str()))
        .collect();
    let referral_ids: Vec<ReferralId> = rows
        .iter()
        .filter(|r| r.kind == AlertKind::AssessmentOverdue)
        .filter_map(|r| referral_subject(&r.subject))
        .map(ReferralId::from)
        .collect();
    let facts = PageFacts {
        tallies: tallies::of_keys(conn, &keys)?,
        referrals: referral_store::of_ids(conn, &referral_ids)?,
        c_sessions: mismatch_sessions(conn, &rows, today)?,
        policy,
        calendar,
        today,
    };
    rows.into_iter().map(|row| facts.view(row)).collect()
}

/// `POST /api/v1/alerts/{id}/acknowledge` (R16.3): `la` any alert; a school its own pupils'
/// attendance alerts (another school's alert is 404, a case or referral alert 403). The first
/// acknowledgement stands: acknowledging again answers the alert as it is (200, unchanged); a
/// resolved alert is 409. Audited (refusals too); a recorded acknowledgement is on the change
/// feed as `acknowledged`.
pub async fn acknowledge(
    state: &AppState,
    actor: &Actor,
    id: i64,
    note: String,
) -> Result<AlertView, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    let today = state.clock.today();
    let now = state.clock.now_naive();
    let policy = state.attendance.clone();
    let actor = actor.clone();
    state
        .db
        .write(move |conn| {
            let refused = |conn: &mut DbConnection,
                           subject: AuditSubject,
                           outcome: AuditOutcome,
                           error: ApiError|
             -> Result<Result<AlertView, ApiError>, ApiError> {
                let mut event = actor.audit(now, "acknowledge", subject);
                event.outcome = outcome.as_str().to_string();
                audit::append(conn, &[event])?;
                Ok(Err(error))
            };
            let not_found = || ApiError::not_found(format!("no alert with id {id}"));
            let Some(alert) = store::find(conn, id)? else {
                let subject = AuditSubject::new("alert", id.to_string());
                return refused(conn, subject, AuditOutcome::NotFound, not_found());
            };
            let subject = AuditSubject::new("alert", id.to_string())
                .school(alert.school_urn)
                .pupil(alert.upn.clone());
            if actor.role == Role::School {
                if actor.may_read_school(alert.school_urn).is_err() {
                    return refused(conn, subject, AuditOutcome::NotFound, not_found());
                }
                if !alert.kind.is_attendance() {
                    let error = ApiError::forbidden(format!(
                        "a school acknowledges its pupils' attendance alerts; {} is the LA's",
                        alert.kind
                    ));
                    return refused(conn, subject, AuditOutcome::Forbidden, error);
                }
            }
            let mut changed = Vec::new();
            match alert.acknowledging() {
                Acknowledging::Resolved => {
                    let error = ApiError::conflict(format!(
                        "alert {id} was resolved on {}: a resolved alert is not acknowledged                          (if its cause comes back it is raised as a new alert)",
                        alert.resolved_on.unwrap_or(today)
                    ));
                    return refused(conn, subject, AuditOutcome::Rejected, error);
                }
                Acknowledging::AlreadyAcknowledged => {}
                Acknowledging::Record => {
                    let acknowledgement = Acknowledgement {
                        by: actor.client_id.clone(),
                        at: now,
                        note,
                    };
                    if store::acknowledge(conn, id, &acknowledgement)? {
                        changed.push(Change::alert(
                            id,
                            alert.school_urn,
                            ChangeAction::Acknowledged,
                        ));
                    }
                }
            }
            let alert = store::find(conn, id)?.ok_or_else(not_found)?;
            let calendar = SchoolCalendar::new(calendars::all(conn)?);
            let view = views(conn, vec![alert], &policy, &calendar, today)?
                .pop()
                .ok_or_else(not_found)?;
            audit::append(conn, &[actor.audit(now, "acknowledge", subject)])?;
            changes::record_at(conn, now, &changed)?;
            Ok(Ok(view))
        })
        .await?
}

/// `GET /api/v1/alerts`: the LA sees every school's alerts, a school its own (404 for another
/// school's URN, as for any read of another school's data). One audit row per page read.
pub async fn list(
    state: &AppState,
    actor: &Actor,
    query: AlertQuery,
) -> Result<AlertPage, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    let schools = actor.schools_to_list(query.school_urn)?;
    let today = state.clock.today();
    let now = state.clock.now_naive();
    let policy = state.attendance.clone();
    let case_policy = state.policy.clone();
    let actor = actor.clone();
    state
        .db
        .write(move |conn| {
            let calendar = SchoolCalendar::new(calendars::all(conn)?);
            // Clock-driven (R10.3, R11, R12): raised when first looked at after the day comes.
            let changed = follow_clock(conn, &case_policy, today)?;
            let filter = AlertFilter {
                kinds: query.kinds.clone(),
                schools,
                upn: query.upn.clone(),
                state: query.state,
                acknowledged: query.acknowledged,
                since_from: query.since_from,
                since_to: query.since_to,
                unexplained_before: unexplained_overdue_before(
                    today,
                    &calendar,
                    policy.unexplained_after_school_days,
                ),
                after_id: query.after_id,
            };
            let rows = store::page(
                conn,
                &filter,
                AlertKind::UnexplainedAbsenceOverdue,
                query.limit + 1,
            )?;
            let (rows, next_after_id) = page_of(rows, query.limit, |r| r.id);
            let alerts = views(conn, rows, &policy, &calendar, today)?;
            let subject = AuditSubject::list("alerts", "worklist", query.school_urn, query.upn);
            audit::append(conn, &[actor.audit(now, "read", subject)])?;
            changes::record_at(conn, now, &changed)?;
            Ok(AlertPage {
                alerts,
                next_after_id,
            })
        })
        .await
}

/// The open alerts, keyed, for `esma-api recompute --check` and the consistency test.
pub(crate) fn open_keys(
    conn: &mut DbConnection,
) -> StoreResult<std::collections::BTreeSet<AlertKey>> {
    Ok(store::all(conn)?
        .into_iter()
        .filter(|row| row.resolved_on.is_none())
        .map(|row| row.key())
        .collect())
}
