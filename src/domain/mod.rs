//! Pure rules: no I/O, no diesel, no actix. Each module maps to a section of `RULES.md`.

/// A record id that is easy to mix up with another (a case's, a review's, a referral's): its own
/// type, an integer on the wire and in the spec (`serde(transparent)`).
macro_rules! record_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            serde::Serialize,
            serde::Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                $name(id)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

pub mod access;
pub mod age;
pub mod alerts;
pub mod attendance;
pub mod audit;
pub mod calendar;
pub mod case;
pub mod changes;
pub mod codes;
pub mod decision;
pub mod eligibility;
pub mod events;
pub mod exit;
pub mod identifiers;
pub mod lessons;
pub mod part_time;
pub mod plan;
pub mod policy;
pub mod push;
pub mod referral;
pub mod register;
pub mod report;
pub mod retention;
pub mod returns;
pub mod roll;
pub mod schedule;
pub mod school;
pub mod tally;
pub mod text;
