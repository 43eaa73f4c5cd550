//! Pure rules: no I/O, no diesel, no actix. Each module maps to a section of `RULES.md`.

pub mod access;
pub mod age;
pub mod alerts;
pub mod attendance;
pub mod calendar;
pub mod changes;
pub mod codes;
pub mod decision;
pub mod eligibility;
pub mod events;
pub mod exit;
pub mod identifiers;
pub mod policy;
pub mod push;
pub mod referral;
pub mod register;
pub mod retention;
pub mod roll;
pub mod schedule;
pub mod school;
pub mod tally;
pub mod text;
