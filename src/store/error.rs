//! The one error the store speaks: services tell apart what they must (a unique violation, a
//! stored value that cannot be read) without seeing diesel, and everything else becomes the
//! [`ApiError`] the database's failure maps to.

use diesel::result::{DatabaseErrorKind, Error};
use diesel::Connection;

use super::{unreachable, DbConnection};
use crate::error::ApiError;

/// A database operation that failed. It keeps the database's own error, so its [`ApiError`]
/// (status, message, Retry-After) is decided in one place, below.
#[derive(Debug)]
pub struct StoreError(Error);

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// A stored value the code cannot read (a code or session no longer known).
    pub fn unreadable(what: impl Into<String>) -> Self {
        StoreError(Error::DeserializationError(what.into().into()))
    }

    /// A row with the same unique key exists already (a concurrent request got there first).
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self.0,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
        )
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        StoreError(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::from(e.0)
    }
}

/// Runs `f` in one transaction, so that everything it reads is of one version of the data (a
/// push worked out before the write lock is taken).
pub fn read_transaction<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> StoreResult<T>,
) -> StoreResult<T> {
    conn.transaction(f)
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound => ApiError::not_found("the resource does not exist"),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                ApiError::conflict(format!("conflicts with existing data: {}", info.message()))
            }
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                ApiError::unavailable("the database was busy; retry the request".to_string())
            }
            // The server went away mid-request (restarted, pg_terminate_backend, the network):
            // the connection is discarded at its next checkout, so a retry gets a fresh one.
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                unreachable(&info.message())
            }
            Error::BrokenTransactionManager => unreachable(&"the connection broke mid-transaction"),
            Error::RollbackErrorOnCommit { commit_error, .. } => ApiError::from(*commit_error),
            // PostgreSQL's statement_timeout and lock_timeout; SQLite's busy_timeout.
            Error::DatabaseError(_, info) if is_timeout(info.message()) => {
                tracing::warn!(error = info.message(), "database statement timed out");
                ApiError::unavailable("the database took too long to answer; retry shortly")
            }
            other => ApiError::internal(format!("database error: {other}")),
        }
    }
}

fn is_timeout(message: &str) -> bool {
    [
        "statement timeout",
        "lock timeout",
        "database is locked",
        "database is busy",
    ]
    .iter()
    .any(|m| message.contains(m))
}
