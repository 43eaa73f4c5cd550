//! Schools of the LA.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::schools;
use super::{DbConnection, StoreResult};

#[derive(Debug, Clone, Queryable)]
pub struct SchoolRow {
    pub urn: i32,
    pub name: String,
    pub laestab: String,
    pub phase: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn find(conn: &mut DbConnection, urn: i32) -> StoreResult<Option<SchoolRow>> {
    Ok(schools::table
        .find(urn)
        .select(schools::all_columns)
        .first(conn)
        .optional()?)
}

/// The schools with these URNs, by URN.
pub fn of_urns(
    conn: &mut DbConnection,
    urns: &[i32],
) -> StoreResult<std::collections::HashMap<i32, SchoolRow>> {
    let rows: Vec<SchoolRow> = schools::table
        .filter(schools::urn.eq_any(urns))
        .select(schools::all_columns)
        .load(conn)?;
    Ok(rows.into_iter().map(|row| (row.urn, row)).collect())
}

/// Inserts or updates the school; returns the stored row and whether it was created. An
/// unchanged school keeps its `updated_at`.
pub fn upsert(
    conn: &mut DbConnection,
    urn: i32,
    name: &str,
    laestab: &str,
    phase: &str,
    now: NaiveDateTime,
) -> StoreResult<(SchoolRow, bool)> {
    match find(conn, urn)? {
        None => {
            diesel::insert_into(schools::table)
                .values((
                    schools::urn.eq(urn),
                    schools::name.eq(name),
                    schools::laestab.eq(laestab),
                    schools::phase.eq(phase),
                    schools::created_at.eq(now),
                    schools::updated_at.eq(now),
                ))
                .execute(conn)?;
            Ok((
                find(conn, urn)?.ok_or(diesel::result::Error::NotFound)?,
                true,
            ))
        }
        Some(existing)
            if existing.name == name && existing.laestab == laestab && existing.phase == phase =>
        {
            Ok((existing, false))
        }
        Some(_) => {
            diesel::update(schools::table.find(urn))
                .set((
                    schools::name.eq(name),
                    schools::laestab.eq(laestab),
                    schools::phase.eq(phase),
                    schools::updated_at.eq(now),
                ))
                .execute(conn)?;
            Ok((
                find(conn, urn)?.ok_or(diesel::result::Error::NotFound)?,
                false,
            ))
        }
    }
}

/// One page of schools in URN order, after the cursor URN, optionally only the given URNs.
pub fn page(
    conn: &mut DbConnection,
    after_urn: Option<i32>,
    only: Option<&[i32]>,
    limit: i64,
) -> StoreResult<Vec<SchoolRow>> {
    let mut query = schools::table
        .select(schools::all_columns)
        .order(schools::urn)
        .into_boxed();
    if let Some(after) = after_urn {
        query = query.filter(schools::urn.gt(after));
    }
    if let Some(urns) = only {
        query = query.filter(schools::urn.eq_any(urns.to_vec()));
    }
    Ok(query.limit(limit).load(conn)?)
}

/// Every school's URN, in order.
pub fn all_urns(conn: &mut DbConnection) -> StoreResult<Vec<i32>> {
    Ok(schools::table
        .select(schools::urn)
        .order(schools::urn)
        .load(conn)?)
}
