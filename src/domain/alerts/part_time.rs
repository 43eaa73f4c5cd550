//! The alerts of part-time timetables (RULES.md R15.2, R15.3): which `C2` sessions no agreement
//! or case covers, and which agreements have a review overdue or have run too long. Pure: the
//! service hands in the pupil's `C2` sessions of a year, agreements and cases.
//!
//! Precedence (RULES.md R15.3, decided here): a `C2` session is covered when an agreement of the
//! pupil at that school covers its date (start to the end in force, both included) or a case of
//! the pupil at that school does (its start to its exit's effective date; R12.1: while a case is
//! active `C2` is the support code). An uncovered session after the end of an agreement that
//! ended earlier in the same academic year is an overrun of that agreement (the latest such);
//! any other uncovered session is "without agreement". So a session is on one alert only.

use chrono::NaiveDate;

use super::{part_time_subject, year_subject, AlertKey, AlertKind, WantedAlert};
use crate::domain::calendar::{AcademicYear, SchoolCalendar};
use crate::domain::codes::Session;
use crate::domain::part_time::{PartTimePolicy, PartTimeTimetable};

/// An agreement's dates, as the `C2` check reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgreementSpan {
    pub id: i64,
    pub start: NaiveDate,
    /// The end date in force (with extensions).
    pub end: NaiveDate,
}

/// What may cover a pupil's `C2` sessions at one school.
#[derive(Debug, Clone, Default)]
pub struct C2Cover {
    pub agreements: Vec<AgreementSpan>,
    /// Cases: their start and, once closed, their exit's effective date.
    pub cases: Vec<(NaiveDate, Option<NaiveDate>)>,
}

/// Why a `C2` session is uncovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum C2Finding {
    /// `c2_without_agreement`.
    WithoutAgreement,
    /// `part_time_timetable_overrun` of this agreement.
    Overrun(i64),
}

impl C2Finding {
    pub fn kind(self) -> AlertKind {
        match self {
            C2Finding::WithoutAgreement => AlertKind::C2WithoutAgreement,
            C2Finding::Overrun(_) => AlertKind::PartTimeTimetableOverrun,
        }
    }

    /// The alert's subject: the academic year, or the agreement overrun.
    pub fn subject(self, year: AcademicYear) -> String {
        match self {
            C2Finding::WithoutAgreement => year_subject(year),
            C2Finding::Overrun(id) => part_time_subject(id),
        }
    }
}

impl C2Cover {
    /// R15.3: why a `C2` on `date` is uncovered, or `None` when it is covered.
    pub fn finding(&self, date: NaiveDate) -> Option<C2Finding> {
        let in_case = self
            .cases
            .iter()
            .any(|(start, exit)| *start <= date && exit.is_none_or(|e| date <= e));
        let agreed = self
            .agreements
            .iter()
            .any(|a| a.start <= date && date <= a.end);
        if in_case || agreed {
            return None;
        }
        let year = AcademicYear::containing(date);
        Some(
            self.agreements
                .iter()
                .filter(|a| a.end < date && year.contains(a.end))
                .max_by_key(|a| (a.end, a.id))
                .map_or(C2Finding::WithoutAgreement, |a| C2Finding::Overrun(a.id)),
        )
    }

    /// The uncovered sessions among `sessions`, with why, in the order given.
    pub fn uncovered(
        &self,
        sessions: &[(NaiveDate, Session)],
    ) -> Vec<(NaiveDate, Session, C2Finding)> {
        sessions
            .iter()
            .filter_map(|(date, session)| Some((*date, *session, self.finding(*date)?)))
            .collect()
    }
}

/// R15.3: the `c2_without_agreement` (one per pupil, school and year) and
/// `part_time_timetable_overrun` (one per agreement) alerts the pupil's `C2` sessions of `year`
/// at the school want, each from its first session. `sessions` in register order.
pub fn c2_alerts(
    school_urn: i32,
    upn: &str,
    year: AcademicYear,
    sessions: &[(NaiveDate, Session)],
    cover: &C2Cover,
) -> Vec<WantedAlert> {
    let mut wanted: Vec<WantedAlert> = Vec::new();
    for (date, _, finding) in cover.uncovered(sessions) {
        let key = AlertKey {
            kind: finding.kind(),
            school_urn,
            upn: upn.to_owned(),
            subject: finding.subject(year),
        };
        if wanted.iter().any(|w| w.key == key) {
            continue;
        }
        wanted.push(WantedAlert {
            key,
            year,
            since: date,
        });
    }
    wanted
}

/// The day the agreement rules are applied on.
#[derive(Debug, Clone, Copy)]
pub struct AgreementClock<'a> {
    pub today: NaiveDate,
    pub calendar: &'a SchoolCalendar,
    pub policy: &'a PartTimePolicy,
}

fn wanted(t: &PartTimeTimetable, kind: AlertKind, since: NaiveDate) -> WantedAlert {
    WantedAlert {
        key: AlertKey {
            kind,
            school_urn: t.school_urn,
            upn: t.upn.clone(),
            subject: part_time_subject(t.id.get()),
        },
        year: AcademicYear::containing(t.terms.start_date),
        since,
    }
}

/// R15.3 `part_time_review_overdue`: a review date passed with no review recorded
/// (`PartTimeTimetable::reviews_overdue`), from the day after the first such date.
pub fn part_time_review_overdue(
    t: &PartTimeTimetable,
    clock: &AgreementClock<'_>,
) -> Option<WantedAlert> {
    let first = *t.reviews_overdue(clock.today).first()?;
    Some(wanted(
        t,
        AlertKind::PartTimeReviewOverdue,
        first.succ_opt().unwrap_or(first),
    ))
}

/// R15.2 `part_time_timetable_prolonged`: the span with extensions exceeds the policy's school
/// days, from the first school day past them.
pub fn part_time_timetable_prolonged(
    t: &PartTimeTimetable,
    clock: &AgreementClock<'_>,
) -> Option<WantedAlert> {
    if !t.is_prolonged(clock.calendar, clock.policy) {
        return None;
    }
    // The start is a school day (R15.1): the (limit + 1)th school day of the span.
    let since = clock
        .calendar
        .school_day_after(t.terms.start_date, clock.policy.prolonged_school_days);
    Some(wanted(t, AlertKind::PartTimeTimetableProlonged, since))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn r15_3_cases_and_agreements_cover_and_an_uncovered_c2_after_an_end_is_an_overrun() {
        let cover = C2Cover {
            agreements: vec![
                AgreementSpan {
                    id: 4,
                    start: d("2026-11-02"),
                    end: d("2026-11-27"),
                },
                AgreementSpan {
                    id: 2,
                    start: d("2026-06-01"),
                    end: d("2026-07-10"),
                },
            ],
            cases: vec![(d("2027-01-11"), Some(d("2027-02-05")))],
        };
        // Before any agreement this year: without (the July one is last year's).
        assert_eq!(
            cover.finding(d("2026-10-05")),
            Some(C2Finding::WithoutAgreement)
        );
        assert_eq!(cover.finding(d("2026-11-02")), None);
        assert_eq!(cover.finding(d("2026-11-27")), None);
        assert_eq!(cover.finding(d("2026-11-30")), Some(C2Finding::Overrun(4)));
        // A case covers from its start to its exit's effective date.
        assert_eq!(cover.finding(d("2027-01-11")), None);
        assert_eq!(cover.finding(d("2027-02-05")), None);
        assert_eq!(cover.finding(d("2027-02-08")), Some(C2Finding::Overrun(4)));
        let sessions = [
            (d("2026-10-05"), Session::Am),
            (d("2026-10-05"), Session::Pm),
            (d("2026-11-16"), Session::Pm),
            (d("2026-12-01"), Session::Am),
        ];
        let wanted = c2_alerts(117001, "A", AcademicYear::new(2026), &sessions, &cover);
        let got: Vec<(AlertKind, &str, NaiveDate)> = wanted
            .iter()
            .map(|w| (w.key.kind, w.key.subject.as_str(), w.since))
            .collect();
        assert_eq!(
            got,
            [
                (AlertKind::C2WithoutAgreement, "2026-27", d("2026-10-05")),
                (
                    AlertKind::PartTimeTimetableOverrun,
                    "part-time timetable 4",
                    d("2026-12-01")
                ),
            ]
        );
    }

    #[test]
    fn r15_2_prolonged_past_60_school_days_and_r15_3_a_review_overdue_from_the_day_after() {
        use crate::domain::calendar::hertfordshire_2026_27;
        use crate::domain::part_time::{
            AgreementTerms, PartTimeReason, PartTimeTimetableId, WeeklyPattern,
        };
        let calendar = SchoolCalendar::new(vec![hertfordshire_2026_27()]);
        let policy = PartTimePolicy::default();
        let start = d("2026-11-02");
        let mut t = PartTimeTimetable {
            id: PartTimeTimetableId::from(9),
            school_urn: 117001,
            upn: "A".to_string(),
            terms: AgreementTerms {
                start_date: start,
                end_date: calendar.school_day_after(start, 59),
                pattern: WeeklyPattern::default(),
                reason: PartTimeReason::Health,
                parent_agreed_on: start,
                ambition: "x".to_string(),
                case_id: None,
                plan_reference: Some("x".to_string()),
                review_dates: vec![d("2026-11-16")],
                la_informed_on: None,
                has_social_worker: false,
                social_worker_informed: false,
            },
            end_dates: vec![],
            reviews: vec![],
            created_at: start.and_hms_opt(9, 0, 0).unwrap(),
            created_by: "x".to_string(),
        };
        let clock = |today| AgreementClock {
            today,
            calendar: &calendar,
            policy: &policy,
        };
        // 60 school days, start and end counted: not more than the policy's 60.
        assert_eq!(t.span_school_days(&calendar), 60);
        assert_eq!(part_time_timetable_prolonged(&t, &clock(start)), None);
        t.terms.end_date = calendar.school_day_after(start, 60);
        let flagged = part_time_timetable_prolonged(&t, &clock(start)).unwrap();
        assert_eq!(flagged.since, t.terms.end_date);
        assert_eq!(flagged.key.subject, "part-time timetable 9");
        assert_eq!(part_time_review_overdue(&t, &clock(d("2026-11-16"))), None);
        let overdue = part_time_review_overdue(&t, &clock(d("2026-11-17"))).unwrap();
        assert_eq!(overdue.since, d("2026-11-17"));
    }
}
