//! Roll sync (API.md "Pupils"): a school's MIS upserts the pupils on its roll. Pupils not in a
//! push are left as they are; a leaver is sent with `on_roll_until`. Every pupil is checked in
//! memory ([`check_roll`]) and the accepted ones written in one transaction, through
//! [`push::take`].

use super::imports::{Idempotency, PushMode, PushOutcome, Rejections};
use super::push::{self, Push, PushContext, PushRows, Stored};
use super::{Actor, AppState};
use crate::domain::push::PushKind;
pub use crate::domain::roll::PupilIn;
use crate::domain::roll::{check_roll, CheckedRoll};
use crate::error::ApiError;
use crate::store::pupils::{self, EnrolmentRow, PupilRow};
use crate::store::DbConnection;

pub struct RollPush {
    pub pupils: Vec<PupilIn>,
    pub mode: PushMode,
    pub idempotency: Option<Idempotency>,
}

pub async fn push(
    state: &AppState,
    actor: &Actor,
    urn: i32,
    push: RollPush,
) -> Result<PushOutcome, ApiError> {
    let rows = RollRows(push.pupils);
    let push = Push {
        urn: Some(urn),
        mode: push.mode,
        idempotency: push.idempotency,
    };
    push::take(state, actor, push, rows).await
}

/// A roll push's rows.
struct RollRows(Vec<PupilIn>);

impl PushRows for RollRows {
    const KIND: PushKind = PushKind::Roll;
    type Checked = CheckedRoll;

    fn received(&self) -> usize {
        self.0.len()
    }

    fn pointer_prefix(&self) -> Option<&'static str> {
        Some("/pupils")
    }

    fn check(
        self,
        _conn: &mut DbConnection,
        push: &PushContext,
        rejections: &mut Rejections,
    ) -> Result<CheckedRoll, ApiError> {
        Ok(check_roll(&self.0, push.today, rejections))
    }

    /// Adds the pupils the service does not know yet, and this school's record of each pupil:
    /// only this school's, since another school's MIS may say otherwise.
    fn write(
        checked: &mut CheckedRoll,
        conn: &mut DbConnection,
        push: &PushContext,
        _import_id: i64,
    ) -> Result<Stored, ApiError> {
        let (urn, now) = (push.school_urn()?, push.now);
        let mut stored = Stored {
            unchanged: checked.identical_repeats,
            ..Stored::default()
        };
        let upns: Vec<&str> = checked
            .pupils
            .iter()
            .map(|a| a.pupil.upn.as_str())
            .collect();
        let known = pupils::known(conn, &upns)?;
        let roll = pupils::roll_of(conn, urn)?;
        let (mut new_pupils, mut new_enrolments) = (Vec::new(), Vec::new());
        for a in &checked.pupils {
            let p = &a.pupil;
            if !known.contains(&p.upn) {
                new_pupils.push(PupilRow {
                    upn: p.upn.clone(),
                    created_at: now,
                    updated_at: now,
                });
            }
            let enrolment = EnrolmentRow {
                school_urn: urn,
                upn: p.upn.clone(),
                on_roll_from: p.on_roll_from,
                on_roll_until: p.on_roll_until,
                updated_at: now,
                legal_forename: p.legal_forename.clone(),
                legal_surname: p.legal_surname.clone(),
                date_of_birth: p.date_of_birth,
                postcode: p.postcode.clone(),
                home_la_code: p.home_la_code,
                ehcp: a.ehcp,
                sen_support: a.sen_support,
                pupil_premium: a.pupil_premium,
            };
            match roll.get(&p.upn) {
                None => {
                    new_enrolments.push(enrolment);
                    stored.inserted += 1;
                }
                Some(old) if old.same_as(&enrolment) => stored.unchanged += 1,
                Some(_) => {
                    pupils::update_enrolment(conn, &enrolment)?;
                    stored.updated += 1;
                }
            }
        }
        pupils::insert_pupils(conn, &new_pupils)?;
        pupils::insert_enrolments(conn, &new_enrolments)?;
        Ok(stored)
    }

    fn unchanged_when_refused(checked: &CheckedRoll) -> usize {
        checked.identical_repeats
    }
}
