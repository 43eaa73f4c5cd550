//! ESMA lessons (API.md "Support delivery"; RULES.md R14.3-R14.5): the lesson push, run through
//! [`push::take`] like a register push, and a case's lessons read back.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::alerts;
use super::imports::{Idempotency, PushMode, PushOutcome, Rejections};
use super::push::{self, Push, PushContext, PushRows, Stored};
use super::{Actor, AppState};
use crate::domain::access::Role;
use crate::domain::calendar::SchoolCalendar;
use crate::domain::case::CaseId;
use crate::domain::lessons::{check_lessons, Lesson, LessonCase, LessonIn, NumberIn};
use crate::domain::policy::Policy;
use crate::domain::push::PushKind;
use crate::error::ApiError;
use crate::store::lessons::{self, Written};
use crate::store::{calendars, cases, changes, DbConnection};

pub struct LessonPush {
    pub lessons: Vec<LessonIn>,
    /// `Some("/lessons")` for JSON pushes, so errors carry JSON Pointers.
    pub pointer_prefix: Option<&'static str>,
    pub mode: PushMode,
    pub idempotency: Option<Idempotency>,
}

/// `POST /api/v1/lessons`.
pub async fn push(
    state: &AppState,
    actor: &Actor,
    push: LessonPush,
) -> Result<PushOutcome, ApiError> {
    let rows = LessonRows {
        lessons: push.lessons,
        pointer_prefix: push.pointer_prefix,
        policy: state.policy.clone(),
    };
    let push = Push {
        urn: None,
        mode: push.mode,
        idempotency: push.idempotency,
    };
    push::take(state, actor, push, rows).await
}

/// A lesson push's rows.
struct LessonRows {
    lessons: Vec<LessonIn>,
    pointer_prefix: Option<&'static str>,
    /// The R14.5 threshold the cases' alerts are reconciled with.
    policy: Arc<Policy>,
}

/// The lessons a push may write.
pub struct CheckedLessons {
    lessons: Vec<Lesson>,
    identical_repeats: usize,
    policy: Arc<Policy>,
}

/// The cases of the lessons that differ from what was stored.
fn stored_changes<'a>(
    lessons: &'a [Lesson],
    stored: &'a HashMap<crate::domain::lessons::LessonKey, (i64, Lesson)>,
) -> impl Iterator<Item = CaseId> + 'a {
    lessons
        .iter()
        .filter(move |l| stored.get(&l.key()).is_some_and(|(_, was)| was != *l))
        .map(|l| l.case_id)
}

impl PushRows for LessonRows {
    const KIND: PushKind = PushKind::Lessons;
    type Checked = CheckedLessons;

    /// ESMA's own record, across schools: the LA's alone (a school is 403).
    fn authorise(actor: &Actor, _urn: Option<i32>) -> Result<(), ApiError> {
        actor.require(&[Role::La])
    }

    fn received(&self) -> usize {
        self.lessons.len()
    }

    fn pointer_prefix(&self) -> Option<&'static str> {
        self.pointer_prefix
    }

    fn check(
        self,
        conn: &mut DbConnection,
        push: &PushContext,
        rejections: &mut Rejections,
    ) -> Result<CheckedLessons, ApiError> {
        let ids: BTreeSet<CaseId> = self
            .lessons
            .iter()
            .filter_map(|l| match l.case_id {
                NumberIn::Value(id) => Some(CaseId::from(id)),
                _ => None,
            })
            .collect();
        let ids: Vec<CaseId> = ids.into_iter().collect();
        let mut found = HashMap::new();
        for chunk in ids.chunks(500) {
            for case in cases::of_ids(conn, chunk)? {
                found.insert(case.id, LessonCase::from(&case));
            }
        }
        let calendar = SchoolCalendar::new(calendars::all(conn)?);
        let checked = check_lessons(
            &self.lessons,
            |id| found.get(&id).copied(),
            &calendar,
            push.today,
            rejections,
        );
        Ok(CheckedLessons {
            lessons: checked.lessons,
            identical_repeats: checked.identical_repeats,
            policy: self.policy,
        })
    }

    /// New lessons inserted, changed ones updated, the same left alone (a re-push writes
    /// nothing); compared with what is stored inside the write, so two pushes cannot race.
    fn write(
        checked: &mut CheckedLessons,
        conn: &mut DbConnection,
        push: &PushContext,
        import_id: i64,
    ) -> Result<Stored, ApiError> {
        let ids: BTreeSet<CaseId> = checked.lessons.iter().map(|l| l.case_id).collect();
        let ids: Vec<CaseId> = ids.into_iter().collect();
        let stored: HashMap<_, _> = lessons::of_cases(conn, &ids)?
            .into_iter()
            .map(|(id, lesson)| (lesson.key(), (id, lesson)))
            .collect();
        let written = Written {
            import_id,
            at: push.now,
        };
        let mut new = Vec::new();
        let (mut updated, mut unchanged) = (0, checked.identical_repeats);
        for lesson in &checked.lessons {
            match stored.get(&lesson.key()) {
                None => new.push(lesson),
                Some((_, was)) if was == lesson => unchanged += 1,
                Some((id, _)) => {
                    lessons::update(conn, *id, lesson, written)?;
                    updated += 1;
                }
            }
        }
        let inserted = lessons::insert(conn, &new, written)?;
        // R14.5: the alerts of the cases whose lessons changed, raised or resolved with the
        // lessons, and shown on the change feed (like a register push's).
        if inserted + updated > 0 {
            let touched: BTreeSet<CaseId> = new
                .iter()
                .map(|l| l.case_id)
                .chain(stored_changes(&checked.lessons, &stored))
                .collect();
            let touched: Vec<CaseId> = touched.into_iter().collect();
            // All the touched cases together: a term's push touches a caseload.
            let changed = alerts::reconcile_cases_of(conn, &checked.policy, push.today, &touched)?;
            changes::record_at(conn, push.now, &changed)?;
        }
        Ok(Stored {
            inserted,
            updated,
            unchanged,
        })
    }
}
