//! API clients: created and revoked by an operator (CLI), authenticated at `POST /oauth/token`.

use base64::Engine;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Actor, AuditSubject};
use crate::domain::access::Role;
use crate::domain::school::check_urn;
use crate::error::ApiError;
use crate::store::{audit, clients, Db};

/// What `clients add` prints: the only time the secret is shown.
#[derive(Debug, Clone, Serialize)]
pub struct NewClient {
    pub client_id: String,
    pub client_secret: String,
    pub role: Role,
    pub schools: Vec<i32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientSummary {
    pub client_id: String,
    pub name: String,
    pub role: String,
    pub schools: Vec<i32>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// An authenticated client, as the token endpoint sees it.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    pub client_id: String,
    pub name: String,
    pub role: Role,
    pub schools: Vec<i32>,
}

pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

pub fn add(
    db: &Db,
    actor: &Actor,
    name: &str,
    role: Role,
    schools: &[i64],
) -> Result<NewClient, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid_field(
            "/name",
            "client name should be 1 to 200 characters",
        ));
    }
    let mut urns = Vec::new();
    for urn in schools {
        urns.push(check_urn(*urn).map_err(|m| ApiError::invalid_field("/schools", m))?);
    }
    urns.sort_unstable();
    urns.dedup();
    match role {
        Role::School if urns.is_empty() => {
            return Err(ApiError::invalid_field(
                "/schools",
                "a school client needs at least one --school URN it acts for",
            ))
        }
        Role::La | Role::Admin if !urns.is_empty() => {
            return Err(ApiError::invalid_field(
                "/schools",
                format!("--school only applies to school clients; a {role} client acts for every school or none"),
            ))
        }
        _ => {}
    }
    // The secret is high-entropy (256 bits), so a plain SHA-256 is enough to make a stolen table
    // useless; a slow password hash would only slow every token request.
    let client_id = format!("{}_{}", role.as_str(), random_token(12));
    let client_secret = random_token(32);
    let row = clients::ClientRow {
        client_id: client_id.clone(),
        name: name.to_string(),
        role: role.as_str().to_string(),
        secret_hash: hash_secret(&client_secret),
        created_at: crate::clock::Clock::system().now_naive(),
        revoked_at: None,
    };
    db.write_now(|conn| {
        clients::insert(conn, &row, &urns)?;
        audit::append(
            conn,
            &[actor.audit(
                row.created_at,
                "create",
                AuditSubject::new("api_client", &client_id),
            )],
        )?;
        Ok(())
    })?;
    Ok(NewClient {
        client_id,
        client_secret,
        role,
        schools: urns,
    })
}

pub fn list(db: &Db) -> Result<Vec<ClientSummary>, ApiError> {
    let mut conn = db.conn()?;
    let rows = clients::list(&mut conn)?;
    Ok(rows
        .into_iter()
        .map(|(c, schools)| ClientSummary {
            client_id: c.client_id,
            name: c.name,
            role: c.role,
            schools,
            created_at: c
                .created_at
                .and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            revoked_at: c.revoked_at.map(|t| {
                t.and_utc()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            }),
        })
        .collect())
}

pub fn revoke(db: &Db, actor: &Actor, client_id: &str) -> Result<(), ApiError> {
    db.write_now(|conn| {
        if clients::find(conn, client_id)?.is_none() {
            return Err(ApiError::not_found(format!(
                "no client with id '{client_id}'"
            )));
        }
        let now = crate::clock::Clock::system().now_naive();
        if !clients::revoke(conn, client_id, now)? {
            return Err(ApiError::conflict(format!(
                "client '{client_id}' is already revoked"
            )));
        }
        audit::append(
            conn,
            &[actor.audit(now, "revoke", AuditSubject::new("api_client", client_id))],
        )?;
        Ok(())
    })
}

/// Why the token endpoint refuses a client (RFC 6749 `invalid_client`); the wording never says
/// whether the id exists.
#[derive(Debug)]
pub enum ClientRefusal {
    Unknown,
    Revoked,
    Database(ApiError),
}

/// Checks a client id and secret; constant-time on the secret.
pub async fn authenticate(
    db: &Db,
    client_id: String,
    secret: String,
) -> Result<AuthenticatedClient, ClientRefusal> {
    let found = db
        .read(move |conn| {
            let Some(row) = clients::find(conn, &client_id)? else {
                return Ok(None);
            };
            let schools = clients::schools_of(conn, &client_id)?;
            Ok(Some((row, schools)))
        })
        .await
        .map_err(ClientRefusal::Database)?;
    let presented = hash_secret(&secret);
    let Some((row, schools)) = found else {
        // Compare anyway so an unknown id takes as long as a wrong secret.
        let _ = presented.as_bytes().ct_eq(hash_secret("").as_bytes());
        return Err(ClientRefusal::Unknown);
    };
    if !bool::from(presented.as_bytes().ct_eq(row.secret_hash.as_bytes())) {
        return Err(ClientRefusal::Unknown);
    }
    if row.revoked_at.is_some() {
        return Err(ClientRefusal::Revoked);
    }
    let role = row.role.parse::<Role>().map_err(|e| {
        ClientRefusal::Database(ApiError::internal(format!("stored client role: {e}")))
    })?;
    Ok(AuthenticatedClient {
        client_id: row.client_id,
        name: row.name,
        role,
        schools,
    })
}

/// Whether a token's client is still allowed in (revocation takes effect at once).
pub async fn is_active(db: &Db, client_id: String) -> Result<bool, ApiError> {
    db.read(move |conn| Ok(clients::is_active(conn, &client_id)?))
        .await
}
