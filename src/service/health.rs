//! Whether the service can serve: `GET /health`.

use super::AppState;
use crate::error::ApiError;
use crate::store::introspection;

/// Ok when the database answers; 503 (with Retry-After) when it does not.
pub async fn check_database(state: &AppState) -> Result<(), ApiError> {
    state
        .db
        .read(|conn| {
            introspection::answers(conn)
                .map_err(|e| ApiError::unavailable(format!("database check failed: {e}")))
        })
        .await
}

/// PostgreSQL with autovacuum off: vacuums and analyses the tables that need it, as autovacuum
/// would (`introspection::vacuum_and_analyse`). `None` when the server does it itself.
pub async fn keep_tables(state: &AppState) -> Result<Option<introspection::TablesKept>, ApiError> {
    if !state
        .db
        .read(|conn| Ok(introspection::autovacuum_off(conn)?))
        .await?
    {
        return Ok(None);
    }
    let db = state.db.clone();
    actix_web::web::block(move || {
        let mut conn = db.unpooled_unlimited()?;
        Ok::<_, ApiError>(introspection::vacuum_and_analyse(&mut conn)?)
    })
    .await
    .map_err(|e| ApiError::internal(format!("table upkeep failed: {e}")))?
    .map(Some)
}
