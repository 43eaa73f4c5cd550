//! API clients (OAuth2 client credentials). Only a hash of each secret is stored.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{api_client_schools, api_clients};
use super::{DbConnection, StoreResult};

#[derive(Debug, Clone, Queryable)]
pub struct ClientRow {
    pub client_id: String,
    pub name: String,
    pub role: String,
    pub secret_hash: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, row: &ClientRow, schools: &[i32]) -> StoreResult<()> {
    diesel::insert_into(api_clients::table)
        .values((
            api_clients::client_id.eq(&row.client_id),
            api_clients::name.eq(&row.name),
            api_clients::role.eq(&row.role),
            api_clients::secret_hash.eq(&row.secret_hash),
            api_clients::created_at.eq(row.created_at),
            api_clients::revoked_at.eq(row.revoked_at),
        ))
        .execute(conn)?;
    for urn in schools {
        diesel::insert_into(api_client_schools::table)
            .values((
                api_client_schools::client_id.eq(&row.client_id),
                api_client_schools::school_urn.eq(urn),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn find(conn: &mut DbConnection, client_id: &str) -> StoreResult<Option<ClientRow>> {
    Ok(api_clients::table
        .find(client_id)
        .select(api_clients::all_columns)
        .first::<ClientRow>(conn)
        .optional()?)
}

pub fn schools_of(conn: &mut DbConnection, client_id: &str) -> StoreResult<Vec<i32>> {
    Ok(api_client_schools::table
        .filter(api_client_schools::client_id.eq(client_id))
        .select(api_client_schools::school_urn)
        .order(api_client_schools::school_urn)
        .load(conn)?)
}

pub fn list(conn: &mut DbConnection) -> StoreResult<Vec<(ClientRow, Vec<i32>)>> {
    let clients = api_clients::table
        .select(api_clients::all_columns)
        .order((api_clients::created_at, api_clients::client_id))
        .load::<ClientRow>(conn)?;
    let links: Vec<(String, i32)> = api_client_schools::table
        .select((
            api_client_schools::client_id,
            api_client_schools::school_urn,
        ))
        .order((
            api_client_schools::client_id,
            api_client_schools::school_urn,
        ))
        .load(conn)?;
    Ok(clients
        .into_iter()
        .map(|c| {
            let urns = links
                .iter()
                .filter(|(id, _)| *id == c.client_id)
                .map(|(_, u)| *u)
                .collect();
            (c, urns)
        })
        .collect())
}

/// Marks the client revoked; returns false when it does not exist or was already revoked.
pub fn revoke(conn: &mut DbConnection, client_id: &str, at: NaiveDateTime) -> StoreResult<bool> {
    let changed = diesel::update(
        api_clients::table
            .filter(api_clients::client_id.eq(client_id))
            .filter(api_clients::revoked_at.is_null()),
    )
    .set(api_clients::revoked_at.eq(Some(at)))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Whether the client exists and is not revoked (checked on every authenticated request).
pub fn is_active(conn: &mut DbConnection, client_id: &str) -> StoreResult<bool> {
    let revoked: Option<Option<NaiveDateTime>> = api_clients::table
        .find(client_id)
        .select(api_clients::revoked_at)
        .first(conn)
        .optional()?;
    Ok(matches!(revoked, Some(None)))
}
