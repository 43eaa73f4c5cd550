//! Roll sync (API.md "Pupils"): a school's MIS upserts the pupils on its roll. Pupils not in a
//! push are left as they are; a leaver is sent with `on_roll_until`.

use std::collections::HashMap;

use super::imports::{
    conclude, find_replay, open_import, settle_key_race, Idempotency, PushMode, PushOutcome,
    Rejections, Tally,
};
use super::{Actor, AppState};
use crate::domain::access::Role;
use crate::domain::register::RowProblem;
use crate::domain::roll::{check_pupil, CheckedPupil, PupilRow as RawPupil};
use crate::error::ApiError;
use crate::store::pupils::{self, EnrolmentRow, PupilRow};
use crate::store::schools;

/// A pupil as received, before any check.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PupilIn {
    pub upn: String,
    pub legal_forename: String,
    pub legal_surname: String,
    pub date_of_birth: String,
    #[serde(default)]
    pub postcode: Option<String>,
    #[serde(default)]
    pub home_la_code: Option<i64>,
    #[serde(default)]
    pub ehcp: bool,
    #[serde(default)]
    pub sen_support: bool,
    #[serde(default)]
    pub pupil_premium: bool,
    pub on_roll_from: String,
    #[serde(default)]
    pub on_roll_until: Option<String>,
}

pub struct RollPush {
    pub pupils: Vec<PupilIn>,
    pub mode: PushMode,
    pub idempotency: Option<Idempotency>,
}

struct Accepted {
    index: usize,
    pupil: CheckedPupil,
    ehcp: bool,
    sen_support: bool,
    pupil_premium: bool,
}

impl Accepted {
    fn same(&self, other: &Accepted) -> bool {
        self.pupil == other.pupil
            && (self.ehcp, self.sen_support, self.pupil_premium)
                == (other.ehcp, other.sen_support, other.pupil_premium)
    }
}

pub async fn push(
    state: &AppState,
    actor: &Actor,
    urn: i32,
    push: RollPush,
) -> Result<PushOutcome, ApiError> {
    actor.require(&[Role::School])?;
    actor.may_write_school(urn)?;
    if let Some(replayed) = find_replay(state, actor, &push.idempotency).await? {
        return replayed.into_result();
    }
    let today = state.clock.today();
    let now = state.clock.now_naive();
    let writer = actor.clone();
    let idempotency = push.idempotency.clone();
    let outcome = state
        .db
        .write(move |conn| {
            let actor = writer;
            schools::find(conn, urn)?.ok_or_else(|| ApiError::not_found(format!("no school with URN {urn}; the LA registers schools first")))?;
            let received = push.pupils.len();
            let mut rejections = Rejections::new(Some("/pupils"));
            let mut accepted: Vec<Accepted> = Vec::with_capacity(received);
            let mut position: HashMap<String, usize> = HashMap::new();
            let mut conflicted: HashMap<String, Vec<usize>> = HashMap::new();
            let mut identical_repeats = 0usize;
            for (index, p) in push.pupils.iter().enumerate() {
                let raw = RawPupil {
                    upn: &p.upn,
                    legal_forename: &p.legal_forename,
                    legal_surname: &p.legal_surname,
                    date_of_birth: &p.date_of_birth,
                    postcode: p.postcode.as_deref(),
                    home_la_code: p.home_la_code,
                    on_roll_from: &p.on_roll_from,
                    on_roll_until: p.on_roll_until.as_deref(),
                };
                let checked = match check_pupil(&raw, today) {
                    Ok(c) => c,
                    Err(problem) => {
                        rejections.reject(index, Some(&p.upn), problem);
                        continue;
                    }
                };
                let candidate = Accepted { index, pupil: checked, ehcp: p.ehcp, sen_support: p.sen_support, pupil_premium: p.pupil_premium };
                let upn = candidate.pupil.upn.clone();
                if let Some(rows) = conflicted.get_mut(&upn) {
                    rows.push(index);
                    continue;
                }
                match position.get(&upn) {
                    None => {
                        position.insert(upn, accepted.len());
                        accepted.push(candidate);
                    }
                    Some(&at) if accepted[at].same(&candidate) => identical_repeats += 1,
                    Some(&at) => {
                        conflicted.insert(upn, vec![accepted[at].index, index]);
                    }
                }
            }
            let mut refused: Vec<(usize, String)> =
                conflicted.iter().flat_map(|(upn, rows)| rows.iter().map(move |r| (*r, upn.clone()))).collect();
            refused.sort();
            for (row, upn) in refused {
                rejections.reject(row, Some(&upn), RowProblem::new("upn", "duplicate_in_push", format!(
                    "{upn} appears more than once in this push with different details; send it once")));
            }
            accepted.retain(|a| !conflicted.contains_key(&a.pupil.upn));

            let import_id = open_import(conn, "roll", urn, &actor.client_id, now, push.idempotency.as_ref())?;
            let refuse_all = push.mode == PushMode::AllOrNothing && rejections.count > 0;
            let (mut inserted, mut updated, mut unchanged) = (0usize, 0usize, identical_repeats);
            if !refuse_all {
                let upns: Vec<&str> = accepted.iter().map(|a| a.pupil.upn.as_str()).collect();
                let known = pupils::known(conn, &upns)?;
                let roll = pupils::roll_of(conn, urn)?;
                let (mut new_pupils, mut new_enrolments) = (Vec::new(), Vec::new());
                for a in &accepted {
                    let p = &a.pupil;
                    if !known.contains(&p.upn) {
                        new_pupils.push(PupilRow { upn: p.upn.clone(), created_at: now, updated_at: now });
                    }
                    // Only this school's record of the pupil: another school's MIS may say otherwise
                    // (issue 20: one school's push overwrote another's pupil).
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
                            inserted += 1;
                        }
                        Some(old) if old.same_as(&enrolment) => unchanged += 1,
                        Some(_) => {
                            pupils::update_enrolment(conn, &enrolment)?;
                            updated += 1;
                        }
                    }
                }
                pupils::insert_pupils(conn, &new_pupils)?;
                pupils::insert_enrolments(conn, &new_enrolments)?;
            }
            let tally = Tally { received, inserted, updated, unchanged };
            conclude(conn, &actor, now, "roll", import_id, urn, push.mode, refuse_all, tally, rejections)
        })
        .await;
    settle_key_race(state, actor, &idempotency, outcome)
        .await?
        .into_result()
}
