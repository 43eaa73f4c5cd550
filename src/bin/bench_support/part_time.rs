//! The part-time timetables of bench-ingest (issue 24; RULES.md R15): which pupils are on one,
//! their agreements, recorded through the API before any register, and the `C2` afternoons the
//! registers then give them, so that every push meets the R15.3 checks as an LA's nights would:
//! `C2` on 2% of the pupils, nearly all of it under an agreement, a little without one.

use chrono::NaiveDate;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{send_all, Args, Job, School};
use esma_api::domain::calendar::{hertfordshire_2026_27, AcademicYear, SchoolCalendar};

/// R7: `C2` applies only at compulsory school age; a pupil born in this span is of that age for
/// the whole of any agreement in the 2026-27 year (5 by its first term; 16 not before its end:
/// one born before September 2011 leaves at the end of June 2027).
pub fn of_age_born() -> (NaiveDate, NaiveDate) {
    (
        NaiveDate::from_ymd_opt(2011, 9, 1).unwrap_or_default(),
        NaiveDate::from_ymd_opt(2020, 6, 30).unwrap_or_default(),
    )
}

/// Whether a pupil is on a part-time timetable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PartTime {
    #[default]
    No,
    /// An agreement: in school every morning, `C2` every afternoon from its start.
    Agreed,
    /// `C2` every afternoon and no agreement behind it (R15.3 `c2_without_agreement`).
    WithoutAgreement,
}

impl PartTime {
    /// Drawn from a stream of its own, so the rest of the generated night stays as it was.
    /// `of_age_share`: the share of the generated pupils born in [`of_age_born`], among whom the
    /// agreements are drawn, so that they are `--part-time-share` of all the pupils.
    pub fn of(
        school: usize,
        pupil: usize,
        born: NaiveDate,
        of_age_share: f64,
        args: &Args,
    ) -> PartTime {
        let stream = args.seed ^ 0x5A5A_5A5A_0000_0000 ^ ((school as u64) << 32) ^ pupil as u64;
        let r: f64 = StdRng::seed_from_u64(stream).random();
        let (from, to) = of_age_born();
        let of_age = from <= born && born <= to;
        let (agreed, without) = (
            args.part_time_share / of_age_share,
            args.c2_without_agreement_share / of_age_share,
        );
        if !of_age {
            PartTime::No
        } else if r < agreed {
            PartTime::Agreed
        } else if r < agreed + without {
            PartTime::WithoutAgreement
        } else {
            PartTime::No
        }
    }

    /// Whether the register gives this session `C2` (from the agreements' start).
    pub fn c2_in(self, session: &str) -> bool {
        self != PartTime::No && session == "PM"
    }
}

/// The agreements as recorded.
pub struct Agreements {
    /// Every agreement's start, the first day of `C2`.
    pub start: NaiveDate,
    pub agreed: usize,
    pub reviews: usize,
    /// Pupils with `C2` afternoons and no agreement.
    pub without: usize,
}

/// The agreements' start: the first school day the benchmark pushes, but at most 40 school days
/// before the server's today, so no agreement runs past 60 school days (R15.2 "prolonged") and
/// the reviews before today are few.
pub fn start_date(first_day: NaiveDate, today: NaiveDate) -> NaiveDate {
    let calendar = SchoolCalendar::new(vec![hertfordshire_2026_27()]);
    calendar.school_day_before(today, 40).max(first_day)
}

/// Records an agreement for every [`PartTime::Agreed`] pupil, `clients` requests at a time,
/// with the reviews already due by `today` held on their dates (so none is overdue, R15.3).
pub async fn record(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    schools: &[School],
    start: NaiveDate,
    today: NaiveDate,
    clients: usize,
) -> Result<Agreements, String> {
    let calendar = SchoolCalendar::new(vec![hertfordshire_2026_27()]);
    // R15.1: reviewed at least every 30 school days, the last on or before the end, which is
    // within the year's last school day (the benchmark's calendar has no later year).
    let last =
        calendar.previous_school_day_on_or_before(AcademicYear::containing(start).last_day());
    let review_dates = [
        calendar.school_day_after(start, 25),
        calendar.school_day_after(start, 50).min(last),
    ];
    let end = calendar.school_day_after(start, 55).min(last);
    let mut jobs = Vec::new();
    let mut without = 0;
    for (index, school) in schools.iter().enumerate() {
        for pupil in &school.pupils {
            match pupil.part_time {
                PartTime::No => continue,
                PartTime::WithoutAgreement => {
                    without += 1;
                    continue;
                }
                PartTime::Agreed => {}
            }
            let mut body = serde_json::json!({
                "upn": pupil.upn, "start_date": start, "end_date": end,
                "pattern": {"monday": ["AM"], "tuesday": ["AM"], "wednesday": ["AM"],
                            "thursday": ["AM"], "friday": ["AM"]},
                "reason": "health", "parent_agreed_on": start,
                "ambition": "Full days again once the afternoons are manageable",
                "plan_reference": "Individual healthcare plan",
                "review_dates": review_dates,
            });
            if pupil.ehcp {
                body["la_informed_on"] = serde_json::json!(start);
            }
            jobs.push(Job {
                school: index,
                method: reqwest::Method::POST,
                url: format!("{base}/api/v1/schools/{}/part-time-timetables", school.urn),
                body: body.to_string().into_bytes(),
            });
        }
    }
    let agreed = jobs.len();
    let (replies, _) = send_all(http, token, jobs, clients).await?;
    let mut ids = Vec::with_capacity(replies.len());
    for reply in &replies {
        let text = String::from_utf8_lossy(&reply.body);
        if reply.status != 201 {
            return Err(format!(
                "recording a part-time timetable at URN {} answered {}: {text}",
                schools[reply.school].urn, reply.status
            ));
        }
        let created: serde_json::Value = serde_json::from_slice(&reply.body)
            .map_err(|e| format!("a recorded part-time timetable: {e}: {text}"))?;
        let id = created["id"]
            .as_i64()
            .ok_or_else(|| format!("a recorded part-time timetable has no id: {text}"))?;
        ids.push((reply.school, id));
    }
    let held: Vec<NaiveDate> = review_dates.into_iter().filter(|d| *d <= today).collect();
    let mut jobs = Vec::new();
    for (school, id) in &ids {
        for held_on in &held {
            let body = serde_json::json!({
                "held_on": held_on,
                "attendees": [{"role": "pupil"}, {"role": "parent"}, {"role": "school"}],
            });
            jobs.push(Job {
                school: *school,
                method: reqwest::Method::POST,
                url: format!("{base}/api/v1/part-time-timetables/{id}/reviews"),
                body: body.to_string().into_bytes(),
            });
        }
    }
    let reviews = jobs.len();
    let (replies, _) = send_all(http, token, jobs, clients).await?;
    if let Some(r) = replies.iter().find(|r| !(200..300).contains(&r.status)) {
        return Err(format!(
            "recording a part-time timetable review answered {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    }
    Ok(Agreements {
        start,
        agreed,
        reviews,
        without,
    })
}
