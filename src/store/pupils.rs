//! Pupils and the schools' rolls (enrolments).

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{enrolments, pupils};
use super::{DbConnection, StoreResult};
use crate::domain::register::RollPeriod;
use crate::domain::roll::PupilDetails;

/// A UPN the service knows: what every other table refers to. Personal details are per school,
/// on [`EnrolmentRow`].
#[derive(Debug, Clone, PartialEq, Queryable, Insertable)]
#[diesel(table_name = pupils)]
pub struct PupilRow {
    pub upn: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A pupil on one school's roll, with the personal details that school's MIS gave (API.md
/// "Pupils": held per school).
#[derive(Debug, Clone, PartialEq, Queryable, Insertable)]
#[diesel(table_name = enrolments)]
pub struct EnrolmentRow {
    pub school_urn: i32,
    pub upn: String,
    pub on_roll_from: NaiveDate,
    pub on_roll_until: Option<NaiveDate>,
    pub updated_at: NaiveDateTime,
    pub legal_forename: String,
    pub legal_surname: String,
    pub date_of_birth: NaiveDate,
    pub postcode: Option<String>,
    pub home_la_code: Option<i32>,
    pub ehcp: bool,
    pub sen_support: bool,
    pub pupil_premium: bool,
}

impl EnrolmentRow {
    pub fn details(&self) -> PupilDetails {
        PupilDetails {
            legal_forename: self.legal_forename.clone(),
            legal_surname: self.legal_surname.clone(),
            date_of_birth: self.date_of_birth,
            postcode: self.postcode.clone(),
            home_la_code: self.home_la_code,
            ehcp: self.ehcp,
            sen_support: self.sen_support,
            pupil_premium: self.pupil_premium,
        }
    }

    /// Same roll dates and details, ignoring the bookkeeping time.
    pub fn same_as(&self, other: &EnrolmentRow) -> bool {
        (self.on_roll_from, self.on_roll_until) == (other.on_roll_from, other.on_roll_until)
            && self.details() == other.details()
    }
}

/// Which of these UPNs the service already knows (one query per 500).
pub fn known(conn: &mut DbConnection, upns: &[&str]) -> StoreResult<HashSet<String>> {
    let mut found = HashSet::with_capacity(upns.len());
    for chunk in upns.chunks(500) {
        let rows: Vec<String> = pupils::table
            .filter(pupils::upn.eq_any(chunk))
            .select(pupils::upn)
            .load(conn)?;
        found.extend(rows);
    }
    Ok(found)
}

/// One school's record of a pupil (whether or not the pupil is on its roll today).
pub fn record_at(
    conn: &mut DbConnection,
    school_urn: i32,
    upn: &str,
) -> StoreResult<Option<EnrolmentRow>> {
    Ok(enrolments::table
        .find((school_urn, upn))
        .select(enrolments::all_columns)
        .first(conn)
        .optional()?)
}

/// A school's roll, keyed by UPN.
pub fn roll_of(
    conn: &mut DbConnection,
    school_urn: i32,
) -> StoreResult<HashMap<String, EnrolmentRow>> {
    let rows: Vec<EnrolmentRow> = enrolments::table
        .filter(enrolments::school_urn.eq(school_urn))
        .select(enrolments::all_columns)
        .load(conn)?;
    Ok(rows.into_iter().map(|e| (e.upn.clone(), e)).collect())
}

/// A school's roll as [`RollPeriod`]s, keyed by UPN: [`roll_of`] without the columns a register
/// push does not read (it is read on every push; decoding `updated_at` and a second copy of each
/// UPN are most of what [`roll_of`] would cost it).
pub fn roll_periods_of(
    conn: &mut DbConnection,
    school_urn: i32,
) -> StoreResult<HashMap<String, RollPeriod, super::registers::FastHash>> {
    let rows: Vec<(String, (NaiveDate, Option<NaiveDate>))> = enrolments::table
        .filter(enrolments::school_urn.eq(school_urn))
        .select((
            enrolments::upn,
            (enrolments::on_roll_from, enrolments::on_roll_until),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(upn, (on_roll_from, on_roll_until))| {
            let period = RollPeriod {
                on_roll_from,
                on_roll_until,
            };
            (upn, period)
        })
        .collect())
}

pub fn enrolments_of(conn: &mut DbConnection, upn: &str) -> StoreResult<Vec<EnrolmentRow>> {
    Ok(enrolments::table
        .filter(enrolments::upn.eq(upn))
        .select(enrolments::all_columns)
        .order(enrolments::school_urn)
        .load(conn)?)
}

/// The enrolments with the given (school, pupil) keys, by key, in one query per 500.
pub fn enrolments_of_keys(
    conn: &mut DbConnection,
    keys: &[(i32, &str)],
) -> StoreResult<HashMap<(i32, String), EnrolmentRow>> {
    let mut found = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(500) {
        let upns: Vec<&str> = chunk.iter().map(|k| k.1).collect();
        let schools: Vec<i32> = chunk.iter().map(|k| k.0).collect();
        let rows: Vec<EnrolmentRow> = enrolments::table
            .filter(enrolments::upn.eq_any(&upns))
            .filter(enrolments::school_urn.eq_any(&schools))
            .select(enrolments::all_columns)
            .load(conn)?;
        for row in rows {
            if chunk
                .iter()
                .any(|k| k.0 == row.school_urn && k.1 == row.upn)
            {
                found.insert((row.school_urn, row.upn.clone()), row);
            }
        }
    }
    Ok(found)
}

pub fn insert_pupils(conn: &mut DbConnection, rows: &[PupilRow]) -> StoreResult<()> {
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

pub fn insert_enrolments(conn: &mut DbConnection, rows: &[EnrolmentRow]) -> StoreResult<()> {
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

pub fn update_enrolment(conn: &mut DbConnection, row: &EnrolmentRow) -> StoreResult<()> {
    diesel::update(enrolments::table.find((row.school_urn, &row.upn)))
        .set((
            enrolments::on_roll_from.eq(row.on_roll_from),
            enrolments::on_roll_until.eq(row.on_roll_until),
            enrolments::updated_at.eq(row.updated_at),
            enrolments::legal_forename.eq(&row.legal_forename),
            enrolments::legal_surname.eq(&row.legal_surname),
            enrolments::date_of_birth.eq(row.date_of_birth),
            enrolments::postcode.eq(&row.postcode),
            enrolments::home_la_code.eq(row.home_la_code),
            enrolments::ehcp.eq(row.ehcp),
            enrolments::sen_support.eq(row.sen_support),
            enrolments::pupil_premium.eq(row.pupil_premium),
        ))
        .execute(conn)?;
    Ok(())
}
