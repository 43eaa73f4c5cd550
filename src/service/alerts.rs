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
//! - referral and case kinds: the clock ([`follow_clock`], on the worklist's first read of a
//!   day, a new LA calendar and every event scan), a case read or write ([`reconcile_case`]), a
//!   decision opening a case, a register push (the active cases of the pupils whose marks
//!   changed) and a lesson push (the cases it touched, together: [`reconcile_cases_of`]), a case
//!   exit ([`close_case`]) and a referral's decision or withdrawal
//!   ([`resolve_assessment_overdue`]);
//! - part-time timetable kinds (R15.2, R15.3): the `C2` register kinds on a push for the pupils
//!   whose `C2` sessions changed ([`AlertWork::check_c2`], [`reconcile_c2`]), on every write of
//!   an agreement and a case's opening or exit ([`reconcile_agreement`],
//!   [`reconcile_c2_of_pupil`]) and by `esma-api recompute`; the agreement kinds on its writes,
//!   and `part_time_review_overdue` by the clock ([`follow_clock`]).
//!
//! It imports no other use case: cases, referrals, attendance, part-time timetables and webhooks
//! call it.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::{page_of, Actor, AppState, AuditSubject};
use crate::domain::access::Role;
use crate::domain::alerts::{
    c2_alerts, case_of_subject, is_about_case, parse_session_subject, part_time_review_overdue,
    part_time_subject, part_time_subject_id, referral_subject, unexplained_overdue_before,
    Acknowledgement, Acknowledging, AgreementClock, AgreementSpan, Alert, AlertChange, AlertKey,
    AlertKind, AlertScope, AlertState, C2Cover, CaseClock, CaseFacts, ReferralFacts, WantedAlert,
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
use crate::domain::part_time::{PartTimePolicy, PartTimeTimetable};
use crate::domain::policy::Policy;
use crate::domain::referral::{Referral, ReferralId};
use crate::domain::tally::YearTally;
use crate::error::ApiError;
use crate::store::alerts::{self as store, AlertFilter, NewAlert};
use crate::store::cases as case_store;
use crate::store::lessons as lesson_store;
use crate::store::marks::{self, StoredMark};
use crate::store::part_time as part_time_store;
use crate::store::referrals as referral_store;
use crate::store::{attendance as tallies, audit, calendars, changes, DbConnection, StoreResult};

// ---------------------------------------------------------------------------------------------
// The engine: wanted against stored
// ---------------------------------------------------------------------------------------------

/// Which stored alerts a reconciliation compares with what the rules want.
#[derive(Clone, Copy)]
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
    /// Those of these pupils that `keep` says the reconciliation is about (R15: a pupil's
    /// years at a school, an agreement).
    OfPupils {
        upns: &'a [&'a str],
        keep: &'a dyn Fn(&Alert) -> bool,
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
        (true, Stored::OfCases { upns, .. } | Stored::OfPupils { upns, .. }) => {
            store::open_of_pupils(conn, upns, kinds)?
        }
    };
    for open in open {
        if let Stored::OfCases { ids, .. } = stored {
            if !case_of_subject(&open.subject).is_some_and(|id| ids.contains(&id)) {
                continue;
            }
        }
        if let Stored::OfPupils { keep, .. } = stored {
            if !keep(&open) {
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
    /// R15.3: the pupils' years whose `C2` sessions changed, to check against their
    /// agreements and cases when the push is written.
    c2: Vec<C2Register>,
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

    /// R15.3: a pupil's year whose `C2` sessions the push changed (added or replaced one).
    pub(crate) fn check_c2(&mut self, register: C2Register) {
        self.c2.push(register);
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
        // Read in the write transaction, so an agreement recorded meanwhile counts.
        changed.extend(reconcile_c2(conn, &self.c2, today)?);
        Ok(changed)
    }
}

// ---------------------------------------------------------------------------------------------
// Part-time timetables (R15.2, R15.3)
// ---------------------------------------------------------------------------------------------

/// One pupil's `C2` sessions of one academic year at a school, in register order.
#[derive(Debug, Clone)]
pub(crate) struct C2Register {
    pub school_urn: i32,
    pub upn: String,
    pub year: AcademicYear,
    pub sessions: Vec<(NaiveDate, Session)>,
    /// A push that only added `C2` sessions (removed none). What covers them did not change (a
    /// write that changes it reconciles then), so every open alert stays wanted: only a session
    /// left uncovered needs the stored alerts compared.
    pub only_added: bool,
}

type Covers = HashMap<(i32, String), C2Cover>;

/// Adds these pupils' agreements to `covers` (one query).
fn add_agreements(conn: &mut DbConnection, upns: &[&str], covers: &mut Covers) -> StoreResult<()> {
    for (id, urn, upn, start, end) in part_time_store::spans_of_pupils(conn, upns)? {
        covers
            .entry((urn, upn))
            .or_default()
            .agreements
            .push(AgreementSpan { id, start, end });
    }
    Ok(())
}

/// Adds these pupils' cases to `covers` (one query).
fn add_cases(conn: &mut DbConnection, upns: &[&str], covers: &mut Covers) -> StoreResult<()> {
    for (upn, urn, start, end) in case_store::spans_of_pupils(conn, upns)? {
        covers
            .entry((urn, upn))
            .or_default()
            .cases
            .push((start, end));
    }
    Ok(())
}

/// What covers the `C2` sessions of `registers`, by school and pupil, as a push needs it: their
/// agreements, and the cases only of the pupils with a session no agreement covers (R12.1: a
/// supported pupil's `C2` is the case's). One query when agreements cover every session, two at
/// most, for any number of pupils.
fn covers_for(conn: &mut DbConnection, registers: &[C2Register]) -> StoreResult<Covers> {
    let mut upns: Vec<&str> = registers.iter().map(|r| r.upn.as_str()).collect();
    upns.sort_unstable();
    upns.dedup();
    let mut covers = Covers::new();
    add_agreements(conn, &upns, &mut covers)?;
    let none = C2Cover::default();
    let mut uncovered: Vec<&str> = registers
        .iter()
        .filter(|r| {
            let cover = covers.get(&(r.school_urn, r.upn.clone())).unwrap_or(&none);
            r.sessions
                .iter()
                .any(|(date, _)| cover.finding(*date).is_some())
        })
        .map(|r| r.upn.as_str())
        .collect();
    uncovered.sort_unstable();
    uncovered.dedup();
    if !uncovered.is_empty() {
        add_cases(conn, &uncovered, &mut covers)?;
    }
    Ok(covers)
}

/// What covers these pupils' `C2` sessions, by school and pupil: their agreements and cases,
/// in two queries for them all.
fn covers_of(conn: &mut DbConnection, upns: &[&str]) -> StoreResult<Covers> {
    let mut covers = Covers::new();
    add_agreements(conn, upns, &mut covers)?;
    add_cases(conn, upns, &mut covers)?;
    Ok(covers)
}

/// R15.3: reconciles the `c2_without_agreement` and `part_time_timetable_overrun` alerts of
/// each pupil's year in `registers` (and only those) with what its `C2` sessions, agreements
/// and cases want. A fixed number of queries for any number of pupils: on a push whose `C2`
/// sessions are all covered, one (docs/performance.md, "R15.3 on the push").
pub(crate) fn reconcile_c2(
    conn: &mut DbConnection,
    registers: &[C2Register],
    today: NaiveDate,
) -> StoreResult<Vec<Change>> {
    if registers.is_empty() {
        return Ok(Vec::new());
    }
    let covers = covers_for(conn, registers)?;
    let none = C2Cover::default();
    let mut wanted = Vec::new();
    let mut compared: Vec<&C2Register> = Vec::new();
    for r in registers {
        let cover = covers.get(&(r.school_urn, r.upn.clone())).unwrap_or(&none);
        let found = c2_alerts(r.school_urn, &r.upn, r.year, &r.sessions, cover);
        if r.only_added && found.is_empty() {
            continue; // nothing to raise, and nothing open can have lost its cause
        }
        wanted.extend(found);
        compared.push(r);
    }
    if compared.is_empty() {
        return Ok(Vec::new());
    }
    let mut upns: Vec<&str> = compared.iter().map(|r| r.upn.as_str()).collect();
    upns.sort_unstable();
    upns.dedup();
    wanted.sort_by(|a, b| a.key.cmp(&b.key));
    let scope: HashSet<(i32, &str, i32)> = compared
        .iter()
        .map(|r| (r.school_urn, r.upn.as_str(), r.year.start_year()))
        .collect();
    let keep = |a: &Alert| scope.contains(&(a.school_urn, a.upn.as_str(), a.academic_year));
    let stored = Stored::OfPupils {
        upns: &upns,
        keep: &keep,
    };
    Ok(reconcile(conn, &AlertKind::C2_KINDS, stored, wanted, today)?.changes)
}

/// The R15.3 `C2` alerts of a school's pupils from scratch (`esma-api recompute`): `marks`
/// are each pupil's sessions in register order.
pub(crate) fn c2_alerts_of_school<'a>(
    conn: &mut DbConnection,
    school_urn: i32,
    marks: impl Iterator<Item = (&'a str, &'a [SessionMark])>,
) -> StoreResult<Vec<WantedAlert>> {
    let mut covers: HashMap<String, C2Cover> = HashMap::new();
    for (id, _, upn, start, end) in part_time_store::spans_of_school(conn, school_urn)? {
        covers
            .entry(upn)
            .or_default()
            .agreements
            .push(AgreementSpan { id, start, end });
    }
    for (upn, _, start, end) in case_store::spans_of_school(conn, school_urn)? {
        covers.entry(upn).or_default().cases.push((start, end));
    }
    let none = C2Cover::default();
    let mut wanted = Vec::new();
    for (upn, marks) in marks {
        let mut by_year: std::collections::BTreeMap<AcademicYear, Vec<(NaiveDate, Session)>> =
            std::collections::BTreeMap::new();
        for m in marks.iter().filter(|m| m.code == AttendanceCode::C2) {
            by_year
                .entry(AcademicYear::containing(m.date))
                .or_default()
                .push((m.date, m.session));
        }
        let cover = covers.get(upn).unwrap_or(&none);
        for (year, sessions) in by_year {
            wanted.extend(c2_alerts(school_urn, upn, year, &sessions, cover));
        }
    }
    Ok(wanted)
}

/// After an agreement was written (created, extended, reviewed): keeps its next review date for
/// the clock, reconciles its own alerts (R15.2 prolonged, R15.3 review overdue) and the `C2`
/// alerts of its pupil at its school in every academic year its dates (`before`: as they were)
/// reach. Returns what changed, for the change feed.
pub(crate) fn reconcile_agreement(
    conn: &mut DbConnection,
    policy: &Policy,
    calendar: &SchoolCalendar,
    today: NaiveDate,
    t: &PartTimeTimetable,
    before: Option<(NaiveDate, NaiveDate)>,
) -> Result<Vec<Change>, ApiError> {
    part_time_store::set_next_review_date(conn, t.id, t.next_review_date())?;
    let clock = AgreementClock {
        today,
        calendar,
        policy: &policy.part_time,
    };
    let mut wanted: Vec<WantedAlert> = AlertKind::AGREEMENT_KINDS
        .iter()
        .filter_map(|k| match k.rule().scope {
            AlertScope::Agreement(rule) => rule(t, &clock),
            _ => None,
        })
        .collect();
    wanted.sort_by(|a, b| a.key.cmp(&b.key));
    let subject = part_time_subject(t.id.get());
    let keep = |a: &Alert| a.school_urn == t.school_urn && a.subject == subject;
    let upns = [t.upn.as_str()];
    let stored = Stored::OfPupils {
        upns: &upns,
        keep: &keep,
    };
    let mut changed = reconcile(conn, &AlertKind::AGREEMENT_KINDS, stored, wanted, today)?.changes;
    let (mut from, mut to) = (t.terms.start_date, t.terms.end_date);
    if let Some((start, end)) = before {
        from = from.min(start);
        to = to.max(end);
    }
    changed.extend(reconcile_c2_of_pupil(
        conn,
        t.school_urn,
        &t.upn,
        (from, to),
        today,
    )?);
    Ok(changed)
}

/// R15.3: reconciles the `C2` alerts of a pupil at a school in every academic year from the one
/// containing `dates.0` to the one containing `dates.1`, against its `C2` sessions as stored: what
/// a write that changes what covers them (an agreement, a case opened or closed) needs.
pub(crate) fn reconcile_c2_of_pupil(
    conn: &mut DbConnection,
    school_urn: i32,
    upn: &str,
    dates: (NaiveDate, NaiveDate),
    today: NaiveDate,
) -> Result<Vec<Change>, ApiError> {
    let (first, last) = (
        AcademicYear::containing(dates.0.min(dates.1)),
        AcademicYear::containing(dates.0.max(dates.1)),
    );
    let c2 = AttendanceCode::C2.as_str();
    let stored_marks =
        marks::with_codes_of_pupils(conn, &[upn], &[c2], first.first_day(), last.last_day())?;
    let mut registers = Vec::new();
    let mut year = first;
    while year <= last {
        let mut sessions = Vec::new();
        for m in stored_marks
            .iter()
            .filter(|m| m.school_urn == school_urn && year.contains(m.mark_date))
        {
            sessions.push((m.mark_date, session_mark(m)?.session));
        }
        registers.push(C2Register {
            school_urn,
            upn: upn.to_owned(),
            year,
            sessions,
            only_added: false,
        });
        year = year.next();
    }
    Ok(reconcile_c2(conn, &registers, today)?)
}

/// R15.3 `part_time_review_overdue` as of `today`, for the clock: only the agreements whose
/// next review date has passed are read.
fn reconcile_part_time_reviews(
    conn: &mut DbConnection,
    policy: &Policy,
    today: NaiveDate,
) -> Result<Reconciled, ApiError> {
    let due = part_time_store::review_due_before(conn, today)?;
    // The rule counts no school days: the calendar is read only when there is something to ask.
    let calendar = if due.is_empty() {
        SchoolCalendar::empty()
    } else {
        SchoolCalendar::new(calendars::all(conn)?)
    };
    let clock = AgreementClock {
        today,
        calendar: &calendar,
        policy: &policy.part_time,
    };
    let mut wanted: Vec<WantedAlert> = due
        .iter()
        .filter_map(|t| part_time_review_overdue(t, &clock))
        .collect();
    wanted.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(reconcile(
        conn,
        &[AlertKind::PartTimeReviewOverdue],
        Stored::Everywhere,
        wanted,
        today,
    )?)
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

/// [`reconcile_cases_of`] for the school's active cases of the pupils `upns` (a register push's
/// pupils whose marks changed: R12.1's codes and R12.2's absences are read from the register).
/// Reads only the school's active cases when none of them is among the pupils.
pub(crate) fn reconcile_cases_of_pupils<'a>(
    conn: &mut DbConnection,
    policy: &Policy,
    today: NaiveDate,
    school_urn: i32,
    upns: impl Iterator<Item = &'a str>,
) -> Result<Vec<Change>, ApiError> {
    let changed: HashSet<&str> = upns.collect();
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<CaseId> = case_store::active_at_school(conn, school_urn)?
        .into_iter()
        .filter(|(_, upn)| changed.contains(upn.as_str()))
        .map(|(id, _)| id)
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    reconcile_cases_of(conn, policy, today, &ids)
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

/// How many sessions an alert's facts list (R15.3 "lists its sessions"); `sessions_count`
/// gives them all.
const SESSIONS_LISTED: usize = 50;

/// R15.2, R15.3: the due date and facts of each part-time timetable alert among `alerts`, by
/// alert id: the `C2` sessions each `C2` alert is about, as the register, agreements and cases
/// are now (what is left of them once it is resolved), and each agreement alert's agreement. A
/// fixed number of queries for the page.
fn part_time_facts(
    conn: &mut DbConnection,
    alerts: &[Alert],
    policy: &PartTimePolicy,
    calendar: &SchoolCalendar,
    today: NaiveDate,
) -> Result<HashMap<i64, (Option<NaiveDate>, Value)>, ApiError> {
    let mut out = HashMap::new();
    let c2: Vec<&Alert> = alerts
        .iter()
        .filter(|a| AlertKind::C2_KINDS.contains(&a.kind))
        .collect();
    if !c2.is_empty() {
        let mut upns: Vec<&str> = c2.iter().map(|a| a.upn.as_str()).collect();
        upns.sort_unstable();
        upns.dedup();
        let first = c2.iter().map(|a| a.academic_year).min().unwrap_or_default();
        let last = c2.iter().map(|a| a.academic_year).max().unwrap_or_default();
        let code = AttendanceCode::C2.as_str();
        let stored = marks::with_codes_of_pupils(
            conn,
            &upns,
            &[code],
            AcademicYear::new(first).first_day(),
            AcademicYear::new(last).last_day(),
        )?;
        let covers = covers_of(conn, &upns)?;
        let none = C2Cover::default();
        for alert in c2 {
            let year = AcademicYear::new(alert.academic_year);
            let mut sessions = Vec::new();
            for m in stored.iter().filter(|m| {
                m.school_urn == alert.school_urn && m.upn == alert.upn && year.contains(m.mark_date)
            }) {
                sessions.push((m.mark_date, session_mark(m)?.session));
            }
            let cover = covers
                .get(&(alert.school_urn, alert.upn.clone()))
                .unwrap_or(&none);
            let found: Vec<(NaiveDate, Session)> = cover
                .uncovered(&sessions)
                .into_iter()
                .filter(|(_, _, f)| f.kind() == alert.kind && f.subject(year) == alert.subject)
                .map(|(d, s, _)| (d, s))
                .collect();
            let listed: Vec<Value> = found
                .iter()
                .take(SESSIONS_LISTED)
                .map(|(d, s)| json!({"date": d, "session": s}))
                .collect();
            let mut facts = json!({
                "academic_year": year.to_string(),
                "first_date": found.first().map(|(d, _)| *d),
                "sessions_count": found.len(),
                "sessions": listed,
            });
            if let Some(id) = part_time_subject_id(&alert.subject) {
                let agreement = cover.agreements.iter().find(|a| a.id == id);
                facts["part_time_timetable_id"] = json!(id);
                facts["end_date"] = json!(agreement.map(|a| a.end));
            }
            out.insert(alert.id, (None, facts));
        }
    }
    let ids: Vec<i64> = alerts
        .iter()
        .filter(|a| AlertKind::AGREEMENT_KINDS.contains(&a.kind))
        .filter_map(|a| part_time_subject_id(&a.subject))
        .collect();
    if ids.is_empty() {
        return Ok(out);
    }
    let agreements: HashMap<i64, PartTimeTimetable> = part_time_store::of_ids(conn, &ids)?
        .into_iter()
        .map(|t| (t.id.get(), t))
        .collect();
    for alert in alerts {
        let Some(t) = part_time_subject_id(&alert.subject).and_then(|id| agreements.get(&id))
        else {
            continue;
        };
        let base = json!({
            "part_time_timetable_id": t.id, "start_date": t.terms.start_date,
            "end_date": t.terms.end_date,
        });
        let entry = match alert.kind {
            AlertKind::PartTimeReviewOverdue => {
                let overdue = t.reviews_overdue(today);
                let mut facts = base;
                facts["review_dates_overdue"] = json!(overdue);
                facts["reviews_recorded"] = json!(t.reviews.len());
                facts["next_review_date"] = json!(t.next_review_date());
                (overdue.first().copied(), facts)
            }
            AlertKind::PartTimeTimetableProlonged => {
                let mut facts = base;
                facts["span_school_days"] = json!(t.span_school_days(calendar));
                facts["threshold_school_days"] = json!(policy.prolonged_school_days);
                facts["end_dates"] =
                    json!(t.end_dates.iter().map(|e| e.end_date).collect::<Vec<_>>());
                (None, facts)
            }
            _ => continue,
        };
        out.insert(alert.id, entry);
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

/// The day this process last brought the clock-driven alerts up to date before a worklist read
/// ([`follow_clock`]). What the clock raises changes only with the day: the facts under it
/// change only through writes, and each write reconciles the alerts of what it changed (a case
/// write or read its case, a register push the cases of the pupils whose marks changed, a lesson
/// push its cases, a decision the case it opens, an agreement's write its agreement, a new LA
/// calendar everything the clock raises). So the worklist follows the clock on its first read of
/// a day, not on every read: at an LA's few hundred active cases, following it took most of a
/// worklist page's time (issue 25). The event scan still follows it on every run.
#[derive(Debug, Default)]
pub struct ClockFollowed(std::sync::Mutex<Option<NaiveDate>>);

impl ClockFollowed {
    /// Whether the clock has not been followed for `today` yet.
    pub fn is_due(&self, today: NaiveDate) -> bool {
        self.0.lock().map_or(true, |day| *day != Some(today))
    }

    /// The clock was followed for `today` (and the transaction that did it committed).
    pub fn done(&self, today: NaiveDate) {
        if let Ok(mut day) = self.0.lock() {
            *day = Some(today);
        }
    }
}

/// Brings the clock-driven alerts up to date as of `today`: overdue referral assessments
/// (R10.3), then the alerts of every active case (R11.4, R11.5, R12.1, R12.2). Run by the
/// worklist's first read of a day ([`ClockFollowed`]), by a new LA calendar and by every event
/// scan, so nobody has to look for them to be raised.
/// Returns what changed, for the change feed.
pub(crate) fn follow_clock(
    conn: &mut DbConnection,
    policy: &Policy,
    today: NaiveDate,
) -> Result<Vec<Change>, ApiError> {
    let mut changed = reconcile_referrals(conn, today)?.changes;
    changed.extend(reconcile_cases(conn, policy, today, None)?.changes);
    changed.extend(reconcile_part_time_reviews(conn, policy, today)?.changes);
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

/// Records that today's scan announced these alerts: [`to_announce`] does not list them again.
pub(crate) fn mark_announced(
    conn: &mut DbConnection,
    ids: &[i64],
    today: NaiveDate,
) -> StoreResult<()> {
    store::mark_announced(conn, ids, today)
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
    /// R15.2, R15.3: the due date and facts of each part-time timetable alert, by alert id.
    part_time: HashMap<i64, (Option<NaiveDate>, Value)>,
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
            AlertKind::C2WithoutAgreement
            | AlertKind::PartTimeTimetableOverrun
            | AlertKind::PartTimeReviewOverdue
            | AlertKind::PartTimeTimetableProlonged => self
                .part_time
                .get(&row.id)
                .cloned()
                .unwrap_or((None, json!({}))),
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
    part_time: &PartTimePolicy,
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
        part_time: part_time_facts(conn, &rows, part_time, calendar, today)?,
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
    let case_policy = state.policy.clone();
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
            let view = views(
                conn,
                vec![alert],
                &policy,
                &case_policy.part_time,
                &calendar,
                today,
            )?
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
    let follow = state.clock_followed.is_due(today);
    let page = state
        .db
        .write(move |conn| {
            let calendar = SchoolCalendar::new(calendars::all(conn)?);
            // Clock-driven (R10.3, R11, R12): raised when first looked at after the day comes.
            // Once a day is enough: every write reconciles the alerts of what it changed.
            let changed = if follow {
                follow_clock(conn, &case_policy, today)?
            } else {
                Vec::new()
            };
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
            let alerts = views(
                conn,
                rows,
                &policy,
                &case_policy.part_time,
                &calendar,
                today,
            )?;
            let subject = AuditSubject::list("alerts", "worklist", query.school_urn, query.upn);
            audit::append(conn, &[actor.audit(now, "read", subject)])?;
            changes::record_at(conn, now, &changed)?;
            Ok(AlertPage {
                alerts,
                next_after_id,
            })
        })
        .await?;
    if follow {
        state.clock_followed.done(today);
    }
    Ok(page)
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
