//! `serve --demo`: a 2026-27 Hertfordshire-style calendar, two schools and ready credentials.

use serde::Serialize;

use crate::domain::access::Role;
use crate::domain::calendar::hertfordshire_2026_27;
use crate::error::ApiError;
use crate::service::clients::{self, NewClient};
use crate::service::{Actor, AuditSubject};
use crate::store::{audit, calendars, schools, Db};

pub const DEMO_SCHOOLS: [(i32, &str, &str, &str); 2] = [
    (117001, "Oakfield Primary School", "9192001", "primary"),
    (117002, "Hillside Academy", "9194001", "secondary"),
];

#[derive(Debug, Serialize)]
pub struct DemoCredentials {
    pub la: NewClient,
    pub school: NewClient,
    pub admin: NewClient,
}

/// Seeds the demo data (idempotent) and creates fresh demo clients.
pub fn seed(db: &Db) -> Result<DemoCredentials, ApiError> {
    let actor = Actor::operator("serve --demo");
    db.write_now(|conn| {
        let now = crate::clock::Clock::system().now_naive();
        let calendar = hertfordshire_2026_27();
        calendars::replace(conn, &calendar, now)?;
        let mut events = vec![actor.audit(
            now,
            "update",
            AuditSubject::new("calendar", calendar.academic_year.to_string()),
        )];
        for (urn, name, laestab, phase) in DEMO_SCHOOLS {
            schools::upsert(conn, urn, name, laestab, phase, now)?;
            events.push(actor.audit(
                now,
                "update",
                AuditSubject::new("school", urn.to_string()).school(urn),
            ));
        }
        audit::append(conn, &events)?;
        Ok(())
    })?;
    Ok(DemoCredentials {
        la: clients::add(db, &actor, "demo LA portal", Role::La, &[])?,
        school: clients::add(
            db,
            &actor,
            "demo MIS for Oakfield Primary",
            Role::School,
            &[117001],
        )?,
        admin: clients::add(db, &actor, "demo operator", Role::Admin, &[])?,
    })
}
