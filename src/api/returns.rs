//! `GET /api/v1/returns/sickness` and `GET /api/v1/returns/unauthorised-absence` (API.md "Notices
//! and returns"; RULES.md R16.2): JSON, or CSV for a spreadsheet with `Accept: text/csv`.

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::problem::ListFailures;
use crate::domain::returns::{Month, ReturnKind, ReturnRow};
use crate::error::ApiError;
use crate::service::returns;
use crate::service::{Actor, AppState};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReturnQuery {
    /// The month, `YYYY-MM`: the pupils who reached the threshold in it.
    #[param(value_type = String, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$", example = "2026-11")]
    pub month: Option<String>,
    /// Only this school (a school client: one of its own; another school's is 404).
    #[param(example = 117001)]
    pub school_urn: Option<i32>,
}

/// One pupil on a monthly return.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnRowView {
    #[schema(example = 117001)]
    pub school_urn: i32,
    #[schema(example = "9192001")]
    pub laestab: Option<String>,
    #[schema(example = "H801200001001")]
    pub upn: String,
    #[schema(example = "Ada")]
    pub forename: Option<String>,
    #[schema(example = "Lovelace")]
    pub surname: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    /// The date of the session that reached the threshold.
    #[schema(example = "2026-11-20")]
    pub reached_on: NaiveDate,
    /// Illness days (sickness) or unauthorised absence days in the academic year as the register
    /// stands now; half days count.
    #[schema(example = 15.0)]
    pub days_counted: f64,
}

impl From<ReturnRow> for ReturnRowView {
    fn from(r: ReturnRow) -> Self {
        ReturnRowView {
            school_urn: r.school_urn,
            laestab: r.laestab,
            upn: r.upn,
            forename: r.forename,
            surname: r.surname,
            date_of_birth: r.date_of_birth,
            reached_on: r.reached_on,
            days_counted: r.days_counted,
        }
    }
}

/// A monthly return (RULES.md R16.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnView {
    /// `sickness` or `unauthorised_absence`.
    pub kind: ReturnKind,
    #[schema(example = "2026-11")]
    pub month: String,
    /// By school, then the date reached, then UPN.
    pub rows: Vec<ReturnRowView>,
}

/// The CSV's columns, in order (the JSON row's fields).
const CSV_HEADER: [&str; 8] = [
    "school_urn",
    "laestab",
    "upn",
    "forename",
    "surname",
    "date_of_birth",
    "reached_on",
    "days_counted",
];

/// One CSV field as RFC 4180 quotes it: in double quotes (doubled inside) when it holds a
/// comma, a quote or a line break. Text that a spreadsheet would take for a formula (starting
/// `=`, `+`, `-`, `@`) is prefixed with `'` so it opens as the text it is.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The return as CSV: UTF-8 with a byte order mark (so a spreadsheet reads names in UTF-8), a
/// header row, ISO dates, CRLF line ends (RFC 4180).
pub fn to_csv(rows: &[ReturnRowView]) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(&CSV_HEADER.join(","));
    out.push_str("\r\n");
    for r in rows {
        let fields = [
            r.school_urn.to_string(),
            csv_field(r.laestab.as_deref().unwrap_or_default()),
            csv_field(&r.upn),
            csv_field(r.forename.as_deref().unwrap_or_default()),
            csv_field(r.surname.as_deref().unwrap_or_default()),
            r.date_of_birth.map(|d| d.to_string()).unwrap_or_default(),
            r.reached_on.to_string(),
            r.days_counted.to_string(),
        ];
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// Whether the caller asked for CSV: `text/csv` named in Accept before any JSON type.
fn wants_csv(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            let csv = accept.find("text/csv");
            let json = accept.find("application/json");
            matches!((csv, json), (Some(c), Some(j)) if c < j) || (csv.is_some() && json.is_none())
        })
}

async fn answer(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    query: ReturnQuery,
    kind: ReturnKind,
) -> Result<HttpResponse, ApiError> {
    let text = query.month.as_deref().ok_or_else(|| {
        ApiError::invalid_field(
            "/query/month",
            "month is required, written YYYY-MM (2026-11)",
        )
    })?;
    let month = Month::parse(text).map_err(|e| ApiError::invalid_field("/query/month", e))?;
    let rows: Vec<ReturnRowView> = returns::monthly(&state, &actor, kind, month, query.school_urn)
        .await?
        .into_iter()
        .map(ReturnRowView::from)
        .collect();
    if wants_csv(&req) {
        let file = format!("{}-return-{month}.csv", kind.as_str());
        Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ))
            .body(to_csv(&rows)))
    } else {
        Ok(HttpResponse::Ok().json(ReturnView {
            kind,
            month: month.to_string(),
            rows,
        }))
    }
}

/// The monthly sickness return: pupils whose illness reached 15 days in the month.
///
/// One row per pupil and school whose `sickness_return_due` (RULES.md R4.4) was reached in the
/// month (its `since`), still supported by the register: URN, LAESTAB, UPN, name, date of birth,
/// the date reached and the illness days counted now (R16.2). JSON by default; CSV for a
/// spreadsheet with `Accept: text/csv` (header row, ISO dates, UTF-8, RFC 4180 quoting).
///
/// Who: `la` (every school, or `school_urn`) or `school` (its own schools; another school's URN
/// is 404). Changes nothing; the read is audited (the return, and each pupil on it).
#[utoipa::path(
    tag = "returns",
    params(ReturnQuery),
    responses(
        (status = 200, description = "The return", content(
            (ReturnView = "application/json"),
            (String = "text/csv"),
        )),
        ListFailures,
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/returns/sickness")]
pub async fn sickness_return(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    query: web::Query<ReturnQuery>,
) -> Result<HttpResponse, ApiError> {
    answer(req, state, actor, query.into_inner(), ReturnKind::Sickness).await
}

/// The monthly unauthorised absence return: pupils who reached 10 days in the month.
///
/// One row per pupil and school whose `unauthorised_absence_10_days` (RULES.md R16.1: 20
/// unauthorised sessions in the academic year, or 20 in a row) was reached in the month (its
/// `since`), still supported by the register: URN, LAESTAB, UPN, name, date of birth, the date
/// reached and the unauthorised absence days counted now (R16.2). JSON by default; CSV for a
/// spreadsheet with `Accept: text/csv` (header row, ISO dates, UTF-8, RFC 4180 quoting).
///
/// Who: `la` (every school, or `school_urn`) or `school` (its own schools; another school's URN
/// is 404). Changes nothing; the read is audited (the return, and each pupil on it).
#[utoipa::path(
    tag = "returns",
    params(ReturnQuery),
    responses(
        (status = 200, description = "The return", content(
            (ReturnView = "application/json"),
            (String = "text/csv"),
        )),
        ListFailures,
    ),
    security(("oauth2" = []), ("bearer" = []))
)]
#[get("/returns/unauthorised-absence")]
pub async fn unauthorised_absence_return(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    query: web::Query<ReturnQuery>,
) -> Result<HttpResponse, ApiError> {
    answer(
        req,
        state,
        actor,
        query.into_inner(),
        ReturnKind::UnauthorisedAbsence,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_as_rfc_4180_and_keeps_formulas_as_text() {
        assert_eq!(csv_field("Ada"), "Ada");
        assert_eq!(csv_field("O'Brien, Jr"), "\"O'Brien, Jr\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
        let rows = vec![ReturnRowView {
            school_urn: 117001,
            laestab: Some("9192001".into()),
            upn: "H801200001001".into(),
            forename: Some("Zoë".into()),
            surname: Some("Smith, Jones".into()),
            date_of_birth: NaiveDate::from_ymd_opt(2014, 3, 9),
            reached_on: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
            days_counted: 10.5,
        }];
        assert_eq!(
            to_csv(&rows),
            "\u{feff}school_urn,laestab,upn,forename,surname,date_of_birth,reached_on,days_counted\r\n\
             117001,9192001,H801200001001,Zoë,\"Smith, Jones\",2014-03-09,2026-11-20,10.5\r\n"
        );
    }
}
