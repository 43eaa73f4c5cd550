//! Retention (issue 20): the scan prunes audit rows, webhook events and attempts, and the change
//! feed's oldest changes once past their retention, never what is still needed; a change-feed
//! reader behind the pruned prefix is told (410). The clock is fixed at 2026-11-23.

mod common;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use esma_api::domain::access::Role;
use esma_api::domain::alerts::AlertKind;
use esma_api::domain::retention::RetentionPolicy;
use esma_api::service::retention;
use esma_api::store::alerts::{self, NewAlert};
use esma_api::store::audit::{self, NewAuditEvent};
use esma_api::store::changes::{self, NewChange};
use esma_api::store::schema::{audit_events, changes as changes_table, events, webhook_attempts};
use esma_api::store::webhooks::{
    self as hooks, AttemptResult, DeliveryJob, NewAttempt, NewDelivery, NewEvent, NewSubscription,
};

fn at(day: &str) -> NaiveDateTime {
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap()
}

fn audit_row(day: &str, action: &str) -> NewAuditEvent {
    NewAuditEvent {
        occurred_at: at(day),
        actor: "test".into(),
        actor_role: "la".into(),
        action: action.into(),
        resource_type: "school".into(),
        resource_id: "117001".into(),
        school_urn: Some(117001),
        upn: None,
        endpoint: "test".into(),
        outcome: "success".into(),
        correlation_id: None,
    }
}

on_both_backends!(audit_rows_go_after_six_years_and_not_before, |app| {
    app.db()
        .write(|conn| {
            // 2020-11-22 is more than six years before both the fixed clock and the database's.
            audit::append(
                conn,
                &[
                    audit_row("2019-06-01", "old"),
                    audit_row("2020-11-01", "old"),
                    audit_row("2021-01-04", "young"),
                ],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let report = retention::prune(&app.state, &RetentionPolicy::default())
        .await
        .unwrap();
    assert_eq!(report.audit_events, 2);
    let left: Vec<String> = app
        .db()
        .read(|conn| {
            Ok(audit_events::table
                .select(audit_events::action)
                .load(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(left, vec!["young".to_string()]);
    // Even a setting below the floor cannot remove a younger row: the database refuses.
    let reckless = RetentionPolicy {
        audit_days: 30,
        ..RetentionPolicy::default()
    };
    assert!(reckless.check().is_err());
    assert!(retention::prune(&app.state, &reckless).await.is_err());
    let still: i64 = app
        .db()
        .read(|conn| Ok(audit_events::table.count().get_result(conn)?))
        .await
        .unwrap();
    assert_eq!(still, 1);
});

/// An event at `day` with one delivery that ends `status` after an attempt on `day`.
fn event_with_delivery(
    conn: &mut esma_api::store::DbConnection,
    subscription_id: i64,
    n: u32,
    day: &str,
    outcome: Option<AttemptResult>,
    alert_id: Option<i64>,
) -> i64 {
    let written = hooks::insert_events(
        conn,
        &[NewEvent {
            message_id: format!("msg_{n}"),
            event_type: "referral.decided".into(),
            school_urn: 117001,
            occurred_at: at(day),
            payload: "{}".into(),
            dedupe_key: None,
            alert_id,
        }],
    )
    .unwrap();
    let event_id = written[0].1;
    hooks::insert_deliveries(
        conn,
        &[NewDelivery {
            subscription_id,
            event_id,
            attempts: 0,
            next_attempt_at: Some(at(day)),
            created_at: at(day),
        }],
    )
    .unwrap();
    if let Some(result) = outcome {
        let delivery_id: i64 = esma_api::store::schema::webhook_deliveries::table
            .filter(esma_api::store::schema::webhook_deliveries::event_id.eq(event_id))
            .select(esma_api::store::schema::webhook_deliveries::id)
            .first(conn)
            .unwrap();
        let job = DeliveryJob {
            delivery_id,
            attempts: 0,
            retry_schedule_from: 0,
            subscription_id,
            url: String::new(),
            secret: String::new(),
            message_id: format!("msg_{n}"),
            payload: "{}".into(),
        };
        let attempt = NewAttempt {
            delivery_id,
            attempted_at: at(day),
            status_code: Some(500),
            latency_ms: 1,
            error: None,
        };
        hooks::record_attempt(conn, &job, &attempt, &result).unwrap();
    }
    event_id
}

on_both_backends!(webhook_events_and_attempts_go_once_over_and_old, |app| {
    common::setup(&app).await;
    let (client_id, _) = app.client(Role::La, &[]);
    let kept: Vec<i64> = app
        .db()
        .write(move |conn| {
            let subscription_id = hooks::insert_subscription(
                conn,
                &NewSubscription {
                    client_id,
                    role: "la".into(),
                    schools: "[]".into(),
                    url: "https://example.org/hook".into(),
                    events: "[\"referral.decided\"]".into(),
                    description: None,
                    secret: "whsec_x".into(),
                    created_at: at("2026-01-05"),
                    updated_at: at("2026-01-05"),
                },
            )?;
            let open_alert = alerts::raise(
                conn,
                &[NewAlert {
                    kind: AlertKind::SicknessReturnDue,
                    school_urn: 117001,
                    upn: common::upn(1),
                    academic_year: 2025,
                    subject: "".into(),
                    since: NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
                    raised_on: NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
                }],
            )?[0]
                .id;
            // Old and over: pruned, with its attempts.
            event_with_delivery(
                conn,
                subscription_id,
                1,
                "2026-01-05",
                Some(AttemptResult::Delivered),
                None,
            );
            event_with_delivery(
                conn,
                subscription_id,
                2,
                "2026-01-05",
                Some(AttemptResult::Failed),
                None,
            );
            // Old but still to be delivered; old but announcing an open alert; recent.
            Ok(vec![
                event_with_delivery(
                    conn,
                    subscription_id,
                    3,
                    "2026-01-05",
                    Some(AttemptResult::Retry(at("2026-01-06"))),
                    None,
                ),
                event_with_delivery(conn, subscription_id, 4, "2026-01-05", None, None),
                event_with_delivery(
                    conn,
                    subscription_id,
                    5,
                    "2026-01-05",
                    Some(AttemptResult::Delivered),
                    Some(open_alert),
                ),
                event_with_delivery(
                    conn,
                    subscription_id,
                    6,
                    "2026-11-01",
                    Some(AttemptResult::Delivered),
                    None,
                ),
            ])
        })
        .await
        .unwrap();
    let report = retention::prune(&app.state, &RetentionPolicy::default())
        .await
        .unwrap();
    assert_eq!(report.events, 2, "{report:?}");
    // The attempts of 1 and 2 go with their events; 5's goes on its own (its delivery is over
    // and old, though the event stays for the open alert); 3's stays (still pending).
    let (left, attempts): (Vec<i64>, i64) = app
        .db()
        .read(|conn| {
            Ok((
                events::table
                    .select(events::id)
                    .order(events::id)
                    .load(conn)?,
                webhook_attempts::table.count().get_result(conn)?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(left, kept);
    assert_eq!(attempts, 2, "3's pending history and 6's recent attempt");
    // A second round has nothing left to do.
    let again = retention::prune(&app.state, &RetentionPolicy::default())
        .await
        .unwrap();
    assert_eq!(again.total(), 0, "{again:?}");
});

on_both_backends!(
    a_change_feed_reader_behind_the_pruned_prefix_is_told,
    |app| {
        let la = app.token(Role::La, &[]).await;
        app.db()
            .write(|conn| {
                let change = |day: &str, id: i64| NewChange {
                    resource_type: "referral",
                    resource_id: id,
                    school_urn: 117001,
                    action: "created",
                    changed_at: at(day),
                };
                // 400 days before 2026-11-23 is 2025-10-19.
                changes::record(conn, &[change("2025-01-06", 1), change("2025-10-01", 2)])?;
                changes::record(conn, &[change("2026-11-02", 3), change("2025-01-07", 4)])?;
                Ok(())
            })
            .await
            .unwrap();
        let before = app.get(&la, "/api/v1/changes?since=0").await;
        assert_eq!(before.status, 200, "{}", before.text());
        assert_eq!(before.json()["items"].as_array().unwrap().len(), 4);
        let versions: Vec<i64> = before.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["version"].as_i64().unwrap())
            .collect();

        let report = retention::prune(&app.state, &RetentionPolicy::default())
            .await
            .unwrap();
        // Only the old prefix goes: change 4 is old too but comes after a recent one, and stays.
        assert_eq!(report.changes, 2);
        let kept: Vec<i64> = app
            .db()
            .read(|conn| {
                Ok(changes_table::table
                    .select(changes_table::version)
                    .order(changes_table::version)
                    .load(conn)?)
            })
            .await
            .unwrap();
        assert_eq!(kept, versions[2..].to_vec());

        for since in [0, versions[0]] {
            let gone = app
                .get(&la, &format!("/api/v1/changes?since={since}"))
                .await;
            let problem = gone.problem(410);
            assert!(problem["detail"].as_str().unwrap().contains("since="));
            assert_eq!(
                gone.header("esma-resume-since"),
                Some(versions[1].to_string())
            );
        }
        let resumed = app
            .get(&la, &format!("/api/v1/changes?since={}", versions[1]))
            .await;
        assert_eq!(resumed.status, 200, "{}", resumed.text());
        let items: Vec<i64> = resumed.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["version"].as_i64().unwrap())
            .collect();
        assert_eq!(items, versions[2..].to_vec());
    }
);
