//! The year-to-date part of bench-ingest (issue 4 "Benchmark"): the LA's registers for the school
//! days before the benchmark's nights, pushed day by day over HTTP with the attendance tallies and
//! alerts maintained on every push, then the reads those tallies exist for, timed: the LA's whole
//! alert worklist and single pupil summaries.

use std::time::Instant;

use chrono::{Datelike, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{check_reports, expect, minutes_for, per_school, present, send_all, School, FIRST_URN};
use esma_api::domain::calendar::{hertfordshire_2026_27, SchoolCalendar};

/// How a generated pupil attends over the weeks, so the worklist has every kind of alert in
/// realistic numbers: most pupils follow the nightly code mix, a few are off ill for weeks
/// (sickness returns), and some miss school often (persistent and severe absence, N marks).
#[derive(Clone, Copy)]
enum Pattern {
    Usual,
    LongIllness,
    OftenAbsent,
}

fn pattern_of(school: usize, pupil: usize, seed: u64) -> Pattern {
    let mut rng = StdRng::seed_from_u64(seed ^ ((school as u64) << 32) ^ pupil as u64);
    let r: f64 = rng.random();
    if r < 0.005 {
        Pattern::LongIllness
    } else if r < 0.04 {
        Pattern::OftenAbsent
    } else {
        Pattern::Usual
    }
}

fn code_for(pattern: Pattern, session: &'static str, rng: &mut StdRng) -> &'static str {
    match pattern {
        Pattern::LongIllness => "I",
        Pattern::OftenAbsent => {
            let r: f64 = rng.random();
            if r < 0.55 {
                present(session)
            } else if r < 0.75 {
                "O"
            } else if r < 0.9 {
                "I"
            } else {
                "N"
            }
        }
        Pattern::Usual => super::draw_code(session, rng),
    }
}

/// The `days` school days strictly before `first_night`, oldest first (the LA calendar).
pub fn school_days_before(first_night: NaiveDate, days: usize) -> Vec<NaiveDate> {
    let calendar = SchoolCalendar::new(vec![hertfordshire_2026_27()]);
    let mut out: Vec<NaiveDate> = (1..=days)
        .map(|n| calendar.school_day_before(first_night, u32::try_from(n).unwrap_or(u32::MAX)))
        .collect();
    out.reverse();
    out
}

fn day_body(
    school_index: usize,
    school: &School,
    day: NaiveDate,
    seed: u64,
    c2_from: NaiveDate,
) -> Result<Vec<u8>, String> {
    #[derive(serde::Serialize)]
    struct Out<'a> {
        upn: &'a str,
        date: NaiveDate,
        session: &'static str,
        code: &'static str,
        minutes_late: Option<i32>,
    }
    // One stream per school and day: the same seed gives the same year.
    let day_number = u64::try_from(day.num_days_from_ce()).unwrap_or(0);
    let mut rng = StdRng::seed_from_u64(seed ^ (day_number << 20) ^ ((school_index as u64) << 44));
    let mut marks = Vec::with_capacity(school.pupils.len() * 2);
    for (p, pupil) in school.pupils.iter().enumerate() {
        let pattern = pattern_of(school_index, p, seed);
        for session in ["AM", "PM"] {
            let mut code = code_for(pattern, session, &mut rng);
            let mut minutes_late = minutes_for(code, &mut rng);
            if day >= c2_from && pupil.part_time.c2_in(session) {
                (code, minutes_late) = ("C2", None);
            }
            marks.push(Out {
                upn: &pupil.upn,
                date: day,
                session,
                code,
                minutes_late,
            });
        }
    }
    serde_json::to_vec(&serde_json::json!({ "marks": marks })).map_err(|e| e.to_string())
}

/// What the year-to-date phase measured.
pub struct YearToDate {
    pub days: usize,
    pub marks: usize,
    pub seconds: f64,
    /// Marks per second of the first and of the last day pushed (the tallies grow in between).
    pub first_day_rate: f64,
    pub last_day_rate: f64,
}

/// Pushes every school's register for each day in `days`, in date order, `clients` at a time;
/// the part-time pupils' afternoons are `C2` from `c2_from`.
#[allow(clippy::too_many_arguments)]
pub async fn push_days(
    http: &reqwest::Client,
    base: &str,
    mis_token: &str,
    schools: &[School],
    days: &[NaiveDate],
    clients: usize,
    seed: u64,
    c2_from: NaiveDate,
) -> Result<YearToDate, String> {
    let mut figures = YearToDate {
        days: days.len(),
        marks: 0,
        seconds: 0.0,
        first_day_rate: 0.0,
        last_day_rate: 0.0,
    };
    for (i, day) in days.iter().enumerate() {
        let jobs = per_school(
            schools,
            &reqwest::Method::POST,
            |s| format!("{base}/api/v1/schools/{}/registers", s.urn),
            |s| {
                let index = usize::try_from(s.urn)
                    .unwrap_or(0)
                    .saturating_sub(FIRST_URN);
                day_body(index, s, *day, seed, c2_from)
            },
        )?;
        let marks: usize = schools.iter().map(|s| 2 * s.pupils.len()).sum();
        let (replies, secs) = send_all(http, mis_token, jobs, clients).await?;
        check_reports(&format!("year to date, {day}"), schools, &replies, |s| {
            let n = 2 * s.pupils.len();
            expect(n, n, 0, 0)
        })?;
        figures.marks += marks;
        figures.seconds += secs;
        let rate = marks as f64 / secs;
        if i == 0 {
            figures.first_day_rate = rate;
        }
        figures.last_day_rate = rate;
        eprintln!(
            "bench-ingest: year to date {}/{}: {day} {rate:.0} marks/s",
            i + 1,
            days.len()
        );
    }
    Ok(figures)
}

/// Latencies of the reads the maintained tallies serve, in milliseconds.
pub struct ReadTimings {
    pub open_alerts: usize,
    pub worklist_first_page_ms: f64,
    pub worklist_kind_ms: f64,
    pub worklist_walk_ms: f64,
    pub pupil_summary_median_ms: f64,
    pub pupil_summary_p95_ms: f64,
    pub samples: usize,
}

async fn get_ms(
    http: &reqwest::Client,
    token: &str,
    url: &str,
) -> Result<(f64, serde_json::Value), String> {
    let started = Instant::now();
    let response = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if status != 200 {
        return Err(format!(
            "{url} answered {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    let json = serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))?;
    Ok((ms, json))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or(0.0)
}

/// Times the LA's alert worklist (first page, one kind, and walking every page) and pupil
/// summaries of random pupils, over HTTP as an LA client sees them.
pub async fn time_reads(
    http: &reqwest::Client,
    base: &str,
    la_token: &str,
    schools: &[School],
    samples: usize,
    seed: u64,
) -> Result<ReadTimings, String> {
    // Warm up the connection and the server's caches once, untimed.
    get_ms(http, la_token, &format!("{base}/api/v1/alerts?limit=100")).await?;
    let mut first = Vec::new();
    let mut kind = Vec::new();
    for _ in 0..21 {
        first.push(
            get_ms(http, la_token, &format!("{base}/api/v1/alerts?limit=100"))
                .await?
                .0,
        );
        kind.push(
            get_ms(
                http,
                la_token,
                &format!("{base}/api/v1/alerts?limit=100&kind=sickness_return_due"),
            )
            .await?
            .0,
        );
    }
    // The whole worklist, page by page.
    let started = Instant::now();
    let mut open_alerts = 0;
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{base}/api/v1/alerts?limit=500&cursor={c}"),
            None => format!("{base}/api/v1/alerts?limit=500"),
        };
        let (_, page) = get_ms(http, la_token, &url).await?;
        open_alerts += page["items"].as_array().map_or(0, Vec::len);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let walk = started.elapsed().as_secs_f64() * 1000.0;

    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(7));
    let mut summaries = Vec::with_capacity(samples);
    for _ in 0..samples {
        let school = &schools[rng.random_range(0..schools.len())];
        let pupil = &school.pupils[rng.random_range(0..school.pupils.len())];
        let url = format!("{base}/api/v1/pupils/{}/attendance", pupil.upn);
        summaries.push(get_ms(http, la_token, &url).await?.0);
    }
    Ok(ReadTimings {
        open_alerts,
        worklist_first_page_ms: median(first),
        worklist_kind_ms: median(kind),
        worklist_walk_ms: walk,
        pupil_summary_median_ms: median(summaries.clone()),
        pupil_summary_p95_ms: percentile(summaries, 0.95),
        samples,
    })
}
