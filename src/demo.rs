//! `serve --demo`: a 2026-27 Hertfordshire-style calendar, two schools with pupils and their
//! registers from the start of the autumn term to today, and ready credentials.

use chrono::NaiveDate;
use serde::Serialize;

use crate::domain::access::Role;
use crate::domain::attendance::AttendancePolicy;
use crate::domain::calendar::{hertfordshire_2026_27, SchoolCalendar};
use crate::domain::identifiers::check_letter_for;
use crate::error::ApiError;
use crate::service::attendance::write_marks;
use crate::service::clients::{self, NewClient};
use crate::service::imports::{conclude, PushMode, Rejections, Tally};
use crate::service::{Actor, AuditSubject};
use crate::store::marks::IncomingMark;
use crate::store::pupils::{self as pupil_store, EnrolmentRow, PupilRow};
use crate::store::{audit, calendars, imports, schools, Db};

pub const DEMO_SCHOOLS: [(i32, &str, &str, &str); 2] = [
    (117001, "Oakfield Primary School", "9192001", "primary"),
    (117002, "Hillside Academy", "9194001", "secondary"),
];

const FORENAMES: [&str; 10] = [
    "Amara", "Ben", "Chloe", "Dev", "Ella", "Finn", "Grace", "Harry", "Isla", "Jack",
];
const SURNAMES: [&str; 6] = ["Okafor", "Smith", "Patel", "Jones", "Nowak", "Brown"];

#[derive(Debug, Serialize)]
pub struct DemoCredentials {
    pub la: NewClient,
    pub school: NewClient,
    pub admin: NewClient,
}

/// The demo pupils' UPNs: LA 919, serials by school.
pub fn demo_upn(school_index: usize, n: usize) -> String {
    let tail = format!("919{:04}{:04}0", 1000 + school_index, n);
    format!("{}{tail}", check_letter_for(&tail).unwrap_or('A'))
}

/// A register pattern that gives the demo something to show: pupil 1 of each school has been
/// off ill since half term (a long illness run), pupil 2 has scattered unexplained absences,
/// pupil 3 is often late; everyone else is present.
fn demo_code(n: usize, day: NaiveDate, pm: bool, index: usize) -> (&'static str, Option<i32>) {
    let after_half_term = day >= NaiveDate::from_ymd_opt(2026, 11, 2).unwrap_or(day);
    match n {
        1 if after_half_term => ("I", None),
        2 if index % 9 == 4 => ("N", None),
        2 if index % 9 == 7 => ("O", None),
        3 if index.is_multiple_of(5) && !pm => ("L", Some(10)),
        _ if pm => ("\\", None),
        _ => ("/", None),
    }
}

/// Seeds the demo data (idempotent: a second start changes nothing) and creates fresh clients.
pub fn seed(db: &Db, today: NaiveDate) -> Result<DemoCredentials, ApiError> {
    let actor = Actor::operator("serve --demo");
    let calendar = hertfordshire_2026_27();
    let school_days: Vec<NaiveDate> = {
        let cal = SchoolCalendar::new(vec![calendar.clone()]);
        calendar
            .academic_year
            .first_day()
            .iter_days()
            .take_while(|d| *d <= today.min(calendar.academic_year.last_day()))
            .filter(|d| cal.is_school_day(*d))
            .collect()
    };
    db.write_now(|conn| {
        let now = crate::clock::Clock::system().now_naive();
        calendars::replace(conn, &calendar, now)?;
        let mut events = vec![actor.audit(
            now,
            "update",
            AuditSubject::new("calendar", calendar.academic_year.to_string()),
        )];
        for (school_index, (urn, name, laestab, phase)) in DEMO_SCHOOLS.into_iter().enumerate() {
            schools::upsert(conn, urn, name, laestab, phase, now)?;
            events.push(actor.audit(
                now,
                "update",
                AuditSubject::new("school", urn.to_string()).school(urn),
            ));
            let roll = pupil_store::roll_of(conn, urn)?;
            let (mut new_pupils, mut new_enrolments, mut new_marks) =
                (Vec::new(), Vec::new(), Vec::new());
            for n in 1..=24 {
                let upn = demo_upn(school_index, n);
                if roll.contains_key(&upn) {
                    continue;
                }
                let born = NaiveDate::from_ymd_opt(
                    if phase == "primary" { 2016 } else { 2012 },
                    1 + (n as u32 % 12),
                    1 + n as u32,
                )
                .unwrap_or(today);
                new_pupils.push(PupilRow {
                    upn: upn.clone(),
                    legal_forename: FORENAMES[n % FORENAMES.len()].to_string(),
                    legal_surname: SURNAMES[n % SURNAMES.len()].to_string(),
                    date_of_birth: born,
                    postcode: Some(format!("SG{} {}AB", 1 + n % 9, n % 10)),
                    home_la_code: Some(919),
                    ehcp: n % 11 == 0,
                    sen_support: n % 5 == 0,
                    pupil_premium: n % 4 == 0,
                    created_at: now,
                    updated_at: now,
                });
                new_enrolments.push(EnrolmentRow {
                    school_urn: urn,
                    upn: upn.clone(),
                    on_roll_from: NaiveDate::from_ymd_opt(2026, 9, 3).unwrap_or(today),
                    on_roll_until: None,
                    updated_at: now,
                });
                for (index, day) in school_days.iter().enumerate() {
                    for (session, pm) in [("AM", false), ("PM", true)] {
                        let (code, minutes_late) = demo_code(n, *day, pm, index);
                        new_marks.push(IncomingMark {
                            upn: upn.clone(),
                            mark_date: *day,
                            session: session.to_string(),
                            code: code.to_string(),
                            minutes_late,
                        });
                    }
                }
            }
            if new_pupils.is_empty() {
                continue;
            }
            pupil_store::insert_pupils(conn, &new_pupils)?;
            pupil_store::insert_enrolments(conn, &new_enrolments)?;
            let import_id = imports::open(conn, "register", urn, &actor.client_id, now, None)?;
            let written = write_marks(
                conn,
                urn,
                &new_marks,
                import_id,
                now,
                today,
                &AttendancePolicy::default(),
            )?;
            let tally = Tally {
                received: new_marks.len(),
                inserted: written.inserted,
                updated: written.updated,
                unchanged: 0,
            };
            conclude(
                conn,
                &actor,
                now,
                "register",
                import_id,
                urn,
                PushMode::Partial,
                false,
                tally,
                Rejections::new(None),
            )?;
            events.push(actor.audit(
                now,
                "import",
                AuditSubject::new("register_import", import_id.to_string()).school(urn),
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
