//! Use cases: one function per thing a user does. Each owns its transaction and writes its audit
//! row in that same transaction.

pub mod alerts;
pub mod attendance;
pub mod audit;
pub mod calendar;
pub mod cases;
pub mod changes;
pub mod clients;
pub mod grants;
pub mod health;
pub mod idempotency;
pub mod imports;
pub mod lessons;
pub mod part_time;
pub mod plans;
pub mod pupils;
pub mod push;
pub mod referrals;
pub mod registers;
pub mod reports;
pub mod retention;
pub mod returns;
pub mod roll;
pub mod schools;
pub mod throttle;
pub mod tokens;
pub mod webhooks;

use std::sync::Arc;

use chrono::NaiveDateTime;

use crate::clock::Clock;
use crate::domain::access::{school_access, Role, SchoolAccess};
use crate::domain::attendance::AttendancePolicy;
use crate::domain::audit::AuditOutcome;
use crate::domain::policy::Policy;
use crate::error::ApiError;
use crate::store::audit::NewAuditEvent;
use crate::store::Db;

/// What every use case may need: storage, the clock, the token keys and the LA's settings.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub clock: Clock,
    pub tokens: Arc<tokens::TokenKeys>,
    /// The LA this service runs for (RULES.md R6.2; Hertfordshire 919).
    pub la_code: u16,
    /// The attendance thresholds (RULES.md R2.2, R4, R5): `policy.attendance`.
    pub attendance: Arc<AttendancePolicy>,
    /// The LA's ESMA policy (RULES.md R8, R10.3); Hertfordshire's by default.
    pub policy: Arc<Policy>,
    /// Plain http webhook URLs to a loopback address are accepted (`ESMA_ALLOW_INSECURE_WEBHOOKS`;
    /// development and tests only).
    pub allow_insecure_webhooks: bool,
    /// Failed `/oauth/token` attempts per client id and per address (429 over the limit).
    pub token_throttle: Arc<throttle::TokenThrottle>,
    /// Seals webhook secrets at rest (`ESMA_WEBHOOK_KEY`) and opens them to sign.
    pub webhook_keys: Arc<crate::signing::WebhookKeys>,
    /// When this process last brought the clock-driven alerts up to date for a worklist read
    /// (`alerts::ClockFollowed`).
    pub clock_followed: Arc<alerts::ClockFollowed>,
}

/// Who is acting and through which door: the authenticated client plus what the audit trail
/// needs to say about the request.
#[derive(Debug, Clone)]
pub struct Actor {
    pub client_id: String,
    pub role: Role,
    pub schools: Vec<i32>,
    /// `METHOD /route/{pattern}` or `cli <command>`.
    pub endpoint: String,
    pub correlation_id: Option<String>,
}

impl Actor {
    /// An operator at the command line (clients add/revoke, demo seeding).
    pub fn operator(command: &str) -> Actor {
        let user = std::env::var("USER").unwrap_or_else(|_| "operator".to_string());
        Actor {
            client_id: format!("cli:{user}"),
            role: Role::Admin,
            schools: Vec::new(),
            endpoint: format!("cli {command}"),
            correlation_id: None,
        }
    }

    /// 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            return Ok(());
        }
        let wanted: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(ApiError::forbidden(format!(
            "this operation needs a client with role {}; yours has role {}",
            wanted.join(" or "),
            self.role
        )))
    }

    /// Whether this actor may know of the school's resources (ids of its referrals, cases...).
    pub fn sees_school(&self, urn: i32) -> bool {
        matches!(
            school_access(self.role, &self.schools, urn),
            SchoolAccess::Allowed
        )
    }

    /// For reads of a school's data: 404 for another school's (no existence leak).
    pub fn may_read_school(&self, urn: i32) -> Result<(), ApiError> {
        match school_access(self.role, &self.schools, urn) {
            SchoolAccess::Allowed => Ok(()),
            SchoolAccess::OtherSchool => {
                Err(ApiError::not_found(format!("no school with URN {urn}")))
            }
            SchoolAccess::WrongRole => Err(ApiError::forbidden(format!(
                "role {} does not read school data",
                self.role
            ))),
        }
    }

    /// For writes to a school's data: 403 for another school's.
    pub fn may_write_school(&self, urn: i32) -> Result<(), ApiError> {
        match school_access(self.role, &self.schools, urn) {
            SchoolAccess::Allowed => Ok(()),
            SchoolAccess::OtherSchool => Err(ApiError::forbidden(format!(
                "this client acts for URN(s) {:?}, not {urn}",
                self.schools
            ))),
            SchoolAccess::WrongRole => Err(ApiError::forbidden(format!(
                "role {} does not write school data",
                self.role
            ))),
        }
    }

    /// The schools a list may show: `None` is every school (the LA, unfiltered); a school
    /// client gets its own, or the one asked for if it is its own (404 otherwise).
    pub fn schools_to_list(&self, requested: Option<i32>) -> Result<Option<Vec<i32>>, ApiError> {
        match (self.role, requested) {
            (Role::La, requested) => Ok(requested.map(|urn| vec![urn])),
            (_, Some(urn)) => {
                self.may_read_school(urn)?;
                Ok(Some(vec![urn]))
            }
            (_, None) => Ok(Some(self.schools.clone())),
        }
    }

    /// An audit row for something this actor did.
    pub fn audit(&self, at: NaiveDateTime, action: &str, subject: AuditSubject) -> NewAuditEvent {
        NewAuditEvent {
            occurred_at: at,
            actor: self.client_id.clone(),
            actor_role: self.role.as_str().to_string(),
            action: action.to_string(),
            resource_type: subject.resource_type.to_string(),
            resource_id: subject.resource_id,
            school_urn: subject.school_urn,
            upn: subject.upn,
            endpoint: self.endpoint.clone(),
            outcome: AuditOutcome::Success.as_str().to_string(),
            correlation_id: self.correlation_id.clone(),
        }
    }
}

/// What an audit row is about.
#[derive(Debug, Clone)]
pub struct AuditSubject {
    pub resource_type: &'static str,
    pub resource_id: String,
    pub school_urn: Option<i32>,
    pub upn: Option<String>,
}

impl AuditSubject {
    pub fn new(resource_type: &'static str, resource_id: impl Into<String>) -> Self {
        AuditSubject {
            resource_type,
            resource_id: resource_id.into(),
            school_urn: None,
            upn: None,
        }
    }
    pub fn school(mut self, urn: i32) -> Self {
        self.school_urn = Some(urn);
        self
    }
    pub fn pupil(mut self, upn: impl Into<String>) -> Self {
        self.upn = Some(upn.into());
        self
    }
    /// A read of a list (`resource_id` names it: "list", "worklist"), and the school and pupil
    /// it was narrowed to, if any.
    pub fn list(
        resource_type: &'static str,
        list: &str,
        school_urn: Option<i32>,
        upn: Option<String>,
    ) -> Self {
        AuditSubject {
            school_urn,
            upn,
            ..AuditSubject::new(resource_type, list)
        }
    }
}

/// A page read with `limit + 1` rows: the first `limit` of them and, when there were more, the
/// id of the last one kept (the cursor to continue after).
pub(crate) fn page_of<T>(
    mut rows: Vec<T>,
    limit: i64,
    id_of: impl Fn(&T) -> i64,
) -> (Vec<T>, Option<i64>) {
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next = if more { rows.last().map(id_of) } else { None };
    (rows, next)
}
