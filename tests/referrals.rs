//! Referral intake, assessment, decision and withdrawal (API.md "Referrals"; RULES.md R8-R10;
//! issue 5), on both backends. The clock is 2026-11-23 unless a test moves it.

mod common;

use actix_web::test::TestRequest;
use chrono::{Datelike, Days, Weekday};
use common::{calendar, date, setup, upn, Reply, TestApp, HILLSIDE, OAKFIELD};
use esma_api::clock::Clock;
use esma_api::domain::access::Role;
use serde_json::{json, Value};

/// A service request for pupil `n` of `urn` with everything Annex 2 asks for.
fn request(n: u32, urn: i64) -> Value {
    json!({
        "school_urn": urn,
        "pupil": {"upn": upn(n), "legal_forename": format!("Pupil{n}"), "legal_surname": "Test",
                  "date_of_birth": "2014-03-02", "postcode": "SG1 2AB", "home_la_code": 919,
                  "elective_home_education": false},
        "absence": {"first_day": "2026-10-01", "authorised_by_school": true, "reduced_timetable": false},
        "medical": {
            "condition_category": "mental_health", "condition": "Anxiety disorder",
            "long_term_or_recurrent": false, "hospital_inpatient": false,
            "evidence": [{"source": "camhs", "professional_name": "Dr A. Patel", "contact": "01438 000000",
                          "issued_on": "2026-10-10", "states_unable_to_attend": true,
                          "likely_duration_school_days": 40}],
            "treatment_plan_attached": false
        },
        "consent": {"parental_consent_signed": true, "signed_on": "2026-10-12", "signatory": "Parent"},
        "support": {"apdr_attached": true, "current_support_plan": "Key adult, work sent home",
                    "reintegration_plan_attached": false, "ihcp": true},
        "funding": {"ehcp": false, "local_high_needs_funding": false, "pupil_premium": false},
        "baseline": {"attainment": "Expected", "engagement": "Low", "wellbeing": "Low mood"},
        "pupil_voice": "I want to keep up",
        "referrer": {"name": "Sam Reed", "role": "SENDCo", "email": "sendco@oakfield.example.org"}
    })
}

async fn post(app: &TestApp, token: &str, uri: &str, body: Option<&Value>) -> Reply {
    let mut req = TestRequest::post()
        .uri(uri)
        .insert_header(("authorization", format!("Bearer {token}")));
    if let Some(body) = body {
        req = req.set_json(body);
    }
    app.send(req).await
}

async fn merge_patch(app: &TestApp, token: &str, id: i64, patch: &Value) -> Reply {
    app.send(
        TestRequest::patch()
            .uri(&format!("/api/v1/referrals/{id}"))
            .insert_header(("authorization", format!("Bearer {token}")))
            .insert_header(("content-type", "application/merge-patch+json"))
            .set_payload(patch.to_string()),
    )
    .await
}

async fn refer(app: &TestApp, token: &str, body: &Value) -> Value {
    let r = post(app, token, "/api/v1/referrals", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    assert_eq!(
        r.header("location").as_deref(),
        Some(format!("/api/v1/referrals/{}", created["id"]).as_str())
    );
    created
}

/// Both sessions of every weekday from `from` to `to` for pupil `n` at `urn`, with `code`.
async fn push_days(app: &TestApp, token: &str, urn: i64, n: u32, from: &str, to: &str, code: &str) {
    let mut marks = Vec::new();
    let mut day = date(from);
    while day <= date(to) {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            for session in ["AM", "PM"] {
                marks.push(json!({"upn": upn(n), "date": day.to_string(), "session": session, "code": code}));
            }
        }
        day = day + Days::new(1);
    }
    let r = post(
        app,
        token,
        &format!("/api/v1/schools/{urn}/registers"),
        Some(&json!({ "marks": marks })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["rejected"], 0, "{}", r.text());
}

fn criterion<'a>(referral: &'a Value, id: &str) -> &'a Value {
    referral["assessment"]["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("criterion {id} in {referral}"))
}

fn missing(referral: &Value) -> Vec<String> {
    referral["assessment"]["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["item"].as_str().unwrap().to_string())
        .collect()
}

fn accept_body() -> Value {
    json!({"outcome": "accepted", "start_date": "2026-12-01",
           "provision": [{"kind": "one_to_one_tuition", "hours_per_week": 5, "venue": "online"}],
           "decided_by": "J. Smith, ESMA panel"})
}

on_both_backends!(
    a_complete_referral_is_assessed_against_the_register_and_explained,
    |app| {
        let s = setup(&app).await;
        let r = app
            .put_json(
                &s.la,
                "/api/v1/calendar/2026-27",
                &calendar(&["2027-05-03"]),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        // Ill every school day from 1 October (the half-term week is not pushed): 32 days.
        push_days(
            &app,
            &s.oakfield,
            OAKFIELD,
            1,
            "2026-10-01",
            "2026-10-23",
            "I",
        )
        .await;
        push_days(
            &app,
            &s.oakfield,
            OAKFIELD,
            1,
            "2026-11-02",
            "2026-11-20",
            "I",
        )
        .await;

        let created = refer(&app, &s.oakfield, &request(1, OAKFIELD)).await;
        assert_eq!(created["status"], "submitted");
        assert_eq!(created["assessment"]["outcome"], "eligible", "{created:#}");
        assert_eq!(
            created["assessment"]["policy"]["name"],
            "Hertfordshire ESMA"
        );
        assert_eq!(created["assessment"]["trigger"], "submitted");
        // R10.3: 15 school days after Monday 23 November 2026.
        assert_eq!(created["assessment_due_by"], "2026-12-14");
        assert_eq!(created["assessment_overdue"], false);
        for id in [
            "statutory_school_age",
            "medical_evidence",
            "absence_authorised",
            "la_resident",
            "fifteen_school_days",
            "not_electively_home_educated",
        ] {
            assert_eq!(
                criterion(&created, id)["outcome"],
                "met",
                "{id}: {created:#}"
            );
        }
        assert_eq!(
            criterion(&created, "fifteen_school_days")["reason"],
            "Illness recorded on 32 school days since 1 September 2026; 15 are needed."
        );
        assert!(criterion(&created, "absence_authorised")["reason"]
            .as_str()
            .unwrap()
            .contains("in the 64 sessions marked since 1 October 2026"));
        let facts = &created["assessment"]["facts"];
        assert_eq!(facts["illness_days_cumulative"], 32.0);
        assert_eq!(
            facts["illness_longest_streak_days"], 32.0,
            "the half term does not break the run"
        );
        assert_eq!(facts["national_curriculum_year"], 8);
        assert_eq!(facts["register_schools"], json!([OAKFIELD]));
        assert_eq!(
            created["request"]["medical"]["condition"],
            "Anxiety disorder"
        );
        assert!(missing(&created).is_empty());

        let id = created["id"].as_i64().unwrap();
        let got = app.get(&s.la, &format!("/api/v1/referrals/{id}")).await;
        assert_eq!(got.status, 200, "{}", got.text());
        let got = got.json();
        assert_eq!(got["assessment"], created["assessment"]);
        assert_eq!(got["assessment_history"].as_array().unwrap().len(), 1);

        // Every read and write of a referral is audited.
        let admin = app.token(Role::Admin, &[]).await;
        let trail = app
            .get(&admin, &format!("/api/v1/audit?upn={}", upn(1)))
            .await
            .json();
        let actions: Vec<(String, String)> = trail["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["resource_type"] == "referral")
            .map(|e| {
                (
                    e["action"].as_str().unwrap().into(),
                    e["actor_role"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            actions,
            // Newest first.
            [
                ("read".to_string(), "la".to_string()),
                ("create".to_string(), "school".to_string())
            ]
        );
    }
);

on_both_backends!(
    an_incomplete_referral_is_completed_by_merge_patch_and_reassessed,
    |app| {
        let s = setup(&app).await;
        let mut body = request(2, OAKFIELD);
        body["consent"] = json!({"parental_consent_signed": false});
        body.as_object_mut().unwrap().remove("baseline");
        body["absence"]["reduced_timetable"] = json!(true);
        let created = refer(&app, &s.oakfield, &body).await;
        assert_eq!(created["status"], "incomplete");
        assert_eq!(created["assessment"]["outcome"], "incomplete");
        assert_eq!(
            missing(&created),
            ["parental_consent", "baseline", "reintegration_plan"]
        );
        // No marks at all: the school's word is taken, with conditions; evidence says 40 days.
        assert_eq!(
            criterion(&created, "absence_authorised")["outcome"],
            "met_with_conditions"
        );
        assert_eq!(criterion(&created, "fifteen_school_days")["outcome"], "met");
        let id = created["id"].as_i64().unwrap();

        let patched = merge_patch(
        &app,
        &s.oakfield,
        id,
        &json!({"consent": {"parental_consent_signed": true, "signed_on": "2026-11-20", "signatory": "Parent"},
                "baseline": {"attainment": "Expected", "engagement": "Low", "wellbeing": "Low mood"},
                "support": {"reintegration_plan_attached": true},
                "pupil_voice": null}),
    )
    .await;
        assert_eq!(patched.status, 200, "{}", patched.text());
        let patched = patched.json();
        assert_eq!(patched["status"], "submitted");
        assert_eq!(patched["assessment"]["outcome"], "eligible", "{patched:#}");
        assert_eq!(patched["assessment"]["trigger"], "patched");
        assert_eq!(
            patched["request"]["support"]["apdr_attached"], true,
            "untouched fields stay"
        );
        assert_eq!(
            patched["request"]["pupil_voice"],
            Value::Null,
            "null removes"
        );
        let history: Vec<(String, String)> = patched["assessment_history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["trigger"].as_str().unwrap().into(),
                    a["outcome"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            history,
            [
                ("submitted".to_string(), "incomplete".to_string()),
                ("patched".to_string(), "eligible".to_string())
            ]
        );

        // A patch that breaks the form, or moves it to another school or pupil: 422 with pointers.
        let bad = merge_patch(
            &app,
            &s.oakfield,
            id,
            &json!({"medical": {"evidence": [{"source": "witch_doctor"}]}}),
        )
        .await;
        assert!(
            bad.pointers()[0].starts_with("/medical/evidence/0"),
            "{}",
            bad.text()
        );
        let bad = merge_patch(
            &app,
            &s.oakfield,
            id,
            &json!({"referrer": {"email": "not-an-email"}}),
        )
        .await;
        assert_eq!(bad.pointers(), ["/referrer/email"], "{}", bad.text());
        merge_patch(&app, &s.oakfield, id, &json!({"school_urn": HILLSIDE}))
            .await
            .problem(422);
        assert_eq!(
            merge_patch(&app, &s.oakfield, id, &json!({"pupil": {"upn": upn(3)}}))
                .await
                .pointers(),
            ["/pupil/upn"]
        );
        merge_patch(&app, &s.oakfield, id, &json!([1, 2]))
            .await
            .problem(422);
        let wrong_type = app
            .send(
                TestRequest::patch()
                    .uri(&format!("/api/v1/referrals/{id}"))
                    .insert_header(("authorization", format!("Bearer {}", s.oakfield)))
                    .insert_header(("content-type", "text/plain"))
                    .set_payload("{}"),
            )
            .await;
        wrong_type.problem(415);

        // Asking for a fresh assessment keeps the history.
        let again = post(
            &app,
            &s.oakfield,
            &format!("/api/v1/referrals/{id}/assessment"),
            None,
        )
        .await;
        assert_eq!(again.status, 200, "{}", again.text());
        let again = again.json();
        assert_eq!(again["assessment"]["trigger"], "requested");
        assert_eq!(again["assessment_history"].as_array().unwrap().len(), 3);
    }
);

on_both_backends!(the_la_decides_by_r10_2_and_acceptance_opens_a_case, |app| {
    let s = setup(&app).await;
    // Three days of illness, GP evidence for 5 days: not 15 days (R8.5) -> ineligible.
    push_days(
        &app,
        &s.oakfield,
        OAKFIELD,
        3,
        "2026-11-18",
        "2026-11-20",
        "I",
    )
    .await;
    let mut body = request(3, OAKFIELD);
    body["absence"]["first_day"] = json!("2026-11-18");
    body["medical"]["evidence"] = json!([{"source": "gp", "issued_on": "2026-11-18",
        "states_unable_to_attend": true, "likely_duration_school_days": 5}]);
    let created = refer(&app, &s.oakfield, &body).await;
    assert_eq!(
        created["assessment"]["outcome"], "ineligible",
        "{created:#}"
    );
    assert_eq!(
        created["status"], "submitted",
        "an ineligible referral awaits the LA's decision"
    );
    assert_eq!(
        criterion(&created, "medical_evidence")["outcome"],
        "met_with_conditions"
    );
    let fifteen = criterion(&created, "fifteen_school_days");
    assert_eq!(fifteen["outcome"], "not_met");
    assert_eq!(
        fifteen["reason"],
        "Illness recorded on 3 school days since 1 September 2026 (longest run: 3 days); 15 are needed, or medical evidence that the absence will last 15 school days or more. The school remains responsible for the first 15 days of absence."
    );
    assert_eq!(
        created["decline_reasons_offered"],
        json!([fifteen["reason"]])
    );
    let id = created["id"].as_i64().unwrap();
    let decide = format!("/api/v1/referrals/{id}/decision");

    // Only the LA decides.
    post(&app, &s.oakfield, &decide, Some(&accept_body()))
        .await
        .problem(403);
    // Accepting a referral that is not eligible needs an override reason.
    let r = post(&app, &s.la, &decide, Some(&accept_body())).await;
    assert_eq!(r.pointers(), ["/override_reason"], "{}", r.text());
    // Declining needs a reason, and is offered the failed criteria.
    let r = post(
        &app,
        &s.la,
        &decide,
        Some(&json!({"outcome": "declined", "decided_by": "J. Smith"})),
    )
    .await;
    assert_eq!(r.pointers(), ["/reasons"]);
    assert!(
        r.text()
            .contains("the criteria not met were: Illness recorded on 3 school days"),
        "{}",
        r.text()
    );
    // Home teaching needs a completed risk assessment; the start must be a school day.
    let mut home = accept_body();
    home["override_reason"] = json!("Consultant letter expected; panel agreed");
    home["provision"][0]["venue"] = json!("home");
    home["start_date"] = json!("2026-11-28");
    let r = post(&app, &s.la, &decide, Some(&home)).await;
    assert_eq!(
        r.pointers(),
        ["/risk_assessment_completed", "/start_date"],
        "{}",
        r.text()
    );
    let mut too_many_hours = accept_body();
    too_many_hours["provision"][0]["hours_per_week"] = json!(30);
    assert_eq!(
        post(&app, &s.la, &decide, Some(&too_many_hours))
            .await
            .pointers(),
        ["/provision/0/hours_per_week"]
    );

    home["risk_assessment_completed"] = json!(true);
    home["start_date"] = json!("2026-11-30");
    let accepted = post(&app, &s.la, &decide, Some(&home)).await;
    assert_eq!(accepted.status, 200, "{}", accepted.text());
    let accepted = accepted.json();
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(accepted["decision"]["outcome"], "accepted");
    assert_eq!(
        accepted["decision"]["override_reason"],
        "Consultant letter expected; panel agreed"
    );
    assert_eq!(accepted["case"]["status"], "active");
    assert_eq!(accepted["case"]["start_date"], "2026-11-30");
    assert_eq!(accepted["case"]["upn"], upn(3));
    assert_eq!(accepted["case"]["provision"][0]["venue"], "home");
    assert_eq!(accepted["decline_reasons_offered"], json!([]));

    // Decided: no second decision, no withdrawal, no patch, no re-assessment (409 with the state).
    let r = post(
        &app,
        &s.la,
        &decide,
        Some(&json!({"outcome": "declined", "reasons": ["x"], "decided_by": "J"})),
    )
    .await;
    assert!(r.problem(409)["detail"]
        .as_str()
        .unwrap()
        .contains("has been decided (accepted)"));
    post(
        &app,
        &s.oakfield,
        &format!("/api/v1/referrals/{id}/withdraw"),
        None,
    )
    .await
    .problem(409);
    merge_patch(&app, &s.oakfield, id, &json!({"pupil_voice": "x"}))
        .await
        .problem(409);
    post(
        &app,
        &s.la,
        &format!("/api/v1/referrals/{id}/assessment"),
        None,
    )
    .await
    .problem(409);
    // R10.4: an active case blocks a new referral.
    let r = post(&app, &s.oakfield, "/api/v1/referrals", Some(&body)).await;
    assert!(r.problem(409)["detail"]
        .as_str()
        .unwrap()
        .contains("active ESMA case"));

    // Declining with reasons, and guidance only, on other pupils.
    let other = refer(&app, &s.oakfield, &request(4, OAKFIELD)).await;
    let r = post(
        &app,
        &s.la,
        &format!("/api/v1/referrals/{}/decision", other["id"]),
        Some(&json!({"outcome": "declined", "reasons": ["Support in school is more suitable"], "decided_by": "J. Smith"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "declined");
    assert_eq!(r.json()["case"], Value::Null);
    let third = refer(&app, &s.oakfield, &request(5, OAKFIELD)).await;
    let r = post(
        &app,
        &s.la,
        &format!("/api/v1/referrals/{}/decision", third["id"]),
        Some(&json!({"outcome": "guidance_only", "decided_by": "J. Smith"})),
    )
    .await;
    assert_eq!(r.json()["status"], "guidance_only", "{}", r.text());
    let listed = app
        .get(&s.la, "/api/v1/referrals?status=declined,guidance_only")
        .await
        .json();
    let ids: Vec<i64> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids,
        [other["id"].as_i64().unwrap(), third["id"].as_i64().unwrap()]
    );
    // A blank status is not "every status": the filter the caller meant is never dropped.
    for query in ["status=", "status=declined,"] {
        let r = app.get(&s.la, &format!("/api/v1/referrals?{query}")).await;
        assert_eq!(r.status, 422, "{query}: {}", r.text());
        assert_eq!(r.json()["errors"][0]["pointer"], "/query/status", "{query}");
    }
});

on_both_backends!(withdrawal_duplicates_and_re_referral, |app| {
    let s = setup(&app).await;
    let first = refer(&app, &s.oakfield, &request(1, OAKFIELD)).await;
    let id = first["id"].as_i64().unwrap();
    // R10.4: one open referral per pupil.
    let r = post(
        &app,
        &s.la,
        "/api/v1/referrals",
        Some(&request(1, OAKFIELD)),
    )
    .await;
    assert!(r.problem(409)["detail"]
        .as_str()
        .unwrap()
        .contains(&format!("open referral ({id})")));

    let r = post(
        &app,
        &s.oakfield,
        &format!("/api/v1/referrals/{id}/withdraw"),
        Some(&json!({"reason": "Back in school full time"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "withdrawn");
    assert_eq!(r.json()["withdrawal_reason"], "Back in school full time");
    let r = post(
        &app,
        &s.la,
        &format!("/api/v1/referrals/{id}/decision"),
        Some(&accept_body()),
    )
    .await;
    assert!(r.problem(409)["detail"]
        .as_str()
        .unwrap()
        .contains("was withdrawn"));
    post(
        &app,
        &s.oakfield,
        &format!("/api/v1/referrals/{id}/withdraw"),
        None,
    )
    .await
    .problem(409);
    // After the withdrawal the pupil can be referred again.
    let again = refer(&app, &s.oakfield, &request(1, OAKFIELD)).await;
    assert_ne!(again["id"], first["id"]);
    let mine = app
        .get(&s.oakfield, &format!("/api/v1/referrals?upn={}", upn(1)))
        .await
        .json();
    assert_eq!(mine["items"].as_array().unwrap().len(), 2);
    let open = app
        .get(&s.oakfield, "/api/v1/referrals?status=submitted,incomplete")
        .await
        .json();
    assert_eq!(open["items"].as_array().unwrap().len(), 1);
    app.get(&s.la, "/api/v1/referrals?status=open")
        .await
        .problem(422);
});

on_both_backends!(
    a_school_never_sees_or_changes_another_schools_referrals,
    |app| {
        let s = setup(&app).await;
        let created = refer(&app, &s.oakfield, &request(1, OAKFIELD)).await;
        let id = created["id"].as_i64().unwrap();

        app.get(&s.hillside, &format!("/api/v1/referrals/{id}"))
            .await
            .problem(404);
        merge_patch(&app, &s.hillside, id, &json!({"pupil_voice": "x"}))
            .await
            .problem(404);
        post(
            &app,
            &s.hillside,
            &format!("/api/v1/referrals/{id}/withdraw"),
            None,
        )
        .await
        .problem(404);
        post(
            &app,
            &s.hillside,
            &format!("/api/v1/referrals/{id}/assessment"),
            None,
        )
        .await
        .problem(404);
        let listed = app.get(&s.hillside, "/api/v1/referrals").await.json();
        assert_eq!(listed["items"], json!([]));
        app.get(&s.hillside, "/api/v1/referrals?school_urn=117001")
            .await
            .problem(404);
        // Referring for a school not yours is 403; your school but a pupil not on its roll is 422.
        post(
            &app,
            &s.hillside,
            "/api/v1/referrals",
            Some(&request(2, OAKFIELD)),
        )
        .await
        .problem(403);
        let r = post(
            &app,
            &s.hillside,
            "/api/v1/referrals",
            Some(&request(2, HILLSIDE)),
        )
        .await;
        assert_eq!(r.pointers(), ["/pupil/upn"]);
        assert!(
            r.text().contains("not on the roll of school 117002"),
            "{}",
            r.text()
        );
        // The LA and the referring school see it.
        assert_eq!(
            app.get(&s.oakfield, &format!("/api/v1/referrals/{id}"))
                .await
                .status,
            200
        );
        let all = app
            .get(&s.la, "/api/v1/referrals?school_urn=117001")
            .await
            .json();
        assert_eq!(all["items"].as_array().unwrap().len(), 1);
        // Refused reads are audited as such.
        let admin = app.token(Role::Admin, &[]).await;
        let trail = app.get(&admin, "/api/v1/audit?action=read").await.json();
        let refused: Vec<&Value> = trail["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["resource_type"] == "referral" && e["outcome"] == "not_found")
            .collect();
        assert_eq!(refused.len(), 1, "{trail:#}");
        assert_eq!(refused[0]["actor_role"], "school");
    }
);

on_both_backends!(referral_requests_are_validated_with_pointers, |app| {
    let s = setup(&app).await;
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(|b| b["pupil"]["upn"] = json!("H801200001009")),
            "/pupil/upn",
        ),
        (
            Box::new(|b| b["referrer"]["email"] = json!("sam")),
            "/referrer/email",
        ),
        (
            Box::new(|b| b["pupil"]["postcode"] = json!("12345")),
            "/pupil/postcode",
        ),
        (
            Box::new(|b| b["pupil"]["home_la_code"] = json!(9190)),
            "/pupil/home_la_code",
        ),
        (
            Box::new(|b| b["medical"]["evidence"][0]["likely_duration_school_days"] = json!(0)),
            "/medical/evidence/0/likely_duration_school_days",
        ),
        (
            Box::new(|b| b["medical"]["condition_category"] = json!("flu")),
            "/medical/condition_category",
        ),
        (
            Box::new(|b| b["pupil"]["date_of_birth"] = json!("2014-03-03")),
            "/pupil/date_of_birth",
        ),
        (
            Box::new(|b| b["pupil"]["date_of_birth"] = json!("2027-01-01")),
            "/pupil/date_of_birth",
        ),
        (
            Box::new(|b| {
                b.as_object_mut().unwrap().remove("referrer");
            }),
            "",
        ),
        (Box::new(|b| b["colour"] = json!("blue")), "/colour"),
    ];
    for (change, pointer) in cases {
        let mut body = request(1, OAKFIELD);
        change(&mut body);
        let r = post(&app, &s.oakfield, "/api/v1/referrals", Some(&body)).await;
        assert_eq!(r.status, 422, "{pointer}: {}", r.text());
        assert_eq!(r.pointers(), [pointer], "{}", r.text());
    }
    let r = app
        .send(
            TestRequest::post()
                .uri("/api/v1/referrals")
                .insert_header(("authorization", format!("Bearer {}", s.oakfield)))
                .insert_header(("content-type", "application/json"))
                .set_payload("{\"school_urn\": 117001,"),
        )
        .await;
    r.problem(400);
    app.get(&s.la, "/api/v1/referrals/not-a-number")
        .await
        .problem(400);
    app.get(&s.la, "/api/v1/referrals/999").await.problem(404);
    // Nothing was stored by any of these.
    assert_eq!(
        app.get(&s.la, "/api/v1/referrals").await.json()["items"],
        json!([])
    );
});

on_both_backends!(
    an_undecided_referral_past_its_deadline_is_an_alert_until_decided,
    |app| {
        let s = setup(&app).await;
        app.put_json(
            &s.la,
            "/api/v1/calendar/2026-27",
            &calendar(&["2027-05-03"]),
        )
        .await;
        let mut app = app;
        // Received Friday 16 October 2026: the half term does not count (R10.3).
        app.state.clock = Clock::fixed(date("2026-10-16"));
        let created = refer(&app, &s.oakfield, &request(1, OAKFIELD)).await;
        assert_eq!(created["assessment_due_by"], "2026-11-13");
        let id = created["id"].as_i64().unwrap();
        let overdue = |items: &Value| -> Vec<Value> {
            items["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["kind"] == "assessment_overdue")
                .cloned()
                .collect()
        };
        app.state.clock = Clock::fixed(date("2026-11-13"));
        assert!(
            overdue(&app.get(&s.la, "/api/v1/alerts").await.json()).is_empty(),
            "due, not overdue"
        );

        app.state.clock = Clock::fixed(date("2026-11-16"));
        let alerts = app
            .get(&s.la, "/api/v1/alerts?kind=assessment_overdue")
            .await;
        assert_eq!(alerts.status, 200, "{}", alerts.text());
        let listed = overdue(&alerts.json());
        assert_eq!(listed.len(), 1, "{}", alerts.text());
        assert_eq!(listed[0]["upn"], upn(1));
        assert_eq!(listed[0]["due_by"], "2026-11-13");
        assert_eq!(listed[0]["since"], "2026-11-14");
        assert_eq!(listed[0]["facts"]["referral_id"], id);
        assert_eq!(listed[0]["facts"]["school_days_overdue"], 1);
        // Looking again does not raise it twice; the school sees its own.
        assert_eq!(
            overdue(&app.get(&s.oakfield, "/api/v1/alerts").await.json()).len(),
            1
        );
        assert!(overdue(&app.get(&s.hillside, "/api/v1/alerts").await.json()).is_empty());
        let got = app
            .get(&s.la, &format!("/api/v1/referrals/{id}"))
            .await
            .json();
        assert_eq!(got["assessment_overdue"], true);
        let late = app
            .get(&s.la, "/api/v1/referrals?overdue=true")
            .await
            .json();
        assert_eq!(late["items"].as_array().unwrap().len(), 1);

        let r = post(
        &app,
        &s.la,
        &format!("/api/v1/referrals/{id}/decision"),
        Some(&json!({"outcome": "declined", "reasons": ["Support in school"], "decided_by": "J. Smith"})),
    )
    .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(overdue(&app.get(&s.la, "/api/v1/alerts").await.json()).is_empty());
        let resolved = app
            .get(
                &s.la,
                "/api/v1/alerts?kind=assessment_overdue&state=resolved",
            )
            .await
            .json();
        let resolved = overdue(&resolved);
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0]["resolved_on"], "2026-11-16");
        assert_eq!(resolved[0]["resolution"], "decided: declined");
        assert_eq!(
            app.get(&s.la, "/api/v1/referrals?overdue=true")
                .await
                .json()["items"],
            json!([])
        );
    }
);

on_both_backends!(the_register_decides_absence_authorised_with_dates, |app| {
    let s = setup(&app).await;
    push_days(
        &app,
        &s.oakfield,
        OAKFIELD,
        2,
        "2026-10-01",
        "2026-10-02",
        "I",
    )
    .await;
    push_days(
        &app,
        &s.oakfield,
        OAKFIELD,
        2,
        "2026-10-05",
        "2026-10-05",
        "G",
    )
    .await;
    push_days(
        &app,
        &s.oakfield,
        OAKFIELD,
        2,
        "2026-11-16",
        "2026-11-16",
        "N",
    )
    .await;
    let created = refer(&app, &s.oakfield, &request(2, OAKFIELD)).await;
    let c = criterion(&created, "absence_authorised");
    assert_eq!(c["outcome"], "not_met");
    assert_eq!(
        c["reason"],
        "The register records unauthorised absence since 1 October 2026: 5 October 2026 AM (G), 5 October 2026 PM (G)."
    );
    assert_eq!(
        c["evidence"]["unexplained_sessions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(created["assessment"]["outcome"], "ineligible");
});

/// Submits `body`, returns the referral and withdraws it so the pupil can be referred again.
async fn assess_once(app: &TestApp, token: &str, body: &Value) -> Value {
    let created = refer(app, token, body).await;
    let r = post(
        app,
        token,
        &format!("/api/v1/referrals/{}/withdraw", created["id"]),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    created
}

on_both_backends!(every_criterion_outcome_through_the_api, |app| {
    let s = setup(&app).await;
    // Pupil 1: ill on 16 school days (R4.2); pupil 2: no marks; pupil 3: a G in October.
    push_days(
        &app,
        &s.oakfield,
        OAKFIELD,
        1,
        "2026-10-26",
        "2026-11-16",
        "I",
    )
    .await;
    push_days(
        &app,
        &s.oakfield,
        OAKFIELD,
        3,
        "2026-10-05",
        "2026-10-05",
        "G",
    )
    .await;
    type Change = Box<dyn Fn(&mut Value)>;
    let same: Change = Box::new(|_| {});
    let cases: Vec<(u32, Change, &str, &str)> = vec![
        (1, Box::new(|_| {}), "statutory_school_age", "met"),
        (
            1,
            Box::new(|b| b["pupil"]["date_of_birth"] = json!("2014-03-02")),
            "statutory_school_age",
            "met",
        ),
        (1, Box::new(|_| {}), "medical_evidence", "met"),
        (
            1,
            Box::new(|b| b["medical"]["evidence"][0]["source"] = json!("school_nurse")),
            "medical_evidence",
            "met_with_conditions",
        ),
        (
            1,
            Box::new(|b| b["medical"]["evidence"][0]["issued_on"] = json!("2026-05-01")),
            "medical_evidence",
            "met_with_conditions",
        ),
        (
            1,
            Box::new(|b| b["medical"]["evidence"][0]["source"] = json!("other")),
            "medical_evidence",
            "not_met",
        ),
        (
            1,
            Box::new(|b| b["medical"]["evidence"] = json!([])),
            "medical_evidence",
            "unknown",
        ),
        (1, Box::new(|_| {}), "absence_authorised", "met"),
        (
            2,
            Box::new(|_| {}),
            "absence_authorised",
            "met_with_conditions",
        ),
        (3, Box::new(|_| {}), "absence_authorised", "not_met"),
        (
            1,
            Box::new(|b| b["absence"]["authorised_by_school"] = json!(false)),
            "absence_authorised",
            "not_met",
        ),
        (
            1,
            Box::new(|b| b["absence"]["authorised_by_school"] = Value::Null),
            "absence_authorised",
            "unknown",
        ),
        (1, Box::new(|_| {}), "la_resident", "met"),
        (
            1,
            Box::new(|b| b["pupil"]["home_la_code"] = json!(873)),
            "la_resident",
            "not_met",
        ),
        (
            1,
            Box::new(|b| b["pupil"]["home_la_code"] = Value::Null),
            "la_resident",
            "unknown",
        ),
        (
            1,
            Box::new(|b| b["medical"]["evidence"][0]["likely_duration_school_days"] = json!(3)),
            "fifteen_school_days",
            "met",
        ),
        (2, Box::new(|_| {}), "fifteen_school_days", "met"),
        (
            2,
            Box::new(|b| b["medical"]["evidence"][0]["likely_duration_school_days"] = json!(3)),
            "fifteen_school_days",
            "not_met",
        ),
        (
            2,
            Box::new(|b| {
                b["medical"]["evidence"][0]["likely_duration_school_days"] = json!(3);
                b["medical"]["long_term_or_recurrent"] = json!(true);
            }),
            "fifteen_school_days",
            "met",
        ),
        (1, Box::new(|_| {}), "not_electively_home_educated", "met"),
        (
            1,
            Box::new(|b| b["pupil"]["elective_home_education"] = json!(true)),
            "not_electively_home_educated",
            "not_met",
        ),
        (1, same, "statutory_school_age", "met"),
    ];
    for (n, change, id, expected) in cases {
        let mut body = request(n, OAKFIELD);
        if n != 1 {
            body["pupil"]["legal_forename"] = json!(format!("Pupil{n}"));
        }
        change(&mut body);
        let assessed = assess_once(&app, &s.oakfield, &body).await;
        let c = criterion(&assessed, id);
        assert_eq!(c["outcome"], expected, "pupil {n}, {id}: {c:#}");
        assert!(c["reason"].as_str().unwrap().ends_with('.'), "{c:#}");
        let outcome = &assessed["assessment"]["outcome"];
        match expected {
            "not_met" => assert_eq!(outcome, "ineligible", "{id}"),
            "unknown" => assert_eq!(outcome, "incomplete", "{id}"),
            _ => {}
        }
    }
    // The age criterion against the roll's own date of birth: a pupil past 16 cannot be on a
    // primary roll in this fixture, so R7 edges are covered by the domain tests.
});

on_both_backends!(every_missing_item_through_the_api, |app| {
    let s = setup(&app).await;
    // 16 days of illness: R8.5 is met by the register whatever the evidence says.
    push_days(
        &app,
        &s.oakfield,
        OAKFIELD,
        2,
        "2026-10-26",
        "2026-11-16",
        "I",
    )
    .await;
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(|b| b["medical"]["evidence"] = json!([])),
            "medical_evidence",
        ),
        (
            Box::new(|b| b["consent"]["parental_consent_signed"] = json!(false)),
            "parental_consent",
        ),
        (
            Box::new(|b| b["medical"]["condition"] = Value::Null),
            "condition",
        ),
        (
            Box::new(|b| b["medical"]["evidence"][0]["likely_duration_school_days"] = Value::Null),
            "likely_duration",
        ),
        (
            Box::new(|b| b["support"]["current_support_plan"] = json!(" ")),
            "support_plan",
        ),
        (
            Box::new(|b| b["support"]["apdr_attached"] = json!(false)),
            "apdr",
        ),
        (
            Box::new(|b| b["baseline"]["engagement"] = Value::Null),
            "baseline",
        ),
        (
            Box::new(|b| b["funding"]["pupil_premium"] = json!(true)),
            "funding_statement",
        ),
        (
            Box::new(|b| b["absence"]["reduced_timetable"] = json!(true)),
            "reintegration_plan",
        ),
        (
            Box::new(|b| {
                b["medical"]["long_term_or_recurrent"] = json!(true);
                b["medical"]["named_medical_contact"] = json!("Dr Patel, CAMHS");
            }),
            "treatment_plan",
        ),
        (
            Box::new(|b| {
                b["medical"]["long_term_or_recurrent"] = json!(true);
                b["medical"]["treatment_plan_attached"] = json!(true);
            }),
            "named_medical_contact",
        ),
    ];
    for (change, item) in cases {
        let mut body = request(2, OAKFIELD);
        change(&mut body);
        let assessed = assess_once(&app, &s.oakfield, &body).await;
        let found = missing(&assessed);
        assert!(found.contains(&item.to_string()), "{item}: {found:?}");
        if item != "medical_evidence" {
            assert_eq!(found, [item], "only {item} is missing");
        }
        assert_eq!(assessed["status"], "incomplete", "{item}");
        assert_eq!(assessed["assessment"]["outcome"], "incomplete", "{item}");
    }
});

on_both_backends!(every_lifecycle_transition_and_refusal, |app| {
    let s = setup(&app).await;
    let mut incomplete = request(1, OAKFIELD);
    incomplete["support"]["apdr_attached"] = json!(false);
    // incomplete -> accepted (an override is needed: it is not eligible).
    let r = refer(&app, &s.oakfield, &incomplete).await;
    assert_eq!(r["status"], "incomplete");
    let decide = format!("/api/v1/referrals/{}/decision", r["id"]);
    assert_eq!(
        post(&app, &s.la, &decide, Some(&accept_body()))
            .await
            .pointers(),
        ["/override_reason"]
    );
    let mut overridden = accept_body();
    overridden["override_reason"] = json!("APDR seen at the panel meeting");
    let r = post(&app, &s.la, &decide, Some(&overridden)).await;
    assert_eq!(r.json()["status"], "accepted", "{}", r.text());

    // incomplete -> declined, incomplete -> guidance_only, incomplete -> withdrawn.
    for (n, outcome) in [(2, "declined"), (3, "guidance_only")] {
        let mut body = incomplete.clone();
        body["pupil"]["upn"] = json!(upn(n));
        body["pupil"]["legal_forename"] = json!(format!("Pupil{n}"));
        let r = refer(&app, &s.oakfield, &body).await;
        let d = post(
            &app,
            &s.la,
            &format!("/api/v1/referrals/{}/decision", r["id"]),
            Some(&json!({"outcome": outcome, "reasons": ["Support in school first"], "decided_by": "J. Smith"})),
        )
        .await;
        assert_eq!(d.json()["status"], outcome, "{}", d.text());
        // Every change to a decided referral is refused with its state.
        let id = r["id"].as_i64().unwrap();
        for reply in [
            merge_patch(&app, &s.oakfield, id, &json!({"pupil_voice": "x"})).await,
            post(
                &app,
                &s.oakfield,
                &format!("/api/v1/referrals/{id}/withdraw"),
                None,
            )
            .await,
            post(
                &app,
                &s.la,
                &format!("/api/v1/referrals/{id}/assessment"),
                None,
            )
            .await,
            post(
                &app,
                &s.la,
                &format!("/api/v1/referrals/{id}/decision"),
                Some(&overridden),
            )
            .await,
        ] {
            let detail = reply.problem(409)["detail"].as_str().unwrap().to_string();
            assert!(
                detail.contains(&format!("has been decided ({outcome})")),
                "{detail}"
            );
        }
    }
    let mut body = incomplete.clone();
    body["pupil"]["upn"] = json!(upn(4));
    body["pupil"]["legal_forename"] = json!("Pupil4");
    let r = refer(&app, &s.oakfield, &body).await;
    let id = r["id"].as_i64().unwrap();
    let w = post(
        &app,
        &s.la,
        &format!("/api/v1/referrals/{id}/withdraw"),
        Some(&json!({})),
    )
    .await;
    assert_eq!(w.json()["status"], "withdrawn", "{}", w.text());
    for reply in [
        merge_patch(&app, &s.oakfield, id, &json!({"pupil_voice": "x"})).await,
        post(
            &app,
            &s.la,
            &format!("/api/v1/referrals/{id}/assessment"),
            None,
        )
        .await,
    ] {
        assert!(reply.problem(409)["detail"]
            .as_str()
            .unwrap()
            .contains("was withdrawn"));
    }
    // A withdrawal body must be JSON with only a reason.
    let r = refer(&app, &s.oakfield, &{
        let mut b = incomplete.clone();
        b["pupil"]["upn"] = json!(upn(5));
        b
    })
    .await;
    let uri = format!("/api/v1/referrals/{}/withdraw", r["id"]);
    assert_eq!(
        post(&app, &s.oakfield, &uri, Some(&json!({"because": "x"})))
            .await
            .status,
        422
    );
    let text = app
        .send(
            TestRequest::post()
                .uri(&uri)
                .insert_header(("authorization", format!("Bearer {}", s.oakfield)))
                .insert_header(("content-type", "text/plain"))
                .set_payload("moved away"),
        )
        .await;
    text.problem(415);
    // submitted <-> incomplete both ways through patches.
    let id = r["id"].as_i64().unwrap();
    let up = merge_patch(
        &app,
        &s.oakfield,
        id,
        &json!({"support": {"apdr_attached": true}}),
    )
    .await;
    assert_eq!(up.json()["status"], "submitted", "{}", up.text());
    let down = merge_patch(
        &app,
        &s.oakfield,
        id,
        &json!({"consent": {"parental_consent_signed": false}}),
    )
    .await;
    assert_eq!(down.json()["status"], "incomplete");
    assert_eq!(
        down.json()["assessment"]["missing"][0]["item"],
        "parental_consent"
    );
});

on_both_backends!(
    referral_lists_page_by_cursor_and_writes_are_audited,
    |app| {
        let s = setup(&app).await;
        app.put_json(
            &s.la,
            "/api/v1/calendar/2026-27",
            &calendar(&["2027-05-03"]),
        )
        .await;
        let mut ids = Vec::new();
        for n in 1..=3 {
            ids.push(
                refer(&app, &s.oakfield, &request(n, OAKFIELD)).await["id"]
                    .as_i64()
                    .unwrap(),
            );
        }
        // Two pages of two, then one; the cursor carries on where the last page stopped.
        let first = app.get(&s.la, "/api/v1/referrals?limit=2").await.json();
        let page1: Vec<i64> = first["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect();
        assert_eq!(page1, ids[..2], "{first:#}");
        let cursor = first["next_cursor"]
            .as_str()
            .expect("a next page")
            .to_string();
        let second = app
            .get(&s.la, &format!("/api/v1/referrals?limit=2&cursor={cursor}"))
            .await
            .json();
        let page2: Vec<i64> = second["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect();
        assert_eq!(page2, ids[2..], "{second:#}");
        assert_eq!(second["next_cursor"], Value::Null, "the last page");
        app.get(&s.la, "/api/v1/referrals?cursor=not-a-cursor")
            .await
            .problem(400);

        // A patch, a decision and a withdrawal each leave an audit row naming who did it.
        let r = merge_patch(
            &app,
            &s.oakfield,
            ids[0],
            &json!({"pupil_voice": "I miss my friends"}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let r = post(
        &app,
        &s.la,
        &format!("/api/v1/referrals/{}/decision", ids[1]),
        Some(&json!({"outcome": "accepted", "start_date": "2026-11-30",
                     "provision": [{"kind": "one_to_one_tuition", "hours_per_week": 5, "venue": "online"}],
                     "decided_by": "J. Smith"})),
    )
    .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let r = post(
            &app,
            &s.oakfield,
            &format!("/api/v1/referrals/{}/withdraw", ids[2]),
            Some(&json!({"reason": "Back in school"})),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let admin = app.token(Role::Admin, &[]).await;
        for (action, id, role, n) in [
            ("update", ids[0], "school", 1),
            ("decide", ids[1], "la", 2),
            ("withdraw", ids[2], "school", 3),
        ] {
            let trail = app
                .get(&admin, &format!("/api/v1/audit?action={action}"))
                .await
                .json();
            let rows: Vec<&Value> = trail["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["resource_type"] == "referral")
                .collect();
            assert_eq!(rows.len(), 1, "{action}: {trail:#}");
            assert_eq!(rows[0]["resource_id"], id.to_string(), "{action}");
            assert_eq!(rows[0]["actor_role"], role, "{action}");
            assert_eq!(rows[0]["outcome"], "success", "{action}: {}", rows[0]);
            assert_eq!(rows[0]["upn"], upn(n), "{action}");
        }
    }
);

on_both_backends!(
    the_age_criterion_is_not_met_either_side_of_compulsory_school_age_and_ineligible_wins,
    |app| {
        let s = setup(&app).await;
        // Pupils 8 (born 2010-03-01: compulsory school age ended on 26 June 2026) and 9 (born
        // 2022-06-15: it starts on 31 August 2027, R7.1) on Oakfield's roll with those dates of birth.
        let mut older = common::pupil(8);
        older["date_of_birth"] = json!("2010-03-01");
        let mut younger = common::pupil(9);
        younger["date_of_birth"] = json!("2022-06-15");
        let r = app
            .put_json(
                &s.oakfield,
                "/api/v1/schools/117001/pupils",
                &json!({"pupils": [older, younger]}),
            )
            .await;
        assert_eq!(r.json()["inserted"], 2, "{}", r.text());

        let mut body = request(8, OAKFIELD);
        body["pupil"]["date_of_birth"] = json!("2010-03-01");
        let created = refer(&app, &s.oakfield, &body).await;
        let age = criterion(&created, "statutory_school_age");
        assert_eq!(age["outcome"], "not_met", "{created:#}");
        assert_eq!(
            age["reason"],
            "Pupil8 (born 1 March 2010) is no longer of compulsory school age on 23 November 2026: it ended on 26 June 2026."
        );
        assert_eq!(created["assessment"]["outcome"], "ineligible");
        assert!(created["decline_reasons_offered"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r
                .as_str()
                .unwrap()
                .contains("no longer of compulsory school age")));

        // Not yet of compulsory school age, and with items missing too: ineligible beats
        // incomplete (R9.1).
        let mut body = request(9, OAKFIELD);
        body["pupil"]["date_of_birth"] = json!("2022-06-15");
        body["consent"]["parental_consent_signed"] = json!(false);
        body["support"]["apdr_attached"] = json!(false);
        let created = refer(&app, &s.oakfield, &body).await;
        let age = criterion(&created, "statutory_school_age");
        assert_eq!(age["outcome"], "not_met", "{created:#}");
        assert!(age["reason"]
            .as_str()
            .unwrap()
            .contains("not yet of compulsory school age"));
        assert!(age["reason"].as_str().unwrap().contains("31 August 2027"));
        let gaps = missing(&created);
        assert!(
            gaps.contains(&"parental_consent".to_string()) && gaps.contains(&"apdr".to_string()),
            "{gaps:?}"
        );
        assert_eq!(
            created["assessment"]["outcome"], "ineligible",
            "not_met outranks missing items"
        );
        assert_eq!(
            created["status"], "submitted",
            "an ineligible referral awaits the LA's decision"
        );
    }
);
