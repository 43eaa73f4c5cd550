//! esma-api: the integration hub between English schools' MIS platforms and the local
//! authority's medical-needs teaching service (ESMA). See README.md and docs/.

pub mod api;
pub mod cli;
pub mod clock;
pub mod demo;
pub mod domain;
pub mod error;
pub mod notify;
pub mod server;
pub mod service;
pub mod signing;
pub mod store;
pub mod telemetry;
