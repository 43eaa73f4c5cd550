//! A pupil's personal details are held per school, as each school's MIS sends them (API.md
//! "Pupils"; issue 20 defect 1): one school's roll push never changes what another school said,
//! a school reads only its own record, the LA sees each school's and where they disagree, and a
//! referral is checked against the referring school's own record.

mod common;

use common::{calendar, pupil, setup, short_referral, upn, HILLSIDE, OAKFIELD};
use serde_json::{json, Value};

/// Pupil 6 of Hillside's roll as Oakfield's MIS (wrongly, or for a dual registration) has them.
fn oakfield_version_of_pupil_6() -> Value {
    json!({"upn": upn(6), "legal_forename": "Mallory", "legal_surname": "Intruder",
           "date_of_birth": "2013-01-01", "postcode": "AL1 1AA", "home_la_code": null,
           "ehcp": true, "sen_support": true, "pupil_premium": true,
           "on_roll_from": "2026-09-03", "on_roll_until": null})
}

fn field(view: &Value, school: i64) -> &Value {
    view["enrolments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["school_urn"] == school)
        .unwrap_or_else(|| panic!("no enrolment at {school}: {view}"))
}

on_both_backends!(
    one_schools_push_never_changes_another_schools_record,
    |app| {
        let s = setup(&app).await;
        app.put_json(&s.la, "/api/v1/calendar/2026-27", &calendar(&[]))
            .await;
        let pupil_6 = format!("/api/v1/pupils/{}", upn(6));

        // Oakfield puts Hillside's pupil on its own roll with other details: its own record only.
        let r = app
            .put_json(
                &s.oakfield,
                "/api/v1/schools/117001/pupils",
                &json!({"pupils": [oakfield_version_of_pupil_6()]}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["inserted"], 1);

        // Hillside still reads what its own MIS said, and nothing of Oakfield's.
        let seen = app.get(&s.hillside, &pupil_6).await;
        assert_eq!(seen.status, 200, "{}", seen.text());
        let seen = seen.json();
        assert_eq!(
            (
                &seen["legal_forename"],
                &seen["date_of_birth"],
                &seen["home_la_code"],
                &seen["ehcp"]
            ),
            (
                &json!("Pupil6"),
                &json!("2014-03-02"),
                &json!(919),
                &json!(false)
            )
        );
        assert_eq!(seen["enrolments"].as_array().unwrap().len(), 1, "{seen}");
        assert_eq!(seen["conflicts"], json!([]));
        assert!(!seen.to_string().contains("Mallory"), "{seen}");

        // The LA sees each school's record and where they disagree.
        let la_view = app.get(&s.la, &pupil_6).await.json();
        assert_eq!(field(&la_view, HILLSIDE)["legal_forename"], "Pupil6");
        assert_eq!(field(&la_view, OAKFIELD)["legal_forename"], "Mallory");
        assert_eq!(field(&la_view, OAKFIELD)["date_of_birth"], "2013-01-01");
        let conflicts: Vec<&str> = la_view["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            conflicts,
            [
                "legal_forename",
                "legal_surname",
                "date_of_birth",
                "postcode",
                "home_la_code",
                "ehcp",
                "sen_support",
                "pupil_premium"
            ]
        );
        assert_eq!(
            la_view["conflicts"][2]["values"],
            json!([{"school_urn": 117001, "value": "2013-01-01"}, {"school_urn": 117002, "value": "2014-03-02"}])
        );

        // Hillside's referral is checked against Hillside's own record: accepted for assessment.
        let r = app
            .call(
                "POST",
                &s.hillside,
                "/api/v1/referrals",
                Some(&short_referral(6, HILLSIDE)),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let hillside_referral = r.json()["id"].as_i64().unwrap();

        // Hillside pushes its roll again; Oakfield still reads only what its own MIS said.
        let r = app
            .put_json(
                &s.hillside,
                "/api/v1/schools/117002/pupils",
                &json!({"pupils": [pupil(6), pupil(7)]}),
            )
            .await;
        assert_eq!(r.json()["unchanged"], 2, "{}", r.text());
        let oak = app.get(&s.oakfield, &pupil_6).await.json();
        assert_eq!(
            (
                &oak["legal_forename"],
                &oak["date_of_birth"],
                &oak["postcode"],
                &oak["pupil_premium"]
            ),
            (
                &json!("Mallory"),
                &json!("2013-01-01"),
                &json!("AL1 1AA"),
                &json!(true)
            )
        );
        assert!(!oak.to_string().contains("Pupil6"), "{oak}");

        // Oakfield's referral for the pupil: a conflict that does not name Hillside's referral.
        let mut form = short_referral(6, OAKFIELD);
        form["pupil"]["date_of_birth"] = json!("2013-01-01");
        let r = app
            .call("POST", &s.oakfield, "/api/v1/referrals", Some(&form))
            .await;
        let problem = r.problem(409);
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains("another school"), "{detail}");
        assert!(
            !detail.contains(&format!("({hillside_referral})"))
                && !detail.contains("/api/v1/referrals/")
                && !detail.contains("117002"),
            "{detail}"
        );
        // Hillside, whose referral it is, is told which one.
        let r = app
            .call(
                "POST",
                &s.hillside,
                "/api/v1/referrals",
                Some(&short_referral(6, HILLSIDE)),
            )
            .await;
        let detail = r.problem(409)["detail"].as_str().unwrap().to_string();
        assert!(
            detail.contains(&format!("/api/v1/referrals/{hillside_referral}")),
            "{detail}"
        );
    }
);

on_both_backends!(
    a_referral_is_checked_against_the_referring_schools_record,
    |app| {
        let s = setup(&app).await;
        app.put_json(&s.la, "/api/v1/calendar/2026-27", &calendar(&[]))
            .await;
        app.put_json(
            &s.oakfield,
            "/api/v1/schools/117001/pupils",
            &json!({"pupils": [oakfield_version_of_pupil_6()]}),
        )
        .await;
        // Hillside's MIS pushes its roll again: Oakfield's record of the pupil stays Oakfield's.
        app.put_json(
            &s.hillside,
            "/api/v1/schools/117002/pupils",
            &json!({"pupils": [pupil(6)]}),
        )
        .await;
        // Oakfield's referral with Hillside's date of birth: refused against Oakfield's own record,
        // and the message gives Oakfield's date, not Hillside's.
        let r = app
            .call(
                "POST",
                &s.oakfield,
                "/api/v1/referrals",
                Some(&short_referral(6, OAKFIELD)),
            )
            .await;
        let detail = r.problem(422).to_string();
        assert!(
            detail.contains("school 117001's roll gives 2013-01-01"),
            "{detail}"
        );
        // With Oakfield's own date of birth it is received.
        let mut form = short_referral(6, OAKFIELD);
        form["pupil"]["date_of_birth"] = json!("2013-01-01");
        let r = app
            .call("POST", &s.oakfield, "/api/v1/referrals", Some(&form))
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
);
