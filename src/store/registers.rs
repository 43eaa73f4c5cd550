//! The register as stored (`registers`): one row per school, academic year and pupil holding the
//! year's marks, one character per session slot ([`AttendanceCode::register_char`]), and the
//! maintained tally beside them (`store/attendance.rs` encodes it). A nightly push therefore
//! rewrites one row per pupil, and a school's rows are contiguous in the key, so a push reads
//! them with one range scan and writes back only the rows it changed.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use compact_str::CompactString;
use diesel::prelude::*;

use super::attendance::{tally_from_parts, tally_to_parts};
use super::schema::{register_versions, registers};
use super::{DbConnection, StoreError, StoreResult};
use crate::domain::calendar::AcademicYear;
use crate::domain::codes::{AttendanceCode, Session, NO_MARK_CHAR};
use crate::domain::tally::YearTally;

/// A session's place in its academic year's register: 2 x days since 1 September, +1 for the
/// afternoon (a run carried in from July has negative ones).
pub(crate) fn slot_number(year: AcademicYear, (date, session): (NaiveDate, Session)) -> i32 {
    let days = (date - year.first_day()).num_days();
    let days = i32::try_from(days).unwrap_or(i32::MAX / 2);
    days * 2 + i32::from(session == Session::Pm)
}

/// The session at a slot of `year`'s register.
pub(crate) fn slot_of(year: AcademicYear, number: i32) -> StoreResult<(NaiveDate, Session)> {
    let session = if number.rem_euclid(2) == 1 {
        Session::Pm
    } else {
        Session::Am
    };
    year.first_day()
        .checked_add_signed(chrono::Duration::days(i64::from(number.div_euclid(2))))
        .map(|date| (date, session))
        .ok_or_else(|| StoreError::unreadable(format!("session slot {number} is out of range")))
}

fn broken(what: String) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(what.into())
}

/// A `registers` row as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = registers)]
#[diesel(treat_none_as_default_value = false)]
pub struct RegisterRow {
    pub school_urn: i32,
    pub academic_year: i32,
    pub upn: String,
    pub sessions: String,
    pub minutes_late: Option<String>,
    pub latest_slot: i32,
    pub tally: String,
}

/// One pupil's year at one school, decoded: what a push reads, changes in memory and writes back.
#[derive(Debug, Clone)]
pub struct YearRegister {
    pub year: AcademicYear,
    /// One [`AttendanceCode::register_char`] per slot, [`NO_MARK_CHAR`] where there is no mark.
    sessions: Vec<u8>,
    minutes_late: BTreeMap<i32, i32>,
    /// Who the row is of, for messages about it.
    school_urn: i32,
    upn: CompactString,
    /// The tally columns as stored, decoded on first use: an unchanged re-push never needs them.
    stored_tally: Option<(i32, String)>,
    /// The maintained tally once decoded or set; `None` with nothing stored for a year a push
    /// has just started.
    tally: Option<YearTally>,
    /// Whether it differs from what is stored (a new row, a changed mark or tally).
    changed: bool,
    /// Session characters as loaded (0 for a new year) and the first slot a push set since:
    /// what lies before both is unchanged, so PostgreSQL is sent only the rest.
    stored_len: usize,
    first_set: usize,
}

impl YearRegister {
    /// A year with no marks yet.
    pub fn new(school_urn: i32, upn: &str, year: AcademicYear) -> YearRegister {
        YearRegister {
            year,
            sessions: Vec::new(),
            minutes_late: BTreeMap::new(),
            school_urn,
            upn: upn.into(),
            stored_tally: None,
            tally: None,
            changed: true,
            stored_len: 0,
            first_set: usize::MAX,
        }
    }

    fn from_row(row: RegisterRow) -> StoreResult<YearRegister> {
        let year = AcademicYear::new(row.academic_year);
        let minutes_late = match &row.minutes_late {
            None => BTreeMap::new(),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                broken(format!(
                    "minutes late of {} at {} for {} are unreadable ({e})",
                    row.upn, row.school_urn, row.academic_year
                ))
            })?,
        };
        Ok(YearRegister {
            year,
            stored_len: row.sessions.len(),
            first_set: usize::MAX,
            sessions: row.sessions.into_bytes(),
            minutes_late,
            school_urn: row.school_urn,
            upn: row.upn.as_str().into(),
            stored_tally: Some((row.latest_slot, row.tally)),
            tally: None,
            changed: false,
        })
    }

    fn slot_index(&self, date: NaiveDate, session: Session) -> Option<usize> {
        usize::try_from(slot_number(self.year, (date, session))).ok()
    }

    /// The mark stored for a session, if any.
    pub fn get(&self, date: NaiveDate, session: Session) -> Option<(AttendanceCode, Option<i32>)> {
        let slot = self.slot_index(date, session)?;
        let code = AttendanceCode::from_register_char(*self.sessions.get(slot)?)?;
        Some((code, self.minutes_late.get(&(slot as i32)).copied()))
    }

    /// Records a session's mark (a date outside the year is ignored: the caller keys by year).
    pub fn set(
        &mut self,
        date: NaiveDate,
        session: Session,
        code: AttendanceCode,
        minutes: Option<i32>,
    ) {
        let Some(slot) = self.slot_index(date, session) else {
            return;
        };
        if self.sessions.len() <= slot {
            self.sessions.resize(slot + 1, NO_MARK_CHAR);
        }
        self.sessions[slot] = code.register_char();
        self.first_set = self.first_set.min(slot);
        match minutes {
            Some(m) => self.minutes_late.insert(slot as i32, m),
            None => self.minutes_late.remove(&(slot as i32)),
        };
        self.changed = true;
    }

    /// The maintained tally (`None` for a year a push has just started).
    pub fn tally(&mut self) -> StoreResult<Option<&YearTally>> {
        if self.tally.is_none() {
            if let Some((latest_slot, text)) = &self.stored_tally {
                self.tally = Some(tally_from_parts(
                    self.school_urn,
                    &self.upn,
                    self.year,
                    *latest_slot,
                    text,
                )?);
            }
        }
        Ok(self.tally.as_ref())
    }

    /// Replaces the maintained tally (marked changed only when it differs).
    pub fn set_tally(&mut self, tally: YearTally) -> StoreResult<()> {
        if self.tally()? != Some(&tally) {
            self.tally = Some(tally);
            self.changed = true;
        }
        Ok(())
    }

    /// The year's marks in register order: date, session, code and minutes late.
    pub fn marks(
        &self,
    ) -> impl Iterator<Item = (NaiveDate, Session, AttendanceCode, Option<i32>)> + '_ {
        self.sessions
            .iter()
            .enumerate()
            .filter_map(move |(slot, c)| {
                let code = AttendanceCode::from_register_char(*c)?;
                let (date, session) = slot_of(self.year, slot as i32).ok()?;
                Some((
                    date,
                    session,
                    code,
                    self.minutes_late.get(&(slot as i32)).copied(),
                ))
            })
    }

    /// How many leading session characters are as stored.
    fn kept(&self) -> usize {
        self.stored_len.min(self.first_set)
    }

    fn to_row(&self, school_urn: i32, upn: &str) -> StoreResult<RegisterRow> {
        let (latest_slot, tally) = match (&self.tally, &self.stored_tally) {
            (Some(tally), _) => tally_to_parts(school_urn, upn, tally)?,
            (None, Some(stored)) => stored.clone(),
            (None, None) => {
                return Err(diesel::result::Error::SerializationError(
                    format!("register of {upn} at {school_urn} has no tally").into(),
                )
                .into())
            }
        };
        let minutes_late = (!self.minutes_late.is_empty())
            .then(|| serde_json::to_string(&self.minutes_late))
            .transpose()
            .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
        Ok(RegisterRow {
            school_urn,
            academic_year: self.year.start_year(),
            upn: upn.to_owned(),
            // Every character is one of the ASCII ones of `register_char` or `NO_MARK_CHAR`.
            sessions: String::from_utf8(self.sessions.clone())
                .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?,
            minutes_late,
            latest_slot,
            tally,
        })
    }
}

/// A school's registers as a push loaded them: each pupil's years, oldest first.
#[derive(Debug, Default)]
pub struct SchoolRegisters {
    pub school_urn: i32,
    /// By UPN. UPNs fit a compact string inline, and a school's few hundred keys are hashed
    /// with foldhash rather than SipHash, so a pupil costs neither an allocation nor a slow hash.
    pub pupils: HashMap<CompactString, Vec<YearRegister>, FastHash>,
}

/// The hasher of per-push maps keyed by what a push sent or read (UPNs, sessions): fast, and
/// still seeded per process.
pub type FastHash = foldhash::fast::RandomState;

impl SchoolRegisters {
    fn from_rows(school_urn: i32, rows: Vec<RegisterRow>) -> StoreResult<SchoolRegisters> {
        let mut pupils: HashMap<CompactString, Vec<YearRegister>, FastHash> =
            HashMap::with_capacity_and_hasher(rows.len(), FastHash::default());
        for row in rows {
            pupils
                .entry(CompactString::from(row.upn.as_str()))
                .or_default()
                .push(YearRegister::from_row(row)?);
        }
        for years in pupils.values_mut() {
            years.sort_by_key(|y| y.year);
        }
        Ok(SchoolRegisters { school_urn, pupils })
    }

    /// A pupil's year, started empty if there is none.
    pub fn year_mut(&mut self, upn: &str, year: AcademicYear) -> &mut YearRegister {
        if !self.pupils.contains_key(upn) {
            self.pupils.insert(upn.into(), Vec::new());
        }
        let years = self.pupils.get_mut(upn).expect("just inserted");
        let at = match years.binary_search_by_key(&year, |y| y.year) {
            Ok(at) => at,
            Err(at) => {
                years.insert(at, YearRegister::new(self.school_urn, upn, year));
                at
            }
        };
        &mut years[at]
    }

    /// The stored mark of a pupil's session, if any.
    pub fn get(
        &self,
        upn: &str,
        date: NaiveDate,
        session: Session,
    ) -> Option<(AttendanceCode, Option<i32>)> {
        let year = AcademicYear::containing(date);
        self.pupils
            .get(upn)?
            .iter()
            .find(|y| y.year == year)?
            .get(date, session)
    }

    /// The rows to write back: those that changed, the stored ones first.
    pub fn changed_rows(&self) -> StoreResult<ChangedRows> {
        let mut stored = Vec::new();
        let mut kept = Vec::new();
        let mut new = Vec::new();
        for (upn, years) in &self.pupils {
            for year in years.iter().filter(|y| y.changed) {
                let row = year.to_row(self.school_urn, upn)?;
                if year.stored_tally.is_some() {
                    kept.push(year.kept());
                    stored.push(row);
                } else {
                    new.push(row);
                }
            }
        }
        let stored_count = stored.len();
        stored.extend(new);
        Ok(ChangedRows {
            rows: stored,
            stored: stored_count,
            kept,
        })
    }
}

/// Register rows a push changed: `rows[..stored]` were loaded from the database, the rest are
/// years it started.
#[derive(Debug, Default)]
pub struct ChangedRows {
    pub rows: Vec<RegisterRow>,
    pub stored: usize,
    /// For each of `rows[..stored]`, how many leading session characters are as stored.
    pub kept: Vec<usize>,
}

impl ChangedRows {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Keeps other writers of a school's register out until the transaction ends, so what a push
/// loads is what it writes back over (PostgreSQL; SQLite writes are serialised anyway).
pub fn lock_school(conn: &mut DbConnection, school_urn: i32) -> StoreResult<()> {
    Ok(match conn {
        DbConnection::Postgresql(pg) => PgLockSchool(school_urn).execute(pg).map(drop),
        // One writer at a time already; what other writers need to know is that this one wrote
        // (a push planned ahead against the old version is worked out again).
        DbConnection::Sqlite(lite) => diesel::insert_into(register_versions::table)
            .values((
                register_versions::school_urn.eq(school_urn),
                register_versions::version.eq(1i64),
            ))
            .on_conflict(register_versions::school_urn)
            .do_update()
            .set(register_versions::version.eq(register_versions::version + 1i64))
            .execute(lite)
            .map(drop),
    }?)
}

/// `SELECT pg_advisory_xact_lock(7001, urn)`: a prepared statement, unlike `sql_query`, which
/// PostgreSQL would parse and plan again on every push.
struct PgLockSchool(i32);

impl diesel::query_builder::QueryId for PgLockSchool {
    type QueryId = PgLockSchool;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for PgLockSchool {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql("SELECT pg_advisory_xact_lock(7001, ");
        out.push_bind_param::<diesel::sql_types::Integer, _>(&self.0)?;
        out.push_sql(")");
        Ok(())
    }
}

impl RunQueryDsl<diesel::PgConnection> for PgLockSchool {}

/// Inserts the rows of years a push started, as arrays, in one prepared statement (a row there
/// after all is overwritten, unless equal).
struct PgInsertRegisters<'a> {
    school_urn: i32,
    years: Vec<i32>,
    upns: Vec<&'a str>,
    sessions: Vec<&'a str>,
    minutes_late: Vec<Option<&'a str>>,
    latest_slots: Vec<i32>,
    tallies: Vec<&'a str>,
}

impl diesel::query_builder::QueryId for PgInsertRegisters<'_> {
    type QueryId = PgInsertRegisters<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for PgInsertRegisters<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Array, Integer, Nullable, Text};
        out.push_sql(
            "INSERT INTO registers AS r (school_urn, academic_year, upn, sessions, minutes_late, latest_slot, tally) \
             SELECT ",
        );
        out.push_bind_param::<Integer, _>(&self.school_urn)?;
        out.push_sql(", s.* FROM unnest(");
        out.push_bind_param::<Array<Integer>, _>(&self.years)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.upns)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.sessions)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.minutes_late)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Integer>, _>(&self.latest_slots)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.tallies)?;
        out.push_sql(
            ") AS s \
             ON CONFLICT (school_urn, academic_year, upn) DO UPDATE \
               SET sessions = EXCLUDED.sessions, minutes_late = EXCLUDED.minutes_late, \
                   latest_slot = EXCLUDED.latest_slot, tally = EXCLUDED.tally \
               WHERE r.sessions IS DISTINCT FROM EXCLUDED.sessions \
                  OR r.minutes_late IS DISTINCT FROM EXCLUDED.minutes_late \
                  OR r.latest_slot IS DISTINCT FROM EXCLUDED.latest_slot \
                  OR r.tally IS DISTINCT FROM EXCLUDED.tally",
        );
        Ok(())
    }
}

impl RunQueryDsl<diesel::PgConnection> for PgInsertRegisters<'_> {}

/// Updates a school's stored rows of one academic year in one prepared statement, each row's
/// sessions as the kept part of the stored text plus the rest sent. A nightly push so sends each
/// pupil's new sessions, not the year's: copying and comparing full rows would outweigh the rest
/// of the push on PostgreSQL. The rows go as arrays
/// through `staged_register_tails` (its migration says why not a bare `unnest` or a staging
/// table: the plan). The update stays HOT (`fillfactor`). The school's lock makes the stored
/// text the one the push loaded.
struct PgUpdateRegisters<'a> {
    school_urn: i32,
    academic_year: i32,
    upns: Vec<&'a str>,
    kept: Vec<i32>,
    tails: Vec<&'a str>,
    minutes_late: Vec<Option<&'a str>>,
    latest_slots: Vec<i32>,
    tallies: Vec<&'a str>,
}

impl diesel::query_builder::QueryId for PgUpdateRegisters<'_> {
    type QueryId = PgUpdateRegisters<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for PgUpdateRegisters<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Array, Integer, Nullable, Text};
        out.push_sql(
            "UPDATE registers AS r SET sessions = left(r.sessions, s.kept) || s.sessions, \
               minutes_late = s.minutes_late, latest_slot = s.latest_slot, tally = s.tally \
             FROM staged_register_tails(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.upns)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Integer>, _>(&self.kept)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.tails)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.minutes_late)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Integer>, _>(&self.latest_slots)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.tallies)?;
        out.push_sql(") AS s WHERE r.school_urn = ");
        out.push_bind_param::<Integer, _>(&self.school_urn)?;
        out.push_sql(" AND r.academic_year = ");
        out.push_bind_param::<Integer, _>(&self.academic_year)?;
        out.push_sql(" AND r.upn = s.upn");
        Ok(())
    }
}

impl RunQueryDsl<diesel::PgConnection> for PgUpdateRegisters<'_> {}

/// Updates the stored rows of a push (`rows`, with their `kept` counts), a statement per
/// academic year (a nightly push has one). Fails if any row was not there to update: never
/// expected (the school's lock keeps its rows as loaded), but a stored row gone missing would
/// otherwise take the push's sessions with it.
fn pg_update_stored(
    pg: &mut diesel::PgConnection,
    rows: &[RegisterRow],
    kept: &[usize],
) -> QueryResult<()> {
    let mut years: Vec<i32> = rows.iter().map(|r| r.academic_year).collect();
    years.sort_unstable();
    years.dedup();
    for year in years {
        let mut update = PgUpdateRegisters {
            school_urn: rows[0].school_urn,
            academic_year: year,
            upns: Vec::new(),
            kept: Vec::new(),
            tails: Vec::new(),
            minutes_late: Vec::new(),
            latest_slots: Vec::new(),
            tallies: Vec::new(),
        };
        for (row, &kept) in rows
            .iter()
            .zip(kept)
            .filter(|(r, _)| r.academic_year == year)
        {
            // Sessions are ASCII (`register_char`), so characters and bytes agree.
            let tail = row.sessions.get(kept..).ok_or_else(|| {
                broken(format!(
                    "register of {} at {} keeps more sessions than it has",
                    row.upn, row.school_urn
                ))
            })?;
            update.upns.push(&row.upn);
            update.kept.push(i32::try_from(kept).unwrap_or(i32::MAX));
            update.tails.push(tail);
            update.minutes_late.push(row.minutes_late.as_deref());
            update.latest_slots.push(row.latest_slot);
            update.tallies.push(&row.tally);
        }
        let sent = update.upns.len();
        let updated = update.execute(pg)?;
        if updated != sent {
            return Err(broken(format!(
                "{updated} of {sent} stored register rows at {} for {year} were there to update",
                rows[0].school_urn
            )));
        }
    }
    Ok(())
}

/// Whether a push is best worked out before its write transaction and stored only if the
/// school's registers are still the [`version`] it read: on SQLite, where one writer at a time
/// holds the database, so other schools' pushes write meanwhile. PostgreSQL writes schools in
/// parallel, so there a push is worked out inside its transaction.
pub fn plans_ahead(conn: &DbConnection) -> bool {
    matches!(conn, DbConnection::Sqlite(_))
}

/// The version of a school's registers (0 before their first write; SQLite only, see
/// [`lock_school`]).
pub fn version(conn: &mut DbConnection, school_urn: i32) -> StoreResult<i64> {
    Ok(register_versions::table
        .find(school_urn)
        .select(register_versions::version)
        .first::<i64>(conn)
        .optional()?
        .unwrap_or(0))
}

/// Takes the next version of a school's registers if the current one is still `seen`, in the
/// write transaction: true when nothing was written since `seen` was read (and, from here to the
/// commit, nothing else can be: SQLite has one writer), false when another write came first.
/// Always false on PostgreSQL, which keeps no versions.
pub fn claim_version(conn: &mut DbConnection, school_urn: i32, seen: i64) -> StoreResult<bool> {
    if matches!(conn, DbConnection::Postgresql(_)) || version(conn, school_urn)? != seen {
        return Ok(false);
    }
    lock_school(conn, school_urn)?;
    Ok(true)
}

/// What a push needs of a school's registers: every year from `from_year` (the earliest its
/// marks fall in) on, in one range scan of the key, and for some of `pushed`'s pupils their latest
/// earlier year too. A run still open at the end of a year carries into the next one (R4.3), so
/// a pupil's tallies can only be appended to, or rebuilt from `from_year` on, knowing the year
/// before. That is needed unless the push only adds sessions after everything the pupil's
/// `from_year` row has counted and the pupil has no later row: the nightly push, which then
/// reads one row per pupil, not two, once a second academic year is stored.
///
/// `pushed` holds each pupil of the push (sorted by UPN) with the earliest session slot the push
/// gives them in `from_year`, if any.
pub fn of_school_since(
    conn: &mut DbConnection,
    school_urn: i32,
    from_year: AcademicYear,
    pushed: &[(&str, Option<i32>)],
) -> StoreResult<SchoolRegisters> {
    let mut rows: Vec<RegisterRow> = registers::table
        .filter(registers::school_urn.eq(school_urn))
        .filter(registers::academic_year.ge(from_year.start_year()))
        .select(RegisterRow::as_select())
        .load(conn)?;
    // Per pupil: the latest slot its `from_year` row has counted, and whether it has a later row.
    let mut recent: HashMap<&str, (Option<i32>, bool), FastHash> =
        HashMap::with_capacity_and_hasher(rows.len(), FastHash::default());
    for row in &rows {
        let seen = recent.entry(row.upn.as_str()).or_insert((None, false));
        if row.academic_year == from_year.start_year() {
            seen.0 = Some(row.latest_slot);
        } else {
            seen.1 = true;
        }
    }
    let missing: Vec<&str> = pushed
        .iter()
        .filter(|(upn, earliest)| match recent.get(upn) {
            Some((Some(counted), false)) => earliest.is_some_and(|slot| slot <= *counted),
            _ => true,
        })
        .map(|(upn, _)| *upn)
        .collect();
    let mut older: Vec<RegisterRow> = Vec::new();
    // One probe of the key first: a school with nothing before `from_year` (the usual case for a
    // new year's pupils) needs no look-up by pupil.
    let earlier: Option<i32> = if missing.is_empty() {
        None
    } else {
        registers::table
            .filter(registers::school_urn.eq(school_urn))
            .filter(registers::academic_year.lt(from_year.start_year()))
            .select(registers::academic_year)
            .first(conn)
            .optional()?
    };
    if earlier.is_some() {
        for chunk in missing.chunks(500) {
            older.extend(
                registers::table
                    .filter(registers::school_urn.eq(school_urn))
                    .filter(registers::academic_year.lt(from_year.start_year()))
                    .filter(registers::upn.eq_any(chunk))
                    .select(RegisterRow::as_select())
                    .load::<RegisterRow>(conn)?,
            );
        }
    }
    // Only the latest earlier year matters for the carry-over.
    let mut latest_older: HashMap<String, RegisterRow> = HashMap::new();
    for row in older {
        match latest_older.get(&row.upn) {
            Some(kept) if kept.academic_year >= row.academic_year => {}
            _ => {
                latest_older.insert(row.upn.clone(), row);
            }
        }
    }
    rows.extend(latest_older.into_values());
    SchoolRegisters::from_rows(school_urn, rows)
}

/// Every register of a school (for `esma-api recompute`).
pub fn of_school(conn: &mut DbConnection, school_urn: i32) -> StoreResult<SchoolRegisters> {
    let rows: Vec<RegisterRow> = registers::table
        .filter(registers::school_urn.eq(school_urn))
        .select(RegisterRow::as_select())
        .load(conn)?;
    SchoolRegisters::from_rows(school_urn, rows)
}

/// The registers of a pupil (or several) at any school over the academic years from `from` to
/// `to`, through the pupil index.
pub fn of_pupils(
    conn: &mut DbConnection,
    upns: &[&str],
    from: AcademicYear,
    to: AcademicYear,
) -> StoreResult<Vec<(i32, String, YearRegister)>> {
    let mut found = Vec::new();
    for chunk in upns.chunks(500) {
        let rows: Vec<RegisterRow> = registers::table
            .filter(registers::upn.eq_any(chunk))
            .filter(registers::academic_year.between(from.start_year(), to.start_year()))
            .select(RegisterRow::as_select())
            .load(conn)?;
        for row in rows {
            found.push((
                row.school_urn,
                row.upn.clone(),
                YearRegister::from_row(row)?,
            ));
        }
    }
    Ok(found)
}

/// SQLite rows per multi-row upsert (each row is a pupil's year, so far fewer per push than
/// marks were); remainders go 16, 4, 1 at a time so every statement has one of four shapes.
const SQLITE_UPSERT_BATCH: usize = 64;

/// Writes the rows a push changed (nothing for an unchanged re-push): SQLite in fixed-size
/// multi-row upserts, PostgreSQL as arrays in one statement per academic year for the stored
/// rows (only the sessions after the unchanged start) and one for the new ones. Returns the rows
/// written.
pub fn save(conn: &mut DbConnection, registers: &SchoolRegisters) -> StoreResult<usize> {
    let rows = registers.changed_rows()?;
    save_rows(conn, &rows)?;
    Ok(rows.len())
}

/// Writes register rows (new or changed), as [`save`] does.
pub fn save_rows(conn: &mut DbConnection, changed: &ChangedRows) -> StoreResult<()> {
    let rows = changed.rows.as_slice();
    if rows.is_empty() {
        return Ok(());
    }
    match conn {
        DbConnection::Postgresql(pg) => {
            let (stored, new) = rows.split_at(changed.stored);
            if !stored.is_empty() {
                pg_update_stored(pg, stored, &changed.kept)?;
            }
            if !new.is_empty() {
                PgInsertRegisters {
                    school_urn: new[0].school_urn,
                    years: new.iter().map(|r| r.academic_year).collect(),
                    upns: new.iter().map(|r| r.upn.as_str()).collect(),
                    sessions: new.iter().map(|r| r.sessions.as_str()).collect(),
                    minutes_late: new.iter().map(|r| r.minutes_late.as_deref()).collect(),
                    latest_slots: new.iter().map(|r| r.latest_slot).collect(),
                    tallies: new.iter().map(|r| r.tally.as_str()).collect(),
                }
                .execute(pg)?;
            }
        }
        DbConnection::Sqlite(lite) => {
            // A stored row is updated by its key (one look-up; an upsert looks twice), and any
            // that was not there after all joins the new ones.
            let (stored, new) = rows.split_at(changed.stored);
            let mut missing: Vec<RegisterRow> = Vec::new();
            for row in stored {
                if SqliteRegisterUpdate(row).execute(lite)? == 0 {
                    missing.push(row.clone());
                }
            }
            let rows: Vec<RegisterRow>;
            let new = if missing.is_empty() {
                new
            } else {
                missing.extend_from_slice(new);
                rows = missing;
                rows.as_slice()
            };
            let rest = upsert_batches_of::<SQLITE_UPSERT_BATCH>(lite, new)?;
            let rest = upsert_batches_of::<16>(lite, rest)?;
            let rest = upsert_batches_of::<4>(lite, rest)?;
            upsert_batches_of::<1>(lite, rest)?;
        }
    }
    Ok(())
}

/// Writes as many batches of exactly `N` rows as `rows` holds with one multi-row upsert; returns
/// the rows left over. An upsert rather than REPLACE: it updates the row in place, leaving the
/// pupil index alone.
fn upsert_batches_of<'r, const N: usize>(
    lite: &mut diesel::SqliteConnection,
    mut rows: &'r [RegisterRow],
) -> QueryResult<&'r [RegisterRow]> {
    while let Some((batch, rest)) = rows.split_first_chunk::<N>() {
        SqliteRegisterUpsert(batch).execute(lite)?;
        rows = rest;
    }
    Ok(rows)
}

/// `INSERT INTO registers ... VALUES (..) x N ON CONFLICT DO UPDATE` for exactly `N` rows, as a
/// query fragment of its own because diesel never caches an `ON CONFLICT ... DO UPDATE` (nor an
/// `UPDATE`): its changeset could differ from call to call. This one's text depends on `N` alone,
/// so it is prepared once per connection and then only rebound, not prepared for every batch.
struct SqliteRegisterUpsert<'r, const N: usize>(&'r [RegisterRow; N]);

/// The statement's cache key: one per batch size.
struct SqliteRegisterUpsertId<const N: usize>;

impl<const N: usize> diesel::query_builder::QueryId for SqliteRegisterUpsert<'_, N> {
    type QueryId = SqliteRegisterUpsertId<N>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const N: usize> diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite>
    for SqliteRegisterUpsert<'_, N>
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Integer, Nullable, Text};
        out.push_sql(
            "INSERT INTO registers (school_urn, academic_year, upn, sessions, minutes_late, \
             latest_slot, tally) VALUES ",
        );
        for (i, row) in self.0.iter().enumerate() {
            out.push_sql(if i == 0 { "(" } else { ", (" });
            out.push_bind_param::<Integer, _>(&row.school_urn)?;
            out.push_sql(", ");
            out.push_bind_param::<Integer, _>(&row.academic_year)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(&row.upn)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(&row.sessions)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(&row.minutes_late)?;
            out.push_sql(", ");
            out.push_bind_param::<Integer, _>(&row.latest_slot)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(&row.tally)?;
            out.push_sql(")");
        }
        out.push_sql(
            " ON CONFLICT (school_urn, academic_year, upn) DO UPDATE SET \
             sessions = excluded.sessions, minutes_late = excluded.minutes_late, \
             latest_slot = excluded.latest_slot, tally = excluded.tally",
        );
        Ok(())
    }
}

impl<const N: usize> RunQueryDsl<diesel::SqliteConnection> for SqliteRegisterUpsert<'_, N> {}

/// `UPDATE registers ... WHERE` its key, for one stored row; prepared once per connection, like
/// [`SqliteRegisterUpsert`].
struct SqliteRegisterUpdate<'r>(&'r RegisterRow);

impl diesel::query_builder::QueryId for SqliteRegisterUpdate<'_> {
    type QueryId = SqliteRegisterUpdate<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite> for SqliteRegisterUpdate<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Integer, Nullable, Text};
        let row = self.0;
        out.push_sql("UPDATE registers SET sessions = ");
        out.push_bind_param::<Text, _>(&row.sessions)?;
        out.push_sql(", minutes_late = ");
        out.push_bind_param::<Nullable<Text>, _>(&row.minutes_late)?;
        out.push_sql(", latest_slot = ");
        out.push_bind_param::<Integer, _>(&row.latest_slot)?;
        out.push_sql(", tally = ");
        out.push_bind_param::<Text, _>(&row.tally)?;
        out.push_sql(" WHERE school_urn = ");
        out.push_bind_param::<Integer, _>(&row.school_urn)?;
        out.push_sql(" AND academic_year = ");
        out.push_bind_param::<Integer, _>(&row.academic_year)?;
        out.push_sql(" AND upn = ");
        out.push_bind_param::<Text, _>(&row.upn)?;
        Ok(())
    }
}

impl RunQueryDsl<diesel::SqliteConnection> for SqliteRegisterUpdate<'_> {}

/// Whether any register row is stored.
pub fn any(conn: &mut DbConnection) -> StoreResult<bool> {
    Ok(registers::table
        .select(registers::school_urn)
        .first::<i32>(conn)
        .optional()
        .map(|found| found.is_some())?)
}
