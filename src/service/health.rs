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

/// PostgreSQL with autovacuum off: analyses the tables that changed enough
/// (`introspection::analyse_changed_tables`). `None` when the server keeps its statistics itself.
pub async fn keep_statistics(state: &AppState) -> Result<Option<Vec<String>>, ApiError> {
    state
        .db
        .read(|conn| {
            if !introspection::autovacuum_off(conn)? {
                return Ok(None);
            }
            Ok(Some(introspection::analyse_changed_tables(conn)?))
        })
        .await
}
