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
