//! ESMA lessons (`lessons`; RULES.md R14.3). The rules are in `domain/lessons.rs`; the rows are
//! read into the domain's [`Lesson`] here. Every read is led by the case, the key's first column.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::lessons;
use super::{DbConnection, StoreResult};
use crate::domain::case::CaseId;
use crate::domain::lessons::{Lesson, LessonAttendance, LessonFilter, LessonMode, Subject};

/// A `lessons` row as stored, without the bookkeeping columns.
#[derive(Queryable)]
struct StoredLesson {
    id: i64,
    case_id: i64,
    lesson_date: NaiveDate,
    start_time: String,
    subject: String,
    mode: String,
    planned_minutes: i32,
    attendance: String,
    minutes_late: Option<i32>,
    engagement: Option<i32>,
    teacher: Option<String>,
    note: Option<String>,
}

type Columns = (
    lessons::id,
    lessons::case_id,
    lessons::lesson_date,
    lessons::start_time,
    lessons::subject,
    lessons::mode,
    lessons::planned_minutes,
    lessons::attendance,
    lessons::minutes_late,
    lessons::engagement,
    lessons::teacher,
    lessons::note,
);

const COLUMNS: Columns = (
    lessons::id,
    lessons::case_id,
    lessons::lesson_date,
    lessons::start_time,
    lessons::subject,
    lessons::mode,
    lessons::planned_minutes,
    lessons::attendance,
    lessons::minutes_late,
    lessons::engagement,
    lessons::teacher,
    lessons::note,
);

fn unreadable(id: i64, what: &str, text: &str) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(
        format!("lesson {id}: unknown {what} '{text}' stored").into(),
    )
}

impl StoredLesson {
    fn into_lesson(self) -> QueryResult<(i64, Lesson)> {
        let id = self.id;
        let subject = Subject::parse(&self.subject)
            .ok_or_else(|| unreadable(id, "subject", &self.subject))?;
        let mode =
            LessonMode::parse(&self.mode).ok_or_else(|| unreadable(id, "mode", &self.mode))?;
        let attendance = LessonAttendance::parse(&self.attendance)
            .ok_or_else(|| unreadable(id, "attendance", &self.attendance))?;
        Ok((
            id,
            Lesson {
                case_id: CaseId::from(self.case_id),
                date: self.lesson_date,
                start_time: self.start_time,
                subject,
                mode,
                planned_minutes: self.planned_minutes,
                attendance,
                minutes_late: self.minutes_late,
                engagement: self.engagement,
                teacher: self.teacher,
                note: self.note,
            },
        ))
    }
}

fn read(rows: Vec<StoredLesson>) -> StoreResult<Vec<(i64, Lesson)>> {
    Ok(rows
        .into_iter()
        .map(StoredLesson::into_lesson)
        .collect::<QueryResult<_>>()?)
}

/// The stored lessons of some cases, with their row ids.
pub fn of_cases(conn: &mut DbConnection, ids: &[CaseId]) -> StoreResult<Vec<(i64, Lesson)>> {
    let mut found = Vec::new();
    for chunk in ids.chunks(500) {
        let raw: Vec<i64> = chunk.iter().map(|&id| id.into()).collect();
        let rows: Vec<StoredLesson> = lessons::table
            .filter(lessons::case_id.eq_any(raw))
            .select(COLUMNS)
            .load(conn)?;
        found.extend(read(rows)?);
    }
    Ok(found)
}

/// Every lesson of a case (R14.4, R14.5), in date and start-time order.
pub fn of_case(conn: &mut DbConnection, id: CaseId) -> StoreResult<Vec<Lesson>> {
    let rows: Vec<StoredLesson> = lessons::table
        .filter(lessons::case_id.eq(i64::from(id)))
        .order((lessons::lesson_date, lessons::start_time))
        .select(COLUMNS)
        .load(conn)?;
    Ok(read(rows)?.into_iter().map(|(_, l)| l).collect())
}

/// A page of a case's lessons, in id order (the order they were first pushed), with their ids.
pub fn page(
    conn: &mut DbConnection,
    id: CaseId,
    filter: &LessonFilter,
    limit: i64,
) -> StoreResult<Vec<(i64, Lesson)>> {
    let mut query = lessons::table
        .filter(lessons::case_id.eq(i64::from(id)))
        .select(COLUMNS)
        .into_boxed();
    if let Some(from) = filter.from {
        query = query.filter(lessons::lesson_date.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(lessons::lesson_date.le(to));
    }
    if let Some(subject) = filter.subject {
        query = query.filter(lessons::subject.eq(subject.as_str()));
    }
    if let Some(after) = filter.after_id {
        query = query.filter(lessons::id.gt(after));
    }
    let rows: Vec<StoredLesson> = query.order(lessons::id).limit(limit).load(conn)?;
    read(rows)
}

/// Where a pushed lesson came from and when.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    pub import_id: i64,
    pub at: NaiveDateTime,
}

/// Stores new lessons.
pub fn insert(conn: &mut DbConnection, new: &[&Lesson], written: Written) -> StoreResult<usize> {
    let mut inserted = 0;
    for chunk in new.chunks(500) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|l| {
                (
                    lessons::case_id.eq(i64::from(l.case_id)),
                    lessons::lesson_date.eq(l.date),
                    lessons::start_time.eq(l.start_time.as_str()),
                    lessons::subject.eq(l.subject.as_str()),
                    lessons::mode.eq(l.mode.as_str()),
                    lessons::planned_minutes.eq(l.planned_minutes),
                    lessons::attendance.eq(l.attendance.as_str()),
                    lessons::minutes_late.eq(l.minutes_late),
                    lessons::engagement.eq(l.engagement),
                    lessons::teacher.eq(l.teacher.as_deref()),
                    lessons::note.eq(l.note.as_deref()),
                    lessons::import_id.eq(written.import_id),
                    lessons::recorded_at.eq(written.at),
                )
            })
            .collect();
        // Multi-row inserts are per backend (the MultiConnection has no batch insert).
        inserted += match conn {
            DbConnection::Postgresql(c) => diesel::insert_into(lessons::table)
                .values(rows)
                .execute(c)?,
            DbConnection::Sqlite(c) => diesel::insert_into(lessons::table)
                .values(rows)
                .execute(c)?,
        };
    }
    Ok(inserted)
}

/// Replaces what stored lesson `id` says (its key stays).
pub fn update(
    conn: &mut DbConnection,
    id: i64,
    lesson: &Lesson,
    written: Written,
) -> StoreResult<()> {
    diesel::update(lessons::table.find(id))
        .set((
            lessons::mode.eq(lesson.mode.as_str()),
            lessons::planned_minutes.eq(lesson.planned_minutes),
            lessons::attendance.eq(lesson.attendance.as_str()),
            lessons::minutes_late.eq(lesson.minutes_late),
            lessons::engagement.eq(lesson.engagement),
            lessons::teacher.eq(lesson.teacher.as_deref()),
            lessons::note.eq(lesson.note.as_deref()),
            lessons::import_id.eq(written.import_id),
            lessons::recorded_at.eq(written.at),
        ))
        .execute(conn)?;
    Ok(())
}
