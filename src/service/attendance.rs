//! Attendance facts and statutory alerts (API.md "Attendance"; RULES.md R2, R4, R5; issue 4).
//!
//! The register push keeps each pupil's tally and alerts up to date in its own transaction
//! ([`write_marks`]), so reads never rescan a year of marks; `esma-api recompute` rebuilds both
//! from the marks ([`recompute_school`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{NaiveDate, NaiveDateTime};

use super::alerts::{self, AlertWork};
use super::pupils::{audited_read, date_range, parse_upn, visible};
use super::{Actor, AppState};
use crate::domain::access::Role;
use crate::domain::alerts::{pupil_alert_changes, register_alerts, unexplained_change, AlertKey};
use crate::domain::attendance::{
    AttendanceMeasures, AttendancePolicy, IllnessRun, MeasureCounts, SessionMark,
};
use crate::domain::calendar::{AcademicYear, SchoolCalendar};
use crate::domain::codes::{AttendanceCode, Session};
use crate::domain::policy::Policy;
use crate::domain::tally::{MarkedDays, PupilTally, YearTally};
use crate::error::ApiError;
use crate::store::attendance as tallies;
use crate::store::marks::{self, IncomingMark, MarkChange, StoredMark, WriteCounts};
use crate::store::registers::{self, SchoolRegisters, YearRegister};
use crate::store::{calendars, changes, read_transaction, DbConnection, StoreError, StoreResult};

fn session_mark(date: NaiveDate, session: &str, code: &str) -> StoreResult<SessionMark> {
    let session = Session::parse(session).map_err(|e| StoreError::unreadable(e.to_string()))?;
    let code = AttendanceCode::parse(code).map_err(|e| StoreError::unreadable(e.to_string()))?;
    Ok(SessionMark::new(date, session, code))
}

pub(crate) fn to_session_marks(stored: &[StoredMark]) -> StoreResult<Vec<SessionMark>> {
    stored
        .iter()
        .map(|m| session_mark(m.mark_date, &m.session, &m.code))
        .collect()
}

/// Where and when a school's checked marks are written: what every register write needs
/// besides the marks.
#[derive(Debug, Clone, Copy)]
pub struct MarkWrite<'a> {
    pub school_urn: i32,
    /// The import the marks' history is recorded against.
    pub import_id: i64,
    pub now: NaiveDateTime,
    pub today: NaiveDate,
    pub policy: &'a AttendancePolicy,
    /// The ESMA policy the alerts of the pupils' cases follow.
    pub case_policy: &'a Policy,
}

/// Writes a school's checked marks and, in the same transaction, brings the tallies and alerts
/// of every pupil they touch up to date. Every register write goes through here. The alerts it
/// raised and resolved go on the change feed as its last write (the caller adds only its import
/// report and audit row after it).
///
/// The school's register rows for the push's years are read in one range scan (and the year
/// before for the pupils whose tallies need it, for the carry-over of an open illness run, R4.3:
/// `registers::of_school_since`), the push is applied to them in memory with the tallies, and
/// only the rows that changed are written back: one row per pupil for a nightly push, none for an
/// unchanged re-push.
pub fn write_marks(
    conn: &mut DbConnection,
    write: &MarkWrite,
    rows: &[IncomingMark],
) -> Result<WriteCounts, ApiError> {
    registers::lock_school(conn, write.school_urn)?;
    let mut planned = plan_marks(conn, write.school_urn, rows, write.today, write.policy)?;
    Ok(store_marks(conn, &mut planned, write)?)
}

/// A school's push worked out against its registers as read: everything its transaction stores.
pub struct PlannedMarks {
    school_urn: i32,
    counts: WriteCounts,
    history: Vec<marks::PendingHistory>,
    registers: registers::ChangedRows,
    alerts: AlertWork,
}

/// Reads the school's registers and works out a push against them in memory: the new and
/// changed sessions, the tallies and alerts that follow (issue 4 item 4) and the register rows
/// to write back. Reads only; [`store_marks`] writes the result.
fn plan_marks(
    conn: &mut DbConnection,
    school_urn: i32,
    rows: &[IncomingMark],
    today: NaiveDate,
    policy: &AttendancePolicy,
) -> StoreResult<PlannedMarks> {
    if rows.is_empty() {
        return Ok(PlannedMarks {
            school_urn,
            counts: WriteCounts::default(),
            history: Vec::new(),
            registers: registers::ChangedRows::default(),
            alerts: AlertWork::default(),
        });
    }
    let started = std::time::Instant::now();
    let first_year = rows
        .iter()
        .map(|r| AcademicYear::containing(r.mark_date))
        .min()
        .unwrap_or_else(|| AcademicYear::containing(today));
    // Each pupil with the earliest session it is pushed in `first_year`, sorted and merged in
    // place (cheaper than a map for a push's few hundred pupils).
    let mut pushed: Vec<(&str, Option<i32>)> = rows
        .iter()
        .map(|r| {
            let slot = (AcademicYear::containing(r.mark_date) == first_year)
                .then(|| registers::slot_number(first_year, (r.mark_date, r.session)));
            (r.upn.as_str(), slot)
        })
        .collect();
    pushed.sort_unstable_by(|a, b| a.0.cmp(b.0));
    pushed.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            kept.1 = match (kept.1, later.1) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        same
    });
    let mut school = registers::of_school_since(conn, school_urn, first_year, &pushed)?;
    let loaded = started.elapsed();
    let (counts, history) = marks::apply(&mut school, rows)?;
    let applied = started.elapsed();
    let alerts = maintain(&mut school, &counts.changes, policy, today)?;
    let maintained = started.elapsed();
    let registers = school.changed_rows()?;
    // For tuning (RUST_LOG=esma_api::service::attendance=debug), as the store's timings below.
    tracing::debug!(
        school_urn,
        rows = rows.len(),
        changes = counts.changes.len(),
        rows_changed = registers.len(),
        load_ms = loaded.as_secs_f64() * 1e3,
        apply_ms = (applied - loaded).as_secs_f64() * 1e3,
        maintain_ms = (maintained - applied).as_secs_f64() * 1e3,
        encode_ms = (started.elapsed() - maintained).as_secs_f64() * 1e3,
        "register plan"
    );
    Ok(PlannedMarks {
        school_urn,
        counts,
        history,
        registers,
        alerts,
    })
}

/// Stores a planned push: the register rows that changed, the mark history against the import,
/// the alerts, and, last, the alerts on the change feed (on PostgreSQL the feed's lock is held
/// from there to the commit, so everything else is written before it is taken).
///
/// The plan is left to the caller to drop: on SQLite that can happen after the writer's lock is
/// released, and a push's plan is a few thousand allocations.
fn store_marks(
    conn: &mut DbConnection,
    planned: &mut PlannedMarks,
    write: &MarkWrite,
) -> Result<WriteCounts, ApiError> {
    let started = std::time::Instant::now();
    registers::save_rows(conn, &planned.registers)?;
    let saved = started.elapsed();
    marks::record_history(
        conn,
        planned.school_urn,
        &planned.history,
        write.import_id,
        write.now,
    )?;
    let histories = started.elapsed();
    let mut alerts = std::mem::take(&mut planned.alerts).apply(conn, write.today)?;
    // R12.1, R12.2: the alerts of the school's active cases whose pupils' marks changed.
    alerts.extend(alerts::reconcile_cases_of_pupils(
        conn,
        write.case_policy,
        write.today,
        planned.school_urn,
        planned.counts.changes.iter().map(|c| c.upn.as_str()),
    )?);
    let alerted = started.elapsed();
    changes::record_at(conn, write.now, &alerts)?;
    tracing::debug!(
        save_ms = saved.as_secs_f64() * 1e3,
        history_ms = (histories - saved).as_secs_f64() * 1e3,
        alerts_ms = (alerted - histories).as_secs_f64() * 1e3,
        changes_ms = (started.elapsed() - alerted).as_secs_f64() * 1e3,
        "register store"
    );
    Ok(std::mem::take(&mut planned.counts))
}

/// A push worked out ahead of its write transaction, with the version of the school's
/// registers it was worked out against.
pub struct MarksAhead {
    version: i64,
    planned: PlannedMarks,
}

/// Works a push out before the write transaction (SQLite, where one writer at a time holds the
/// database: reading and computing outside its lock lets other schools' writes run meanwhile).
/// Reads the registers' version and the registers in one read transaction, so the plan is of
/// that version.
pub fn plan_marks_ahead(
    conn: &mut DbConnection,
    school_urn: i32,
    rows: &[IncomingMark],
    today: NaiveDate,
    policy: &AttendancePolicy,
) -> Result<MarksAhead, ApiError> {
    Ok(read_transaction(conn, |conn| {
        let version = registers::version(conn, school_urn)?;
        let planned = plan_marks(conn, school_urn, rows, today, policy)?;
        Ok(MarksAhead { version, planned })
    })?)
}

/// [`write_marks`] for a push planned ahead: stores the plan if the school's registers are
/// still the version it was worked out against, and otherwise (another write came first, from
/// this process or another) works it out again inside the transaction. The plan stays with the
/// caller, to be dropped once the transaction is over.
pub fn write_marks_planned(
    conn: &mut DbConnection,
    write: &MarkWrite,
    ahead: &mut MarksAhead,
    rows: &[IncomingMark],
) -> Result<WriteCounts, ApiError> {
    if registers::claim_version(conn, write.school_urn, ahead.version)? {
        Ok(store_marks(conn, &mut ahead.planned, write)?)
    } else {
        tracing::debug!(
            school_urn = write.school_urn,
            "register plan outdated; worked out again"
        );
        write_marks(conn, write, rows)
    }
}

/// Brings the tallies and alerts of the pupils in `changes` up to date (issue 4 item 4) in
/// `school`, the registers the changes were applied to (their tallies still as loaded); the
/// caller saves the registers.
///
/// A pupil whose changes are all new sessions after everything tallied (the nightly push) has
/// them appended to the stored tally; any other change (a corrected or back-filled session)
/// rebuilds that pupil's tallies from the year of the change on, from the register rows already
/// in memory. Both use the same append, so the result is what a full recomputation gives.
/// Returns the alert changes to apply.
fn maintain(
    school: &mut SchoolRegisters,
    changes: &[MarkChange],
    policy: &AttendancePolicy,
    today: NaiveDate,
) -> StoreResult<AlertWork> {
    let mut work = AlertWork::default();
    if changes.is_empty() {
        return Ok(work);
    }
    let school_urn = school.school_urn;
    let mut by_pupil: BTreeMap<&str, Vec<(SessionMark, Option<AttendanceCode>)>> = BTreeMap::new();
    for change in changes {
        let mark = SessionMark::new(change.mark_date, change.session, change.new_code);
        by_pupil
            .entry(&change.upn)
            .or_default()
            .push((mark, change.old_code));
    }

    for (upn, mut marks) in by_pupil {
        marks.sort_by_key(|(mark, _)| mark.slot());
        for (mark, old) in &marks {
            if let Some(change) = unexplained_change(mark.date, mark.session, *old, mark.code) {
                work.add(school_urn, upn, change, today);
            }
        }
        let Some(years) = school.pupils.get_mut(upn) else {
            continue;
        };
        // R15.3: only a pupil whose push added or replaced a C2 needs its C2 sessions checked,
        // and only in the years of those changes (read from the registers in memory).
        let c2_years: BTreeSet<AcademicYear> = marks
            .iter()
            .filter(|(m, old)| m.code == AttendanceCode::C2 || *old == Some(AttendanceCode::C2))
            .map(|(m, _)| AcademicYear::containing(m.date))
            .collect();
        for year in c2_years {
            let removed = marks.iter().any(|(m, old)| {
                *old == Some(AttendanceCode::C2)
                    && m.code != AttendanceCode::C2
                    && year.contains(m.date)
            });
            let sessions = years
                .iter()
                .filter(|y| y.year == year)
                .flat_map(|y| y.marks())
                .filter(|(_, _, code, _)| *code == AttendanceCode::C2)
                .map(|(date, session, _, _)| (date, session))
                .collect();
            work.check_c2(alerts::C2Register {
                school_urn,
                upn: upn.to_owned(),
                year,
                sessions,
                only_added: !removed,
            });
        }
        let mut before = PupilTally::default();
        for year in years.iter_mut() {
            before.years.extend(year.tally()?.cloned());
        }
        let appendable = marks.iter().all(|(_, old)| old.is_none())
            && marks
                .first()
                .is_some_and(|(mark, _)| before.follows(mark.slot()));
        let after = if appendable {
            let mut after = before.clone();
            for (mark, _) in &marks {
                after.append(*mark, policy);
            }
            after
        } else {
            rebuild_from_register(
                years,
                AcademicYear::containing(marks[0].0.date),
                &before,
                policy,
            )
        };
        for change in pupil_alert_changes(&before, &after, policy) {
            work.add(school_urn, upn, change, today);
        }
        for tally in after.years {
            if let Some(year) = years.iter_mut().find(|y| y.year == tally.year) {
                year.set_tally(tally)?;
            }
        }
    }
    Ok(work)
}

/// The tallies of a pupil whose push changed or filled in sessions already counted: the years
/// before `from` as they were, then every session of the register rows from `from` on appended
/// in register order (the rows are the register, so nothing more is read).
fn rebuild_from_register(
    years: &[YearRegister],
    from: AcademicYear,
    before: &PupilTally,
    policy: &AttendancePolicy,
) -> PupilTally {
    let mut tally = PupilTally {
        years: before
            .years
            .iter()
            .filter(|t| t.year < from)
            .cloned()
            .collect(),
    };
    for year in years.iter().filter(|y| y.year >= from) {
        for (date, session, code, _) in year.marks() {
            tally.append(SessionMark::new(date, session, code), policy);
        }
    }
    tally
}

/// What `esma-api recompute` did for one school.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RecomputeCounts {
    pub pupils: usize,
    pub tallies: usize,
    pub alerts_raised: usize,
    pub alerts_resolved: usize,
}

/// Rebuilds a school's tallies from its marks and reconciles its open alerts with them: the
/// answer to "are the maintained numbers right?" and the repair when they are not.
pub fn recompute_school(
    conn: &mut DbConnection,
    school_urn: i32,
    policy: &AttendancePolicy,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<RecomputeCounts, ApiError> {
    registers::lock_school(conn, school_urn)?;
    let mut school = registers::of_school(conn, school_urn)?;
    let by_pupil: BTreeMap<String, Vec<SessionMark>> = school
        .pupils
        .iter()
        .map(|(upn, years)| {
            let marks = years
                .iter()
                .flat_map(|y| y.marks())
                .map(|(date, session, code, _)| SessionMark::new(date, session, code))
                .collect();
            (upn.to_string(), marks)
        })
        .collect();
    let mut counts = RecomputeCounts::default();
    // The open alerts the register supports, with their `since`.
    let mut wanted = Vec::new();
    for (upn, marks) in &by_pupil {
        let tally = PupilTally::from_register(marks, policy);
        wanted.extend(register_alerts(school_urn, upn, &tally, marks, policy));
        counts.pupils += 1;
        counts.tallies += tally.years.len();
        if let Some(years) = school.pupils.get_mut(upn.as_str()) {
            for tally in tally.years {
                if let Some(year) = years.iter_mut().find(|y| y.year == tally.year) {
                    year.set_tally(tally)?;
                }
            }
        }
    }
    // R15.3: the C2 sessions against the school's agreements and cases.
    wanted.extend(alerts::c2_alerts_of_school(
        conn,
        school_urn,
        by_pupil
            .iter()
            .map(|(upn, marks)| (upn.as_str(), marks.as_slice())),
    )?);
    // Only the tallies that differed from the recomputation are written.
    registers::save(conn, &school)?;
    let reconciled = alerts::reconcile_register(conn, school_urn, wanted, today)?;
    counts.alerts_raised = reconciled.raised;
    counts.alerts_resolved = reconciled.resolved;
    changes::record_at(conn, now, &reconciled.changes)?;
    Ok(counts)
}

// ---------------------------------------------------------------------------------------------
// GET /api/v1/pupils/{upn}/attendance
// ---------------------------------------------------------------------------------------------

/// Where a summary's numbers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SummarySource {
    /// The tallies maintained on ingest (the academic year to date).
    Maintained,
    /// The marks of the range asked for, counted when asked.
    Register,
}

/// A pupil's attendance over a range (API.md "Attendance").
#[derive(Debug, Clone)]
pub struct PupilAttendance {
    pub upn: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub schools: Vec<i32>,
    pub source: SummarySource,
    pub measures: AttendanceMeasures,
    pub illness_days_cumulative: f64,
    pub current_streak: Option<IllnessRun>,
    pub longest_streak: Option<IllnessRun>,
    pub days_without_marks: u32,
    pub first_marked_day: Option<NaiveDate>,
    pub last_marked_day: Option<NaiveDate>,
    pub sickness_return_reached: Option<(NaiveDate, Session)>,
}

/// Adds up tallies of several schools (dual registration) or academic years (a range across
/// 31 August): counts add, the current streak is the one at the latest session, the longest is
/// the longest, and days without marks count days with no mark at any of the schools.
#[allow(clippy::too_many_arguments)]
fn combine(
    upn: &str,
    from: NaiveDate,
    to: NaiveDate,
    schools: Vec<i32>,
    source: SummarySource,
    parts: &[YearTally],
    policy: &AttendancePolicy,
    calendar: &SchoolCalendar,
) -> PupilAttendance {
    let mut counts = MeasureCounts::new();
    let mut marked: BTreeMap<AcademicYear, MarkedDays> = BTreeMap::new();
    for part in parts {
        for (code, n) in part.counts.iter() {
            counts.add_many(code, n);
        }
        marked
            .entry(part.year)
            .or_default()
            .union_with(&part.marked_days);
    }
    let latest = parts
        .iter()
        .filter(|p| p.latest.is_some())
        .max_by_key(|p| p.latest);
    let longest = parts.iter().filter_map(|p| p.longest_run).fold(
        None::<IllnessRun>,
        |best, run| match best {
            Some(best)
                if best.sessions > run.sessions
                    || (best.sessions == run.sessions && best.first <= run.first) =>
            {
                Some(best)
            }
            _ => Some(run),
        },
    );
    let days_without_marks = marked
        .iter()
        .map(|(year, days)| days.school_days_without_marks(*year, calendar))
        .sum();
    let spans: Vec<(NaiveDate, NaiveDate)> = marked
        .iter()
        .filter_map(|(year, days)| days.span(*year))
        .collect();
    PupilAttendance {
        upn: upn.to_owned(),
        from,
        to,
        schools,
        source,
        measures: counts.to_measures(policy.min_possible_sessions_for_flags),
        illness_days_cumulative: f64::from(counts.count_of(&policy.illness_codes)) / 2.0,
        current_streak: latest.and_then(|p| p.open_run),
        longest_streak: longest,
        days_without_marks,
        first_marked_day: spans.iter().map(|s| s.0).min(),
        last_marked_day: spans.iter().map(|s| s.1).max(),
        sickness_return_reached: parts.iter().filter_map(|p| p.sickness_return_reached).min(),
    }
}

/// A pupil's academic year to date at `schools`, from the maintained tallies (no marks read).
pub(crate) fn year_to_date(
    conn: &mut DbConnection,
    upn: &str,
    schools: Vec<i32>,
    today: NaiveDate,
    policy: &AttendancePolicy,
    calendar: &SchoolCalendar,
) -> StoreResult<PupilAttendance> {
    let year = AcademicYear::containing(today);
    let mut parts = Vec::new();
    for urn in &schools {
        parts.extend(tallies::of_pupil_year(conn, *urn, upn, year)?);
    }
    Ok(combine(
        upn,
        year.first_day(),
        today,
        schools,
        SummarySource::Maintained,
        &parts,
        policy,
        calendar,
    ))
}

/// `GET /api/v1/pupils/{upn}/attendance?from=&to=`: the academic year to date from the
/// maintained tallies, or any other range counted from its marks. Audited like every pupil read.
pub async fn summary(
    state: &AppState,
    actor: &Actor,
    upn: &str,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<PupilAttendance, ApiError> {
    actor.require(&[Role::La, Role::School])?;
    let upn = parse_upn(upn)?;
    let today = state.clock.today();
    let maintained = from.is_none() && to.is_none();
    let (from, to) = date_range(from, to, today)?;
    let policy = state.attendance.clone();
    audited_read(state, actor, upn, "attendance", move |conn, actor, upn| {
        let Some(record) = visible(conn, actor, upn, today)? else {
            return Ok(None);
        };
        let schools: Vec<i32> = record.enrolments.iter().map(|e| e.school_urn).collect();
        let calendar = SchoolCalendar::new(calendars::all(conn)?);
        if maintained {
            let school = (actor.role == Role::School)
                .then(|| schools.first().copied())
                .flatten();
            let found = year_to_date(conn, upn, schools, today, &policy, &calendar)?;
            return Ok(Some((PupilAttendance { from, to, ..found }, school)));
        }
        let (source, parts) = {
            let mut parts = Vec::new();
            for urn in &schools {
                let marks = marks::of_pupil(conn, upn, &[*urn], from, to)?;
                parts.extend(PupilTally::from_register(&to_session_marks(&marks)?, &policy).years);
            }
            (SummarySource::Register, parts)
        };
        let school = (actor.role == Role::School)
            .then(|| schools.first().copied())
            .flatten();
        Ok(Some((
            combine(upn, from, to, schools, source, &parts, &policy, &calendar),
            school,
        )))
    })
    .await
}

/// Every stored tally by (school, pupil, year), and the open alerts.
pub type StoredState = (HashMap<(i32, String, i32), YearTally>, BTreeSet<AlertKey>);

/// The counts behind the tallies, for `esma-api recompute --check` and the consistency test:
/// every stored tally keyed by school, pupil and year, in its stored form.
pub fn stored_state(conn: &mut DbConnection) -> Result<StoredState, ApiError> {
    let tallies = tallies::all(conn)?
        .into_iter()
        .map(|(urn, upn, tally)| ((urn, upn, tally.year.start_year()), tally))
        .collect();
    Ok((tallies, alerts::open_keys(conn)?))
}

/// What `esma-api recompute` did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RecomputeReport {
    pub schools: usize,
    #[serde(flatten)]
    pub counts: RecomputeCounts,
    pub seconds: f64,
}

/// `esma-api recompute`: rebuilds the tallies and reconciles the alerts of the given schools
/// (default: all), one transaction per school so a large LA never holds one long lock.
pub fn recompute(
    db: &crate::store::Db,
    policy: &AttendancePolicy,
    today: NaiveDate,
    only: Option<Vec<i32>>,
) -> Result<RecomputeReport, ApiError> {
    let started = std::time::Instant::now();
    let urns = match only {
        Some(urns) => urns,
        None => db.write_now(|conn| Ok(crate::store::schools::all_urns(conn)?))?,
    };
    let mut report = RecomputeReport::default();
    for urn in urns {
        let counts = db.write_now(|conn| {
            if crate::store::schools::find(conn, urn)?.is_none() {
                return Err(ApiError::not_found(format!("no school with URN {urn}")));
            }
            let now = crate::clock::Clock::system().now_naive();
            recompute_school(conn, urn, policy, today, now)
        })?;
        report.schools += 1;
        report.counts.pupils += counts.pupils;
        report.counts.tallies += counts.tallies;
        report.counts.alerts_raised += counts.alerts_raised;
        report.counts.alerts_resolved += counts.alerts_resolved;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Converts the rows of the layout before `registers` (one `marks` row per session, one
/// `attendance_tallies` row per pupil and year) into register rows, with their tallies built by
/// the same append as every push, and empties the old tables, all in one transaction, so an
/// upgrade needs no manual step and no migration moves data. Does nothing once registers exist.
/// Returns how many marks it converted.
pub fn convert_old_marks(
    db: &crate::store::Db,
    policy: &AttendancePolicy,
) -> Result<usize, ApiError> {
    db.write_now(|conn| {
        if registers::any(conn)? || !marks::old_any(conn)? {
            return Ok(0);
        }
        let mut converted = 0;
        for urn in marks::old_schools(conn)? {
            let old = marks::old_of_school(conn, urn)?;
            converted += old.len();
            let mut school = SchoolRegisters {
                school_urn: urn,
                ..SchoolRegisters::default()
            };
            for m in &old {
                let mark = session_mark(m.mark_date, &m.session, &m.code)?;
                school
                    .year_mut(&m.upn, AcademicYear::containing(m.mark_date))
                    .set(mark.date, mark.session, mark.code, m.minutes_late);
            }
            for years in school.pupils.values_mut() {
                let tally = rebuild_from_register(
                    years,
                    AcademicYear::new(i32::MIN),
                    &PupilTally::default(),
                    policy,
                );
                for tally in tally.years {
                    if let Some(year) = years.iter_mut().find(|y| y.year == tally.year) {
                        year.set_tally(tally)?;
                    }
                }
            }
            registers::lock_school(conn, urn)?;
            registers::save(conn, &school)?;
        }
        marks::old_clear(conn)?;
        Ok(converted)
    })
}
