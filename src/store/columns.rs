//! How typed values are kept in text columns: a state as its word, a domain value as its JSON.
//! The text exists only here and on the wire; a stored value this version cannot read is an
//! error of the query that read it (500), never a panic.

use std::fmt::Display;

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, Queryable};
use diesel::result::Error;
use diesel::sql_types::Text;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::domain::access::Role;
use crate::domain::audit::AuditOutcome;
use crate::domain::case::{CaseStatus, ReviewStatus};
use crate::domain::events::{DeliveryStatus, SubscriptionStatus};
use crate::domain::plan::{PlanStatus, Progress};
use crate::domain::referral::{AssessmentTrigger, ReferralStatus};
use crate::domain::schedule::ReviewKind;

/// A state (or kind) stored as its word.
pub trait Word: Sized + Copy {
    /// What it is, for an error about a word it does not know.
    const WHAT: &'static str;
    fn word(self) -> &'static str;
    fn from_word(text: &str) -> Option<Self>;
}

macro_rules! words {
    ($($ty:ty => $what:literal),* $(,)?) => {$(
        impl Word for $ty {
            const WHAT: &'static str = $what;
            fn word(self) -> &'static str {
                self.as_str()
            }
            fn from_word(text: &str) -> Option<Self> {
                <$ty>::parse(text)
            }
        }
    )*};
}

words! {
    CaseStatus => "case status",
    ReviewStatus => "review status",
    ReviewKind => "review kind",
    ReferralStatus => "referral status",
    SubscriptionStatus => "subscription status",
    DeliveryStatus => "delivery status",
    AssessmentTrigger => "assessment trigger",
    Role => "role",
    AuditOutcome => "audit outcome",
    PlanStatus => "plan status",
    Progress => "target progress",
}

/// The state a stored word names.
pub fn word<T: Word>(text: &str) -> deserialize::Result<T> {
    T::from_word(text).ok_or_else(|| format!("unknown {} '{text}' stored", T::WHAT).into())
}

/// The value stored as JSON in a column of row `id` of `what`.
pub fn json<T: DeserializeOwned>(
    what: &str,
    id: impl Display,
    text: &str,
) -> deserialize::Result<T> {
    serde_json::from_str(text).map_err(|e| format!("stored {what} {id} cannot be read: {e}").into())
}

/// [`json`] of a nullable column.
pub fn json_opt<T: DeserializeOwned>(
    what: &str,
    id: impl Display,
    text: Option<&str>,
) -> deserialize::Result<Option<T>> {
    text.map(|t| json(what, &id, t)).transpose()
}

/// A value as it is stored in a JSON column.
pub fn to_json<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::SerializationError(Box::new(e)))
}

/// A word column read into a derived `Queryable` row: `#[diesel(deserialize_as = StoredWord)]`
/// on a field of a [`Word`] type (diesel converts it with `.try_into()`).
pub struct StoredWord(String);

impl<DB> Queryable<Text, DB> for StoredWord
where
    DB: Backend,
    String: FromSql<Text, DB>,
{
    type Row = String;

    fn build(text: String) -> deserialize::Result<Self> {
        Ok(StoredWord(text))
    }
}

impl StoredWord {
    /// Called by diesel's derived `Queryable` (an inherent method: `TryFrom` cannot be
    /// implemented for every [`Word`] at once).
    pub fn try_into<T: Word>(self) -> deserialize::Result<T> {
        word(&self.0)
    }
}
