//! Pupils and the schools' rolls (enrolments).

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{enrolments, pupils};
use super::DbConnection;

#[derive(Debug, Clone, PartialEq, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = pupils)]
pub struct PupilRow {
    pub upn: String,
    pub legal_forename: String,
    pub legal_surname: String,
    pub date_of_birth: NaiveDate,
    pub postcode: Option<String>,
    pub home_la_code: Option<i32>,
    pub ehcp: bool,
    pub sen_support: bool,
    pub pupil_premium: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl PupilRow {
    /// Same person data, ignoring bookkeeping times.
    pub fn same_details(&self, other: &PupilRow) -> bool {
        self.legal_forename == other.legal_forename
            && self.legal_surname == other.legal_surname
            && self.date_of_birth == other.date_of_birth
            && self.postcode == other.postcode
            && self.home_la_code == other.home_la_code
            && self.ehcp == other.ehcp
            && self.sen_support == other.sen_support
            && self.pupil_premium == other.pupil_premium
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Insertable)]
#[diesel(table_name = enrolments)]
pub struct EnrolmentRow {
    pub school_urn: i32,
    pub upn: String,
    pub on_roll_from: NaiveDate,
    pub on_roll_until: Option<NaiveDate>,
    pub updated_at: NaiveDateTime,
}

pub fn find(conn: &mut DbConnection, upn: &str) -> QueryResult<Option<PupilRow>> {
    pupils::table
        .find(upn)
        .select(pupils::all_columns)
        .first(conn)
        .optional()
}

/// The pupils with these UPNs, keyed by UPN (one query per 500).
pub fn find_many(conn: &mut DbConnection, upns: &[&str]) -> QueryResult<HashMap<String, PupilRow>> {
    let mut found = HashMap::with_capacity(upns.len());
    for chunk in upns.chunks(500) {
        let rows: Vec<PupilRow> = pupils::table
            .filter(pupils::upn.eq_any(chunk))
            .select(pupils::all_columns)
            .load(conn)?;
        found.extend(rows.into_iter().map(|p| (p.upn.clone(), p)));
    }
    Ok(found)
}

/// A school's roll, keyed by UPN.
pub fn roll_of(
    conn: &mut DbConnection,
    school_urn: i32,
) -> QueryResult<HashMap<String, EnrolmentRow>> {
    let rows: Vec<EnrolmentRow> = enrolments::table
        .filter(enrolments::school_urn.eq(school_urn))
        .select(enrolments::all_columns)
        .load(conn)?;
    Ok(rows.into_iter().map(|e| (e.upn.clone(), e)).collect())
}

/// When a pupil is on a school's roll: all a register push checks its marks against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable)]
pub struct RollPeriod {
    pub on_roll_from: NaiveDate,
    pub on_roll_until: Option<NaiveDate>,
}

/// A school's roll as [`RollPeriod`]s, keyed by UPN: [`roll_of`] without the columns a register
/// push does not read. Read on every push; on SQLite, decoding `updated_at` (a timestamp tried
/// against several formats) and a second copy of each UPN were ~40% of the read's server time
/// (perf, bench-ingest first push: 14% of the server's CPU for `roll_of`, 8% for this).
pub fn roll_periods_of(
    conn: &mut DbConnection,
    school_urn: i32,
) -> QueryResult<HashMap<String, RollPeriod, super::registers::FastHash>> {
    let rows: Vec<(String, RollPeriod)> = enrolments::table
        .filter(enrolments::school_urn.eq(school_urn))
        .select((
            enrolments::upn,
            (enrolments::on_roll_from, enrolments::on_roll_until),
        ))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

pub fn enrolments_of(conn: &mut DbConnection, upn: &str) -> QueryResult<Vec<EnrolmentRow>> {
    enrolments::table
        .filter(enrolments::upn.eq(upn))
        .select(enrolments::all_columns)
        .order(enrolments::school_urn)
        .load(conn)
}

pub fn insert_pupils(conn: &mut DbConnection, rows: &[PupilRow]) -> QueryResult<()> {
    // Multi-row inserts are per backend: diesel's MultiBackend has no batch insert.
    for chunk in rows.chunks(500) {
        match conn {
            DbConnection::Sqlite(c) => diesel::insert_into(pupils::table)
                .values(chunk)
                .execute(c)?,
            DbConnection::Postgresql(c) => diesel::insert_into(pupils::table)
                .values(chunk)
                .execute(c)?,
        };
    }
    Ok(())
}

pub fn update_pupil(conn: &mut DbConnection, row: &PupilRow) -> QueryResult<()> {
    diesel::update(pupils::table.find(&row.upn))
        .set((
            pupils::legal_forename.eq(&row.legal_forename),
            pupils::legal_surname.eq(&row.legal_surname),
            pupils::date_of_birth.eq(row.date_of_birth),
            pupils::postcode.eq(&row.postcode),
            pupils::home_la_code.eq(row.home_la_code),
            pupils::ehcp.eq(row.ehcp),
            pupils::sen_support.eq(row.sen_support),
            pupils::pupil_premium.eq(row.pupil_premium),
            pupils::updated_at.eq(row.updated_at),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn insert_enrolments(conn: &mut DbConnection, rows: &[EnrolmentRow]) -> QueryResult<()> {
    for chunk in rows.chunks(500) {
        match conn {
            DbConnection::Sqlite(c) => diesel::insert_into(enrolments::table)
                .values(chunk)
                .execute(c)?,
            DbConnection::Postgresql(c) => diesel::insert_into(enrolments::table)
                .values(chunk)
                .execute(c)?,
        };
    }
    Ok(())
}

pub fn update_enrolment(conn: &mut DbConnection, row: &EnrolmentRow) -> QueryResult<()> {
    diesel::update(enrolments::table.find((row.school_urn, &row.upn)))
        .set((
            enrolments::on_roll_from.eq(row.on_roll_from),
            enrolments::on_roll_until.eq(row.on_roll_until),
            enrolments::updated_at.eq(row.updated_at),
        ))
        .execute(conn)
        .map(|_| ())
}
