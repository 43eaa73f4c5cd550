//! Attendance measures and statutory alerts (API.md "Attendance"; RULES.md R2, R4, R5; issue 4),
//! on both backends.

mod common;

use actix_web::test::TestRequest;
use chrono::{Datelike, Days, NaiveDate, Weekday};
use common::{setup, upn, TestApp, HILLSIDE, OAKFIELD};
use esma_api::domain::access::Role;
use esma_api::domain::attendance::AttendancePolicy;
use esma_api::service::attendance::{recompute, stored_state};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

fn mark(n: u32, date: NaiveDate, session: &str, code: &str) -> Value {
    json!({"upn": upn(n), "date": date.to_string(), "session": session, "code": code})
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// The weekdays from `from` to `to` inclusive (no calendar is loaded: R3.1 Monday to Friday).
fn weekdays(from: &str, to: &str) -> Vec<NaiveDate> {
    let mut days = Vec::new();
    let mut day = date(from);
    while day <= date(to) {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            days.push(day);
        }
        day = day + Days::new(1);
    }
    days
}

async fn push(app: &TestApp, token: &str, urn: i64, marks: Vec<Value>) {
    let r = app
        .send(
            TestRequest::post()
                .uri(&format!("/api/v1/schools/{urn}/registers"))
                .insert_header(("authorization", format!("Bearer {token}")))
                .set_json(json!({ "marks": marks })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["rejected"], 0, "{}", r.text());
}

/// Both sessions of each day with the same code.
fn days_of(n: u32, days: &[NaiveDate], code: &str) -> Vec<Value> {
    days.iter()
        .flat_map(|d| [mark(n, *d, "AM", code), mark(n, *d, "PM", code)])
        .collect()
}

async fn alerts(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let r = app.get(token, &format!("/api/v1/alerts?{query}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["items"].as_array().unwrap().clone()
}

fn kinds_for(items: &[Value], upn: &str) -> Vec<String> {
    let mut kinds: Vec<String> = items
        .iter()
        .filter(|a| a["upn"] == upn)
        .map(|a| a["kind"].as_str().unwrap().to_string())
        .collect();
    kinds.sort();
    kinds
}

/// The maintained tallies and open alerts equal a full recomputation from the marks.
fn assert_maintained_equals_recomputed(app: &TestApp, context: &str) {
    let maintained = app.db().write_now(stored_state).unwrap();
    let report = recompute(
        app.db(),
        &AttendancePolicy::default(),
        date("2026-11-23"),
        None,
    )
    .unwrap();
    let recomputed = app.db().write_now(stored_state).unwrap();
    assert_eq!(
        (report.counts.alerts_raised, report.counts.alerts_resolved),
        (0, 0),
        "recompute had to repair alerts after {context}"
    );
    let mut keys: Vec<_> = recomputed.0.keys().collect();
    keys.sort();
    for key in keys {
        assert_eq!(
            maintained.0.get(key),
            recomputed.0.get(key),
            "tally {key:?} after {context}"
        );
    }
    assert_eq!(
        maintained.0.len(),
        recomputed.0.len(),
        "tally count after {context}"
    );
    assert_eq!(maintained.1, recomputed.1, "open alerts after {context}");
}

on_both_backends!(summary_and_alerts_follow_the_register, |app| {
    let s = setup(&app).await;
    let twelve = weekdays("2026-11-02", "2026-11-17");
    assert_eq!(twelve.len(), 12);
    // Pupil 1 ill throughout; pupil 2 present but for two N marks; pupil 3 present.
    let mut marks = days_of(1, &twelve, "I");
    marks.extend(days_of(2, &twelve, "/"));
    marks.extend(days_of(3, &twelve, "/"));
    push(&app, &s.oakfield, OAKFIELD, marks).await;

    let r = app
        .get(
            &s.oakfield,
            &format!("/api/v1/pupils/{}/attendance", upn(1)),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let a = r.json();
    assert_eq!(a["possible_sessions"], 24);
    assert_eq!(a["authorised_absence"], 24);
    assert_eq!(a["absence_rate"], 100.0);
    assert_eq!(a["attendance_rate"], 0.0);
    assert_eq!(a["persistent_absence"], true);
    assert_eq!(a["severe_absence"], true);
    assert_eq!(a["illness"]["days_cumulative"], 12.0);
    assert_eq!(a["illness"]["current_streak_days"], 12.0);
    assert_eq!(a["illness"]["longest_streak_days"], 12.0);
    assert_eq!(a["by_code"], json!({"I": 24}));
    assert_eq!(a["from"], "2026-09-01");
    assert_eq!(a["to"], "2026-11-23");
    assert_eq!(a["facts"]["source"], "maintained");
    assert_eq!(a["facts"]["days_without_marks"], 0);
    assert_eq!(
        a["facts"]["longest_illness_streak"]["first_date"],
        "2026-11-02"
    );
    assert_eq!(a["facts"]["sickness_return_reached_on"], Value::Null);

    let items = alerts(&app, &s.la, "").await;
    assert_eq!(
        kinds_for(&items, &upn(1)),
        ["persistent_absence", "severe_absence"]
    );
    assert!(kinds_for(&items, &upn(3)).is_empty());
    let persistent = items
        .iter()
        .find(|a| a["kind"] == "persistent_absence")
        .unwrap();
    assert_eq!(persistent["since"], "2026-11-17");
    assert_eq!(persistent["state"], "open");
    assert_eq!(persistent["facts"]["absence_rate"], 100.0);
    assert_eq!(persistent["academic_year"], "2026-27");

    // Three more days of illness: 15 days reached on Friday 20th PM (R4.4); an N on Friday 13th
    // (replacing /) and one on Monday 16th for pupil 2.
    let three = weekdays("2026-11-18", "2026-11-20");
    let mut marks = days_of(1, &three, "I");
    marks.extend(days_of(2, &three, "/"));
    marks.push(mark(2, date("2026-11-13"), "AM", "N"));
    marks.push(mark(2, date("2026-11-16"), "PM", "N"));
    push(&app, &s.oakfield, OAKFIELD, marks).await;

    let items = alerts(&app, &s.la, "kind=sickness_return_due").await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["upn"], upn(1));
    assert_eq!(items[0]["since"], "2026-11-20");
    assert_eq!(items[0]["due_by"], "2026-11-20");
    assert_eq!(items[0]["facts"]["illness_days_cumulative"], 15.0);
    assert_eq!(items[0]["facts"]["reached_session"], "PM");

    // R5.1 example: as of Monday 23rd the N of Friday 13th is overdue, the one of the 16th not.
    let items = alerts(&app, &s.la, "kind=unexplained_absence_overdue").await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["since"], "2026-11-13");
    assert_eq!(items[0]["due_by"], "2026-11-20");
    assert_eq!(items[0]["facts"]["school_days_since"], 6);
    assert_eq!(items[0]["facts"]["session"], "AM");

    // Pushing the same marks again raises nothing twice.
    let before = alerts(&app, &s.la, "state=all").await.len();
    let mut marks = days_of(1, &three, "I");
    marks.push(mark(2, date("2026-11-13"), "AM", "N"));
    push(&app, &s.oakfield, OAKFIELD, marks).await;
    assert_eq!(alerts(&app, &s.la, "state=all").await.len(), before);

    // The school replaces the N: the alert is resolved today, with the reason.
    push(
        &app,
        &s.oakfield,
        OAKFIELD,
        vec![mark(2, date("2026-11-13"), "AM", "O")],
    )
    .await;
    assert!(alerts(&app, &s.la, "kind=unexplained_absence_overdue")
        .await
        .is_empty());
    let resolved = alerts(
        &app,
        &s.la,
        "kind=unexplained_absence_overdue&state=resolved",
    )
    .await;
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["state"], "resolved");
    assert_eq!(resolved[0]["resolved_on"], "2026-11-23");
    assert_eq!(resolved[0]["resolution"], "the N was replaced by O");

    // A correction weeks later: pupil 1 was in on Tuesday 10th after all. The numbers are what a
    // recount of the register gives, and the longest run is now the seven days from the 11th.
    push(
        &app,
        &s.oakfield,
        OAKFIELD,
        days_of(1, &[date("2026-11-10")], "/"),
    )
    .await;
    let maintained = app
        .get(&s.la, &format!("/api/v1/pupils/{}/attendance", upn(1)))
        .await
        .json();
    assert_eq!(maintained["illness"]["days_cumulative"], 14.0);
    assert_eq!(maintained["illness"]["longest_streak_days"], 8.0);
    assert_eq!(maintained["illness"]["current_streak_days"], 8.0);
    assert_eq!(
        maintained["facts"]["longest_illness_streak"]["first_date"],
        "2026-11-11"
    );
    let counted = app
        .get(
            &s.la,
            &format!(
                "/api/v1/pupils/{}/attendance?from=2026-09-01&to=2026-11-23",
                upn(1)
            ),
        )
        .await
        .json();
    assert_eq!(counted["facts"]["source"], "register");
    for field in [
        "possible_sessions",
        "present",
        "authorised_absence",
        "absence_rate",
        "illness",
        "by_code",
    ] {
        assert_eq!(maintained[field], counted[field], "{field}");
    }
    // 14 illness days: the sickness return is no longer supported, so it is resolved.
    let resolved = alerts(&app, &s.la, "kind=sickness_return_due&state=resolved").await;
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert!(resolved[0]["resolution"]
        .as_str()
        .unwrap()
        .contains("14 illness days"));
    assert_maintained_equals_recomputed(&app, "the scripted pushes");

    // A range that is only part of the year is counted from the marks of that range.
    let week = app
        .get(
            &s.la,
            &format!(
                "/api/v1/pupils/{}/attendance?from=2026-11-16&to=2026-11-20",
                upn(2)
            ),
        )
        .await
        .json();
    assert_eq!(week["possible_sessions"], 10);
    assert_eq!(week["unauthorised_absence"], 1);
    assert_eq!(week["absence_rate"], 10.0);
    // Fewer than 20 possible sessions: no flag (R2.2).
    assert_eq!(week["persistent_absence"], false);
});

on_both_backends!(alerts_and_summaries_are_scoped_and_audited, |app| {
    let s = setup(&app).await;
    let admin = app.token(Role::Admin, &[]).await;
    let days = weekdays("2026-11-02", "2026-11-13");
    // Absent throughout, one session short of 10 days unauthorised (R16.1): the two absence flags.
    let absent = |n| {
        let mut marks = days_of(n, &days, "O");
        marks[0]["code"] = json!("I");
        marks
    };
    push(&app, &s.oakfield, OAKFIELD, absent(1)).await;
    push(&app, &s.hillside, HILLSIDE, absent(6)).await;

    // Each school sees its own alerts; the LA sees both.
    let own = alerts(&app, &s.oakfield, "").await;
    assert!(own.iter().all(|a| a["school_urn"] == OAKFIELD), "{own:?}");
    assert_eq!(own.len(), 2);
    let all = alerts(&app, &s.la, "").await;
    assert_eq!(all.len(), 4);
    assert_eq!(
        alerts(&app, &s.la, &format!("school_urn={HILLSIDE}"))
            .await
            .len(),
        2
    );
    assert_eq!(
        alerts(&app, &s.la, &format!("upn={}", upn(6))).await.len(),
        2
    );
    assert_eq!(
        alerts(&app, &s.la, "kind=severe_absence,persistent_absence")
            .await
            .len(),
        4
    );
    assert_eq!(alerts(&app, &s.la, "from=2026-11-14").await.len(), 0);
    assert_eq!(
        alerts(&app, &s.la, "from=2026-11-13&to=2026-11-13")
            .await
            .len(),
        4
    );
    // Another school's URN reads as not found; another school's pupil too.
    app.get(
        &s.oakfield,
        &format!("/api/v1/alerts?school_urn={HILLSIDE}"),
    )
    .await
    .problem(404);
    app.get(
        &s.oakfield,
        &format!("/api/v1/pupils/{}/attendance", upn(6)),
    )
    .await
    .problem(404);
    app.get(&admin, "/api/v1/alerts").await.problem(403);

    // Pagination walks every alert once.
    let first = app.get(&s.la, "/api/v1/alerts?limit=3").await.json();
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let second = app
        .get(&s.la, &format!("/api/v1/alerts?limit=3&cursor={cursor}"))
        .await
        .json();
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!(second["next_cursor"], Value::Null);

    // Bad filters are 422 with a pointer, a bad cursor 400.
    let r = app.get(&s.la, "/api/v1/alerts?kind=lateness").await;
    assert_eq!(r.pointers(), ["/query/kind"], "{}", r.text());
    assert!(r.problem(422)["detail"]
        .as_str()
        .unwrap()
        .contains("sickness_return_due"));
    let r = app.get(&s.la, "/api/v1/alerts?state=closed").await;
    assert_eq!(r.pointers(), ["/query/state"]);
    app.get(&s.la, "/api/v1/alerts?from=2026-11-20&to=2026-11-01")
        .await
        .problem(422);
    app.get(&s.la, "/api/v1/alerts?upn=nope").await.problem(422);
    app.get(&s.la, "/api/v1/alerts?cursor=zzz")
        .await
        .problem(400);
    app.get(
        &s.la,
        &format!(
            "/api/v1/pupils/{}/attendance?from=2026-11-20&to=2026-11-01",
            upn(1)
        ),
    )
    .await
    .problem(422);

    // Reads of a pupil's attendance are audited, refused ones too.
    let trail = app
        .get(&admin, &format!("/api/v1/audit?upn={}&action=read", upn(6)))
        .await
        .json();
    let outcomes: Vec<(String, String)> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource_type"] == "attendance")
        .map(|e| {
            (
                e["actor_role"].as_str().unwrap().into(),
                e["outcome"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(outcomes, [("school".to_string(), "not_found".to_string())]);
    let trail = app.get(&admin, "/api/v1/audit?action=read").await.json();
    assert!(trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["resource_type"] == "alerts"));
});

// SQLite works a push out before it holds the writer's lock and stores it only if the school's
// registers are still the version it read. Here another push of the same school lands in between:
// the first push must then be worked out again against what that one wrote, not write back rows
// that lack its marks (PostgreSQL always works it out inside the transaction).
on_both_backends!(
    a_push_worked_out_before_another_write_is_worked_out_again,
    |app| {
        use esma_api::domain::codes::{AttendanceCode, Session};
        use esma_api::domain::push::PushKind;
        use esma_api::service::attendance::{plan_marks_ahead, write_marks_planned, MarkWrite};
        use esma_api::store::imports;
        use esma_api::store::marks::{self, IncomingMark};

        let s = setup(&app).await;
        let week = weekdays("2026-11-02", "2026-11-06");
        push(&app, &s.oakfield, OAKFIELD, days_of(1, &week, "/")).await;
        let (urn, today) = (OAKFIELD as i32, date("2026-11-23"));
        let now = today.and_hms_opt(18, 0, 0).unwrap();
        let policy = AttendancePolicy::default();
        let ill: Vec<IncomingMark> = week
            .iter()
            .flat_map(|d| [Session::Am, Session::Pm].map(|session| (*d, session)))
            .map(|(mark_date, session)| IncomingMark {
                upn: upn(1).into(),
                mark_date,
                session,
                code: AttendanceCode::I,
                minutes_late: None,
            })
            .collect();
        let mut ahead =
            plan_marks_ahead(&mut app.db().conn().unwrap(), urn, &ill, today, &policy).unwrap();

        // Meanwhile: Monday corrected to M, and the next Monday marked.
        let mut between = days_of(1, &week[..1], "M");
        between.extend(days_of(1, &[date("2026-11-09")], "/"));
        push(&app, &s.oakfield, OAKFIELD, between).await;

        let written = app
            .db()
            .write_now(|conn| {
                let import_id = imports::open(conn, PushKind::Register, urn, "test", now, None)?;
                let write = MarkWrite {
                    school_urn: urn,
                    import_id,
                    now,
                    today,
                    policy: &policy,
                    case_policy: &esma_api::domain::policy::Policy::hertfordshire(),
                };
                write_marks_planned(conn, &write, &mut ahead, &ill)
            })
            .unwrap();
        assert_eq!((written.inserted, written.updated), (0, 10));
        let mut conn = app.db().conn().unwrap();
        let stored =
            marks::of_pupil(&mut conn, &upn(1), &[urn], week[0], date("2026-11-09")).unwrap();
        let codes: Vec<(String, &str, &str)> = stored
            .iter()
            .map(|m| (m.mark_date.to_string(), m.session.as_str(), m.code.as_str()))
            .collect();
        assert_eq!(codes.len(), 12, "{codes:?}");
        assert!(
            codes[..10].iter().all(|(_, _, code)| *code == "I"),
            "{codes:?}"
        );
        assert_eq!(
            codes[10..],
            [
                ("2026-11-09".to_string(), "AM", "/"),
                ("2026-11-09".to_string(), "PM", "/")
            ],
            "the mark pushed in between is kept"
        );
        // Monday's history says it went from M (the push in between) to I.
        let monday = marks::history_of_pupil(&mut conn, &upn(1), &[urn], week[0], week[0]).unwrap();
        let monday: Vec<(&str, &str)> = monday
            .iter()
            .map(|h| (h.old_code.as_str(), h.new_code.as_str()))
            .collect();
        assert_eq!(monday, [("/", "M"), ("/", "M"), ("M", "I"), ("M", "I")]);
        drop(conn);
        assert_maintained_equals_recomputed(&app, "a push worked out again");
    }
);

// A random sequence of nightly pushes, back-filled days, corrections and repeats: after every
// push the maintained tallies and open alerts equal a full recomputation (issue 4 item 4).
on_both_backends!(
    maintained_counters_equal_recomputation_after_random_pushes,
    |app| {
        let s = setup(&app).await;
        let days = weekdays("2026-10-01", "2026-11-23");
        let pool = ["/", "/", "\\", "I", "I", "I", "N", "O", "#", "M", "L", "C"];
        let mut rng = StdRng::seed_from_u64(20261123);
        let mut next_day = 0usize;
        for step in 0..30 {
            let mut marks = Vec::new();
            let kind = rng.random_range(0..4);
            let chosen: Vec<NaiveDate> = match kind {
                // The next night (most common).
                0 | 1 if next_day < days.len() => {
                    next_day += 1;
                    vec![days[next_day - 1]]
                }
                // A correction or back-fill of earlier days, in any order.
                _ if next_day > 0 => (0..rng.random_range(1..4))
                    .map(|_| days[rng.random_range(0..next_day)])
                    .collect(),
                _ => vec![days[0]],
            };
            for day in chosen {
                for n in 1..=4u32 {
                    for session in ["AM", "PM"] {
                        // Leave a few sessions out so some pupils get days without marks.
                        if rng.random_bool(0.9) {
                            let code = pool[rng.random_range(0..pool.len())];
                            marks.push(mark(n, day, session, code));
                        }
                    }
                }
            }
            // One mark per session in a push.
            let mut seen = std::collections::HashSet::new();
            marks.retain(|m| {
                seen.insert((
                    m["upn"].to_string(),
                    m["date"].to_string(),
                    m["session"].to_string(),
                ))
            });
            if marks.is_empty() {
                continue;
            }
            push(&app, &s.oakfield, OAKFIELD, marks).await;
            if step % 3 == 2 {
                assert_maintained_equals_recomputed(&app, &format!("step {step}"));
            }
        }
        assert_maintained_equals_recomputed(&app, "the last push");
        // The run produced every kind of alert at least once, so the comparison covered them.
        let all = alerts(&app, &s.la, "state=all&limit=500").await;
        for kind in ["persistent_absence", "unexplained_absence_overdue"] {
            assert!(
                all.iter().any(|a| a["kind"] == kind),
                "no {kind} in {all:?}"
            );
        }
    }
);

// Night after night of pushes with no other write of the school in between, as a school's MIS
// sends them, with pupils missing from a night, sessions left out, minutes late, and
// corrections of one pupil or of several mixed in: every mark reads back as last sent, and the
// tallies and alerts equal a full recomputation.
on_both_backends!(nightly_pushes_keep_every_mark, |app| {
    let s = setup(&app).await;
    let days = weekdays("2026-10-05", "2026-11-13");
    let pool = ["/", "/", "/", "I", "I", "N", "O", "L", "U", "M"];
    let mut rng = StdRng::seed_from_u64(20261206);
    let mut expected: std::collections::BTreeMap<(u32, NaiveDate, &str), (&str, Option<i64>)> =
        std::collections::BTreeMap::new();
    let mark_with = |n: u32, day: NaiveDate, session: &str, code: &str, late: Option<i64>| {
        let mut m = mark(n, day, session, code);
        if let Some(late) = late {
            m["minutes_late"] = json!(late);
        }
        m
    };
    let late_for = |code: &str, rng: &mut StdRng| {
        (matches!(code, "L" | "U") && rng.random_bool(0.7)).then(|| rng.random_range(0..=300))
    };
    for (night, day) in days.iter().enumerate() {
        let mut marks = Vec::new();
        for n in 1..=5u32 {
            // Now and then a pupil is not in a night's push at all.
            if rng.random_bool(0.1) {
                continue;
            }
            for session in ["AM", "PM"] {
                if rng.random_bool(0.9) {
                    let code = pool[rng.random_range(0..pool.len())];
                    let late = late_for(code, &mut rng);
                    marks.push(mark_with(n, *day, session, code, late));
                    expected.insert((n, *day, session), (code, late));
                }
            }
        }
        // Corrections of earlier nights: one pupil (read beside the cache) or three (more
        // than a quarter of the push: the school read again).
        if night > 0 && night % 4 == 0 {
            let corrected = if night % 8 == 0 { 3 } else { 1 };
            for n in 1..=corrected {
                let earlier = days[rng.random_range(0..night)];
                let code = pool[rng.random_range(0..pool.len())];
                let late = late_for(code, &mut rng);
                marks.push(mark_with(n, earlier, "PM", code, late));
                expected.insert((n, earlier, "PM"), (code, late));
            }
        }
        if marks.is_empty() {
            continue;
        }
        push(&app, &s.oakfield, OAKFIELD, marks).await;
    }
    for n in 1..=5u32 {
        let r = app
            .get(
                &s.la,
                &format!(
                    "/api/v1/pupils/{}/marks?from=2026-10-05&to=2026-11-13",
                    upn(n)
                ),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let read: Vec<(NaiveDate, String, String, Option<i64>)> = r.json()["marks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    date(m["date"].as_str().unwrap()),
                    m["session"].as_str().unwrap().to_string(),
                    m["code"].as_str().unwrap().to_string(),
                    m["minutes_late"].as_i64(),
                )
            })
            .collect();
        let sent: Vec<(NaiveDate, String, String, Option<i64>)> = expected
            .iter()
            .filter(|((pupil, _, _), _)| *pupil == n)
            .map(|((_, day, session), (code, late))| {
                (*day, session.to_string(), code.to_string(), *late)
            })
            .collect();
        assert_eq!(read, sent, "marks of pupil {n}");
    }
    assert_maintained_equals_recomputed(&app, "the last night");
});

// The same across the academic-year boundary: the summer term of 2025-26 and the autumn of
// 2026-27, with illness common enough that runs stay open over the summer (R4.3), and back-fills
// and corrections of July pushed after September's marks. A nightly push reads only the pupil's
// current year, so this checks that every push that needs the year before still reads it (with
// two years of marks; a pupil with a later year is read with the year before too, which only a
// third year could tell apart).
on_both_backends!(
    maintained_counters_equal_recomputation_across_the_year_boundary,
    |app| {
        let s = setup(&app).await;
        // On the roll since the spring, so July's marks are accepted too.
        let pupils: Vec<Value> = (1..=5)
            .map(|n| {
                let mut p = common::pupil(n);
                p["on_roll_from"] = json!("2026-04-20");
                p
            })
            .collect();
        let r = app
            .put_json(
                &s.oakfield,
                "/api/v1/schools/117001/pupils",
                &json!({ "pupils": pupils }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let mut days = weekdays("2026-07-06", "2026-07-22");
        days.extend(weekdays("2026-09-03", "2026-09-25"));
        let pool = ["/", "\\", "I", "I", "I", "I", "N", "O", "M"];
        let mut rng = StdRng::seed_from_u64(20260901);
        let mut next_day = 0usize;
        for step in 0..40 {
            let chosen: Vec<NaiveDate> = match rng.random_range(0..5) {
                0..=2 if next_day < days.len() => {
                    next_day += 1;
                    vec![days[next_day - 1]]
                }
                _ if next_day > 0 => (0..rng.random_range(1..3))
                    .map(|_| days[rng.random_range(0..next_day)])
                    .collect(),
                _ => vec![days[0]],
            };
            let mut marks = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for day in chosen {
                for n in 1..=4u32 {
                    for session in ["AM", "PM"] {
                        if rng.random_bool(0.9) && seen.insert((n, day, session)) {
                            let code = pool[rng.random_range(0..pool.len())];
                            marks.push(mark(n, day, session, code));
                        }
                    }
                }
            }
            if marks.is_empty() {
                continue;
            }
            push(&app, &s.oakfield, OAKFIELD, marks).await;
            if step % 4 == 3 {
                assert_maintained_equals_recomputed(&app, &format!("step {step}"));
            }
        }
        assert_maintained_equals_recomputed(&app, "the last push");
    }
);

// A database from before `registers` (one `marks` row per session, one `attendance_tallies` row
// per pupil and year) is converted when the app starts: its marks read back through the API,
// the tallies are built from them, the old tables are emptied, and pushes carry on from there.
on_both_backends!(marks_of_the_old_layout_are_converted_on_start_up, |app| {
    use diesel::connection::SimpleConnection;
    use esma_api::service::attendance::convert_old_marks;

    let s = setup(&app).await;
    let days = weekdays("2026-11-16", "2026-11-20");
    let mut sql = String::new();
    for (i, day) in days.iter().enumerate() {
        let am = if i == 0 { "'L', 12" } else { "'I', NULL" };
        sql.push_str(&format!(
            "INSERT INTO marks (school_urn, upn, mark_date, session, code, minutes_late) \
             VALUES ({OAKFIELD}, '{}', '{day}', 'AM', {am}); \
             INSERT INTO marks (school_urn, upn, mark_date, session, code, minutes_late) \
             VALUES ({OAKFIELD}, '{}', '{day}', 'PM', 'I', NULL); ",
            upn(1),
            upn(1)
        ));
    }
    sql.push_str(&format!(
        "INSERT INTO marks (school_urn, upn, mark_date, session, code, minutes_late) \
         VALUES ({OAKFIELD}, '{}', '2026-11-16', 'AM', 'C1', NULL); \
         INSERT INTO marks (school_urn, upn, mark_date, session, code, minutes_late) \
         VALUES ({HILLSIDE}, '{}', '2026-11-17', 'PM', 'M', NULL); \
         INSERT INTO attendance_tallies (school_urn, academic_year, upn, latest_slot, state) \
         VALUES ({OAKFIELD}, 2026, '{}', 1, '[]');",
        upn(2),
        upn(6),
        upn(1)
    ));
    app.db().conn().unwrap().batch_execute(&sql).unwrap();

    let policy = AttendancePolicy::default();
    assert_eq!(
        convert_old_marks(app.db(), &policy).unwrap(),
        12,
        "both schools' marks"
    );
    // Once converted, nothing is left to convert.
    assert_eq!(convert_old_marks(app.db(), &policy).unwrap(), 0);
    let old_rows: i64 = {
        use diesel::prelude::*;
        let mut conn = app.db().conn().unwrap();
        let marks: i64 = esma_api::store::schema::marks::table
            .count()
            .get_result(&mut conn)
            .unwrap();
        let tallies: i64 = esma_api::store::schema::attendance_tallies::table
            .count()
            .get_result(&mut conn)
            .unwrap();
        marks + tallies
    };
    assert_eq!(old_rows, 0);

    let marks = app
        .get(
            &s.la,
            &format!(
                "/api/v1/pupils/{}/marks?from=2026-11-16&to=2026-11-20",
                upn(1)
            ),
        )
        .await
        .json();
    let items = marks["marks"].as_array().unwrap();
    assert_eq!(items.len(), 10, "{marks}");
    assert!(
        items
            .iter()
            .any(|m| m["code"] == "L" && m["minutes_late"] == 12),
        "{marks}"
    );
    let other = app
        .get(
            &s.la,
            &format!(
                "/api/v1/pupils/{}/marks?from=2026-11-16&to=2026-11-20",
                upn(2)
            ),
        )
        .await
        .json();
    assert_eq!(other["marks"][0]["code"], "C1", "{other}");
    let hillside = app
        .get(
            &s.la,
            &format!(
                "/api/v1/pupils/{}/marks?from=2026-11-16&to=2026-11-20",
                upn(6)
            ),
        )
        .await
        .json();
    assert_eq!(hillside["marks"][0]["code"], "M", "{hillside}");
    assert_eq!(hillside["marks"][0]["school_urn"], HILLSIDE, "{hillside}");
    let a = app
        .get(&s.la, &format!("/api/v1/pupils/{}/attendance", upn(1)))
        .await
        .json();
    assert_eq!(a["by_code"], json!({"L": 1, "I": 9}), "{a}");
    // The tallies built are what a recomputation gives.
    assert_maintained_equals_recomputed(&app, "after the conversion");

    // A push of the same marks changes nothing; a correction is one update.
    let mut again: Vec<Value> = days
        .iter()
        .flat_map(|d| [mark(1, *d, "AM", "I"), mark(1, *d, "PM", "I")])
        .collect();
    again[0] = json!({"upn": upn(1), "date": days[0].to_string(), "session": "AM", "code": "L", "minutes_late": 12});
    again[1] = mark(1, days[0], "PM", "/");
    let r = app
        .send(
            TestRequest::post()
                .uri("/api/v1/schools/117001/registers")
                .insert_header(("authorization", format!("Bearer {}", s.oakfield)))
                .set_json(json!({ "marks": again })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let report = r.json();
    assert_eq!(
        (
            report["inserted"].as_u64(),
            report["updated"].as_u64(),
            report["unchanged"].as_u64()
        ),
        (Some(0), Some(1), Some(9))
    );
    assert_maintained_equals_recomputed(&app, "after a correction");
});
