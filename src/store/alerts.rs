//! Statutory alerts as raised and resolved (`alerts`; the rules are in `domain/alerts.rs`, their
//! upkeep in `service/alerts.rs`). The kind is stored as its name and the state as whether
//! `resolved_on` is set; both are typed everywhere above this module.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromStaticSqlRow, Queryable};
use diesel::prelude::*;

use super::schema::alerts;
use super::{DbConnection, StoreResult};
use crate::domain::alerts::{Acknowledgement, Alert, AlertKey, AlertKind, AlertState};

/// A kind read back from its stored name.
impl TryFrom<String> for AlertKind {
    type Error = String;

    fn try_from(name: String) -> Result<AlertKind, String> {
        AlertKind::parse(&name).ok_or_else(|| format!("unknown alert kind '{name}'"))
    }
}

fn names(kinds: &[AlertKind]) -> Vec<&'static str> {
    kinds.iter().map(|k| k.as_str()).collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    pub kind: AlertKind,
    pub school_urn: i32,
    pub upn: String,
    pub academic_year: i32,
    pub subject: String,
    pub since: NaiveDate,
    pub raised_on: NaiveDate,
}

/// The columns of `alerts`, in table order, as read into an [`Alert`].
type AlertColumns = (
    i64,
    String,
    i32,
    String,
    i32,
    String,
    NaiveDate,
    NaiveDate,
    Option<NaiveDate>,
    Option<String>,
    Option<NaiveDateTime>,
    Option<String>,
    Option<String>,
    Option<NaiveDate>,
);

impl<ST, DB> Queryable<ST, DB> for Alert
where
    DB: Backend,
    AlertColumns: FromStaticSqlRow<ST, DB>,
{
    type Row = AlertColumns;

    fn build(
        (
            id,
            kind,
            school_urn,
            upn,
            academic_year,
            subject,
            since,
            raised_on,
            resolved_on,
            resolution,
            acknowledged_at,
            acknowledged_by,
            acknowledgement_note,
            _announced_on,
        ): AlertColumns,
    ) -> deserialize::Result<Self> {
        let acknowledgement = match (acknowledged_at, acknowledged_by) {
            (Some(at), Some(by)) => Some(Acknowledgement {
                by,
                at,
                note: acknowledgement_note.unwrap_or_default(),
            }),
            _ => None,
        };
        Ok(Alert {
            id,
            kind: AlertKind::try_from(kind)?,
            school_urn,
            upn,
            academic_year,
            subject,
            since,
            raised_on,
            resolved_on,
            resolution,
            acknowledgement,
        })
    }
}

/// An alert a write raised or changed, for the change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable)]
pub struct ChangedAlert {
    pub id: i64,
    pub school_urn: i32,
}

/// Raises alerts; one already open for the same kind, school, pupil and subject stays as it is
/// (the partial unique index `alerts_open_subject`), so an alert is never raised twice. Returns
/// the alerts actually raised.
pub fn raise(conn: &mut DbConnection, new: &[NewAlert]) -> StoreResult<Vec<ChangedAlert>> {
    let mut raised = Vec::new();
    for chunk in new.chunks(500) {
        match conn {
            DbConnection::Postgresql(c) => {
                raised.extend(PgRaiseAlerts::of(chunk).get_results::<ChangedAlert>(c)?)
            }
            DbConnection::Sqlite(c) => {
                for row in chunk {
                    // An ignored row returns nothing.
                    raised.extend(
                        diesel::insert_or_ignore_into(alerts::table)
                            .values((
                                alerts::kind.eq(row.kind.as_str()),
                                alerts::school_urn.eq(row.school_urn),
                                alerts::upn.eq(&row.upn),
                                alerts::academic_year.eq(row.academic_year),
                                alerts::subject.eq(&row.subject),
                                alerts::since.eq(row.since),
                                alerts::raised_on.eq(row.raised_on),
                            ))
                            .returning((alerts::id, alerts::school_urn))
                            .get_result::<ChangedAlert>(c)
                            .optional()?,
                    );
                }
            }
        }
    }
    Ok(raised)
}

/// On PostgreSQL, the alerts to raise as arrays in one prepared statement, the same whatever
/// their number (a multi-row `VALUES` is a new statement to parse and plan for every count).
struct PgRaiseAlerts<'a> {
    kind: Vec<&'a str>,
    school_urn: Vec<i32>,
    upn: Vec<&'a str>,
    academic_year: Vec<i32>,
    subject: Vec<&'a str>,
    since: Vec<NaiveDate>,
    raised_on: Vec<NaiveDate>,
}

impl<'a> PgRaiseAlerts<'a> {
    fn of(new: &'a [NewAlert]) -> PgRaiseAlerts<'a> {
        PgRaiseAlerts {
            kind: new.iter().map(|a| a.kind.as_str()).collect(),
            school_urn: new.iter().map(|a| a.school_urn).collect(),
            upn: new.iter().map(|a| a.upn.as_str()).collect(),
            academic_year: new.iter().map(|a| a.academic_year).collect(),
            subject: new.iter().map(|a| a.subject.as_str()).collect(),
            since: new.iter().map(|a| a.since).collect(),
            raised_on: new.iter().map(|a| a.raised_on).collect(),
        }
    }
}

impl diesel::query_builder::QueryId for PgRaiseAlerts<'_> {
    type QueryId = PgRaiseAlerts<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for PgRaiseAlerts<'_> {
    type SqlType = (diesel::sql_types::BigInt, diesel::sql_types::Integer);
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for PgRaiseAlerts<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Array, Date, Integer, Text};
        out.push_sql(
            "INSERT INTO alerts (kind, school_urn, upn, academic_year, subject, since, raised_on) \
             SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.kind)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Integer>, _>(&self.school_urn)?;
        out.push_sql("::integer[], ");
        out.push_bind_param::<Array<Text>, _>(&self.upn)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Integer>, _>(&self.academic_year)?;
        out.push_sql("::integer[], ");
        out.push_bind_param::<Array<Text>, _>(&self.subject)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Date>, _>(&self.since)?;
        out.push_sql("::date[], ");
        out.push_bind_param::<Array<Date>, _>(&self.raised_on)?;
        out.push_sql("::date[]) ON CONFLICT DO NOTHING RETURNING id, school_urn");
        Ok(())
    }
}

impl RunQueryDsl<diesel::PgConnection> for PgRaiseAlerts<'_> {}

/// Resolves an open alert on `today`, saying why; returns its id (None: none was open).
pub fn resolve(
    conn: &mut DbConnection,
    key: &AlertKey,
    today: NaiveDate,
    resolution: &str,
) -> StoreResult<Option<i64>> {
    if let DbConnection::Sqlite(lite) = conn {
        let update = SqliteOpenAlertUpdate {
            key,
            kind: key.kind.as_str(),
            set: OpenAlertChange::Resolve { today, resolution },
        };
        return Ok(update.get_result(lite).optional()?);
    }
    Ok(diesel::update(
        alerts::table
            .filter(alerts::kind.eq(key.kind.as_str()))
            .filter(alerts::school_urn.eq(key.school_urn))
            .filter(alerts::upn.eq(&key.upn))
            .filter(alerts::subject.eq(&key.subject))
            .filter(alerts::resolved_on.is_null()),
    )
    .set((
        alerts::resolved_on.eq(Some(today)),
        alerts::resolution.eq(Some(resolution)),
    ))
    .returning(alerts::id)
    .get_result(conn)
    .optional()?)
}

/// Resolves open alerts on `today`, each with its reason, as [`resolve`] does one by one; returns
/// the ids resolved (with their schools), in the order given. On PostgreSQL one prepared
/// statement for all of them: one `UPDATE` per alert was planned afresh every time (a custom plan
/// for the partial index), about as much of the database's time as the update itself.
pub fn resolve_all(
    conn: &mut DbConnection,
    alerts: &[(AlertKey, String)],
    today: NaiveDate,
) -> StoreResult<Vec<ChangedAlert>> {
    let mut resolved = Vec::new();
    match conn {
        DbConnection::Postgresql(pg) if !alerts.is_empty() => {
            for chunk in alerts.chunks(1000) {
                let mut rows: Vec<(i64, i32, i64)> = PgResolveAlerts::of(chunk, today).load(pg)?;
                rows.sort_by_key(|&(_, _, position)| position);
                resolved.extend(
                    rows.into_iter()
                        .map(|(id, school_urn, _)| ChangedAlert { id, school_urn }),
                );
            }
        }
        _ => {
            for (key, resolution) in alerts {
                if let Some(id) = resolve(conn, key, today, resolution)? {
                    resolved.push(ChangedAlert {
                        id,
                        school_urn: key.school_urn,
                    });
                }
            }
        }
    }
    Ok(resolved)
}

/// The open alerts to resolve as arrays, numbered so the results come back in the given order.
struct PgResolveAlerts<'a> {
    today: NaiveDate,
    kind: Vec<&'a str>,
    school_urn: Vec<i32>,
    upn: Vec<&'a str>,
    subject: Vec<&'a str>,
    resolution: Vec<&'a str>,
}

impl<'a> PgResolveAlerts<'a> {
    fn of(alerts: &'a [(AlertKey, String)], today: NaiveDate) -> PgResolveAlerts<'a> {
        PgResolveAlerts {
            today,
            kind: alerts.iter().map(|(k, _)| k.kind.as_str()).collect(),
            school_urn: alerts.iter().map(|(k, _)| k.school_urn).collect(),
            upn: alerts.iter().map(|(k, _)| k.upn.as_str()).collect(),
            subject: alerts.iter().map(|(k, _)| k.subject.as_str()).collect(),
            resolution: alerts.iter().map(|(_, r)| r.as_str()).collect(),
        }
    }
}

impl diesel::query_builder::QueryId for PgResolveAlerts<'_> {
    type QueryId = PgResolveAlerts<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for PgResolveAlerts<'_> {
    type SqlType = (
        diesel::sql_types::BigInt,
        diesel::sql_types::Integer,
        diesel::sql_types::BigInt,
    );
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for PgResolveAlerts<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Array, Date, Integer, Text};
        out.push_sql("UPDATE alerts AS a SET resolved_on = ");
        out.push_bind_param::<Date, _>(&self.today)?;
        out.push_sql(", resolution = u.resolution FROM unnest(");
        out.push_bind_param::<Array<Text>, _>(&self.kind)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Integer>, _>(&self.school_urn)?;
        out.push_sql("::integer[], ");
        out.push_bind_param::<Array<Text>, _>(&self.upn)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.subject)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.resolution)?;
        out.push_sql(
            "::text[]) WITH ORDINALITY AS u(kind, school_urn, upn, subject, resolution, n) \
             WHERE a.kind = u.kind AND a.school_urn = u.school_urn AND a.upn = u.upn \
               AND a.subject = u.subject AND a.resolved_on IS NULL \
             RETURNING a.id, a.school_urn, u.n",
        );
        Ok(())
    }
}

impl RunQueryDsl<diesel::PgConnection> for PgResolveAlerts<'_> {}

/// Moves the `since` of an open alert (a corrected mark moved the day a threshold was reached);
/// returns its id (None: none was open).
pub fn move_since(
    conn: &mut DbConnection,
    key: &AlertKey,
    since: NaiveDate,
) -> StoreResult<Option<i64>> {
    if let DbConnection::Sqlite(lite) = conn {
        let update = SqliteOpenAlertUpdate {
            key,
            kind: key.kind.as_str(),
            set: OpenAlertChange::MoveSince(since),
        };
        return Ok(update.get_result(lite).optional()?);
    }
    Ok(diesel::update(
        alerts::table
            .filter(alerts::kind.eq(key.kind.as_str()))
            .filter(alerts::school_urn.eq(key.school_urn))
            .filter(alerts::upn.eq(&key.upn))
            .filter(alerts::subject.eq(&key.subject))
            .filter(alerts::resolved_on.is_null()),
    )
    .set(alerts::since.eq(since))
    .returning(alerts::id)
    .get_result(conn)
    .optional()?)
}

/// The open alerts of these kinds at a school (for `esma-api recompute` to reconcile).
pub fn open_of_school(
    conn: &mut DbConnection,
    school_urn: i32,
    kinds: &[AlertKind],
) -> StoreResult<Vec<Alert>> {
    Ok(alerts::table
        .filter(alerts::school_urn.eq(school_urn))
        .filter(alerts::kind.eq_any(names(kinds)))
        .filter(alerts::resolved_on.is_null())
        .order(alerts::id)
        .load(conn)?)
}

/// The open alerts of these kinds, everywhere.
///
/// A kind at a time: `kind = $1` is a range of an index by kind under any plan, while
/// PostgreSQL's generic plan of `kind = ANY($1)` (a prepared statement's plan from its sixth run)
/// assumes common kinds and walked the whole table in id order: at the year end 340,000 rows
/// for the few open case alerts, at every event scan and worklist read (issue 25).
pub fn open_of_kinds(conn: &mut DbConnection, kinds: &[AlertKind]) -> StoreResult<Vec<Alert>> {
    let mut open = Vec::new();
    for kind in kinds {
        open.extend(
            alerts::table
                .filter(alerts::kind.eq(kind.as_str()))
                .filter(alerts::resolved_on.is_null())
                .load::<Alert>(conn)?,
        );
    }
    open.sort_unstable_by_key(|a| a.id);
    Ok(open)
}

/// The open alerts of these kinds of some pupils, at any school.
///
/// Found by pupil alone (`alerts_pupil`), their kinds and state kept here: a pupil has a handful
/// of alerts, while a kind or the open ones number tens of thousands. With either in the query
/// the planners walked those instead, once per school push of R15.3: SQLite `alerts_kind`, and
/// PostgreSQL's generic plan the whole partial index of open alerts (docs/performance.md).
pub fn open_of_pupils(
    conn: &mut DbConnection,
    upns: &[&str],
    kinds: &[AlertKind],
) -> StoreResult<Vec<Alert>> {
    let mut open = Vec::new();
    for chunk in upns.chunks(500) {
        let rows: Vec<Alert> = alerts::table.filter(alerts::upn.eq_any(chunk)).load(conn)?;
        open.extend(
            rows.into_iter()
                .filter(|a| a.resolved_on.is_none() && kinds.contains(&a.kind)),
        );
    }
    open.sort_unstable_by_key(|a| a.id);
    Ok(open)
}

/// The open alerts of a pupil at a school.
pub fn open_of_pupil_at(
    conn: &mut DbConnection,
    school_urn: i32,
    upn: &str,
) -> StoreResult<Vec<Alert>> {
    // By pupil alone (`alerts_pupil`), the school filtered here: with the school in the query,
    // SQLite walked every alert of the school (`alerts_school`), at the year end most of a case
    // read's time (issue 25).
    let rows: Vec<Alert> = alerts::table
        .filter(alerts::upn.eq(upn))
        .filter(alerts::resolved_on.is_null())
        .order(alerts::id)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|a| a.school_urn == school_urn)
        .collect())
}

/// One alert by its id.
pub fn find(conn: &mut DbConnection, id: i64) -> StoreResult<Option<Alert>> {
    Ok(alerts::table
        .find(id)
        .select(alerts::all_columns)
        .first(conn)
        .optional()?)
}

/// Records an acknowledgement of an open alert not yet acknowledged (R16.3); returns whether it
/// was recorded (the first one stands).
pub fn acknowledge(
    conn: &mut DbConnection,
    id: i64,
    acknowledgement: &Acknowledgement,
) -> StoreResult<bool> {
    let updated = diesel::update(
        alerts::table
            .filter(alerts::id.eq(id))
            .filter(alerts::resolved_on.is_null())
            .filter(alerts::acknowledged_at.is_null()),
    )
    .set((
        alerts::acknowledged_at.eq(Some(acknowledgement.at)),
        alerts::acknowledged_by.eq(Some(&acknowledgement.by)),
        alerts::acknowledgement_note.eq(Some(&acknowledgement.note)),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// The alerts of one kind whose `since` lies in `from..=to`, still open, at these schools
/// (`None`: all), by school then `since` then pupil: a monthly return's rows (R16.2).
pub fn reached_between(
    conn: &mut DbConnection,
    kind: AlertKind,
    from: NaiveDate,
    to: NaiveDate,
    schools: Option<&[i32]>,
) -> StoreResult<Vec<Alert>> {
    let mut query = alerts::table
        .select(alerts::all_columns)
        .filter(alerts::kind.eq(kind.as_str()))
        .filter(alerts::since.ge(from))
        .filter(alerts::since.le(to))
        .filter(alerts::resolved_on.is_null())
        .order((alerts::school_urn, alerts::since, alerts::upn))
        .into_boxed();
    if let Some(schools) = schools {
        query = query.filter(alerts::school_urn.eq_any(schools.to_vec()));
    }
    Ok(query.load(conn)?)
}

/// Which alerts a list asks for.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub kinds: Option<Vec<AlertKind>>,
    /// `None`: every school (the LA); otherwise only these.
    pub schools: Option<Vec<i32>>,
    pub upn: Option<String>,
    /// Only those in this state; `None`: both.
    pub state: Option<AlertState>,
    /// Only those acknowledged (`true`) or not (`false`); `None`: both (R16.3).
    pub acknowledged: Option<bool>,
    pub since_from: Option<NaiveDate>,
    pub since_to: Option<NaiveDate>,
    /// An `N` mark dated on or after this day is not overdue yet (R5.1) and is not listed while
    /// it is open.
    pub unexplained_before: NaiveDate,
    /// Cursor: only alerts with a larger id.
    pub after_id: Option<i64>,
}

/// A page of alerts in the order they were raised.
pub fn page(
    conn: &mut DbConnection,
    filter: &AlertFilter,
    unexplained: AlertKind,
    limit: i64,
) -> StoreResult<Vec<Alert>> {
    let mut query = alerts::table
        .select(alerts::all_columns)
        .order(alerts::id)
        .into_boxed();
    // One kind or school as `=`, which walks its (kind, id) or (school_urn, id) index in the
    // page's order; `= ANY` would not (see `open_of_kinds`).
    match filter.kinds.as_deref() {
        Some([kind]) => query = query.filter(alerts::kind.eq(kind.as_str())),
        Some(kinds) => query = query.filter(alerts::kind.eq_any(names(kinds))),
        None => {}
    }
    match filter.schools.as_deref() {
        Some([school]) => query = query.filter(alerts::school_urn.eq(*school)),
        Some(schools) => query = query.filter(alerts::school_urn.eq_any(schools.to_vec())),
        None => {}
    }
    if let Some(upn) = &filter.upn {
        query = query.filter(alerts::upn.eq(upn.clone()));
    }
    match filter.state {
        Some(AlertState::Open) => query = query.filter(alerts::resolved_on.is_null()),
        Some(AlertState::Resolved) => query = query.filter(alerts::resolved_on.is_not_null()),
        None => {}
    }
    match filter.acknowledged {
        Some(true) => query = query.filter(alerts::acknowledged_at.is_not_null()),
        Some(false) => query = query.filter(alerts::acknowledged_at.is_null()),
        None => {}
    }
    // An open N alert is listed from the day it is overdue; a resolved one always.
    query = query.filter(
        alerts::kind
            .ne(unexplained.as_str())
            .or(alerts::resolved_on.is_not_null())
            .or(alerts::since.lt(filter.unexplained_before)),
    );
    if let Some(from) = filter.since_from {
        query = query.filter(alerts::since.ge(from));
    }
    if let Some(to) = filter.since_to {
        query = query.filter(alerts::since.le(to));
    }
    if let Some(after) = filter.after_id {
        query = query.filter(alerts::id.gt(after));
    }
    Ok(query.limit(limit).load(conn)?)
}

/// Open alerts of these kinds that no event has announced yet (the scan's work list). An
/// `unexplained` alert counts only once it is overdue: `since` before `unexplained_before`
/// (R5.1).
pub fn to_announce(
    conn: &mut DbConnection,
    kinds: &[AlertKind],
    unexplained: AlertKind,
    unexplained_before: NaiveDate,
) -> StoreResult<Vec<Alert>> {
    let mut due = Vec::new();
    // A kind at a time, as in `open_of_kinds`: each is a range of the partial index.
    for kind in kinds {
        let mut query = alerts::table
            .filter(alerts::kind.eq(kind.as_str()))
            .filter(alerts::resolved_on.is_null())
            .filter(alerts::announced_on.is_null())
            .into_boxed();
        if *kind == unexplained {
            query = query.filter(alerts::since.lt(unexplained_before));
        }
        due.extend(query.load::<Alert>(conn)?);
    }
    due.sort_unstable_by_key(|a| a.id);
    Ok(due)
}

/// Records that the scan announced these alerts today (their events are written in the same
/// transaction), so that [`to_announce`] reads only the partial index `alerts_to_announce`.
pub fn mark_announced(conn: &mut DbConnection, ids: &[i64], today: NaiveDate) -> StoreResult<()> {
    for chunk in ids.chunks(500) {
        diesel::update(alerts::table.filter(alerts::id.eq_any(chunk)))
            .set(alerts::announced_on.eq(today))
            .execute(conn)?;
    }
    Ok(())
}

/// Every alert (for the consistency test and tools), oldest first.
pub fn all(conn: &mut DbConnection) -> StoreResult<Vec<Alert>> {
    Ok(alerts::table.order(alerts::id).load(conn)?)
}

/// Where each of these alerts is (its pupil, school and kind), for the change feed's links.
pub fn locations(
    conn: &mut DbConnection,
    ids: &[i64],
) -> StoreResult<std::collections::HashMap<i64, (String, i32, String)>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(i64, String, i32, String)> = alerts::table
        .filter(alerts::id.eq_any(ids))
        .select((alerts::id, alerts::upn, alerts::school_urn, alerts::kind))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, upn, urn, kind)| (id, (upn, urn, kind)))
        .collect())
}

/// What [`SqliteOpenAlertUpdate`] sets.
enum OpenAlertChange<'a> {
    Resolve {
        today: NaiveDate,
        resolution: &'a str,
    },
    MoveSince(NaiveDate),
}

/// `UPDATE alerts SET ... WHERE` the open alert of `key` `RETURNING id` on SQLite, prepared once
/// per connection and then only rebound: diesel prepares every `UPDATE` afresh, and a night's
/// pushes resolve and move thousands of alerts inside the writer's lock.
struct SqliteOpenAlertUpdate<'a> {
    key: &'a AlertKey,
    /// The key's kind as stored.
    kind: &'static str,
    set: OpenAlertChange<'a>,
}

/// No static id: diesel then caches the statement by its SQL text, one per kind of change.
impl diesel::query_builder::QueryId for SqliteOpenAlertUpdate<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite> for SqliteOpenAlertUpdate<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Date, Integer, Text};
        match &self.set {
            OpenAlertChange::Resolve { today, resolution } => {
                out.push_sql("UPDATE alerts SET resolved_on = ");
                out.push_bind_param::<Date, _>(today)?;
                out.push_sql(", resolution = ");
                out.push_bind_param::<Text, _>(resolution)?;
            }
            OpenAlertChange::MoveSince(since) => {
                out.push_sql("UPDATE alerts SET since = ");
                out.push_bind_param::<Date, _>(since)?;
            }
        }
        out.push_sql(" WHERE kind = ");
        out.push_bind_param::<Text, _>(&self.kind)?;
        out.push_sql(" AND school_urn = ");
        out.push_bind_param::<Integer, _>(&self.key.school_urn)?;
        out.push_sql(" AND upn = ");
        out.push_bind_param::<Text, _>(&self.key.upn)?;
        out.push_sql(" AND subject = ");
        out.push_bind_param::<Text, _>(&self.key.subject)?;
        out.push_sql(" AND resolved_on IS NULL RETURNING id");
        Ok(())
    }
}

impl diesel::query_builder::Query for SqliteOpenAlertUpdate<'_> {
    type SqlType = diesel::sql_types::BigInt;
}

impl RunQueryDsl<diesel::SqliteConnection> for SqliteOpenAlertUpdate<'_> {}
