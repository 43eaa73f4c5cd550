// The tables, written by hand to match migrations/sqlite and migrations/postgres (a test checks
// that both backends end up with the same tables and columns).

diesel::table! {
    api_clients (client_id) {
        client_id -> Text,
        name -> Text,
        role -> Text,
        secret_hash -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    api_client_schools (client_id, school_urn) {
        client_id -> Text,
        school_urn -> Integer,
    }
}

diesel::table! {
    schools (urn) {
        urn -> Integer,
        name -> Text,
        laestab -> Text,
        phase -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    calendars (academic_year) {
        academic_year -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    calendar_terms (academic_year, position) {
        academic_year -> Text,
        position -> Integer,
        name -> Text,
        starts -> Date,
        ends -> Date,
        half_term_starts -> Nullable<Date>,
        half_term_ends -> Nullable<Date>,
    }
}

diesel::table! {
    calendar_closures (academic_year, closed_on) {
        academic_year -> Text,
        closed_on -> Date,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        occurred_at -> Timestamp,
        actor -> Text,
        actor_role -> Text,
        action -> Text,
        resource_type -> Text,
        resource_id -> Text,
        school_urn -> Nullable<Integer>,
        upn -> Nullable<Text>,
        endpoint -> Text,
        outcome -> Text,
        correlation_id -> Nullable<Text>,
    }
}

diesel::joinable!(api_client_schools -> api_clients (client_id));
diesel::joinable!(calendar_terms -> calendars (academic_year));
diesel::joinable!(calendar_closures -> calendars (academic_year));

diesel::allow_tables_to_appear_in_same_query!(
    api_clients,
    api_client_schools,
    schools,
    calendars,
    calendar_terms,
    calendar_closures,
    audit_events,
);

diesel::table! {
    pupils (upn) {
        upn -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    enrolments (school_urn, upn) {
        school_urn -> Integer,
        upn -> Text,
        on_roll_from -> Date,
        on_roll_until -> Nullable<Date>,
        updated_at -> Timestamp,
        legal_forename -> Text,
        legal_surname -> Text,
        date_of_birth -> Date,
        postcode -> Nullable<Text>,
        home_la_code -> Nullable<Integer>,
        ehcp -> Bool,
        sen_support -> Bool,
        pupil_premium -> Bool,
    }
}

diesel::table! {
    marks (school_urn, upn, mark_date, session) {
        school_urn -> Integer,
        upn -> Text,
        mark_date -> Date,
        session -> Text,
        code -> Text,
        minutes_late -> Nullable<Integer>,
    }
}

diesel::table! {
    mark_history (id) {
        id -> BigInt,
        school_urn -> Integer,
        upn -> Text,
        mark_date -> Date,
        session -> Text,
        old_code -> Text,
        new_code -> Text,
        old_minutes_late -> Nullable<Integer>,
        new_minutes_late -> Nullable<Integer>,
        import_id -> BigInt,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    imports (id) {
        id -> BigInt,
        kind -> Text,
        school_urn -> Nullable<Integer>,
        client_id -> Text,
        received_at -> Timestamp,
        outcome -> Text,
        received -> Integer,
        inserted -> Integer,
        updated -> Integer,
        unchanged -> Integer,
        rejected -> Integer,
        report -> Text,
        idempotency_key -> Nullable<Text>,
        request_hash -> Nullable<Text>,
    }
}

diesel::table! {
    attendance_tallies (school_urn, academic_year, upn) {
        school_urn -> Integer,
        academic_year -> Integer,
        upn -> Text,
        latest_slot -> Integer,
        state -> Text,
    }
}

diesel::table! {
    alerts (id) {
        id -> BigInt,
        kind -> Text,
        school_urn -> Integer,
        upn -> Text,
        academic_year -> Integer,
        subject -> Text,
        since -> Date,
        raised_on -> Date,
        resolved_on -> Nullable<Date>,
        resolution -> Nullable<Text>,
        acknowledged_at -> Nullable<Timestamp>,
        acknowledged_by -> Nullable<Text>,
        acknowledgement_note -> Nullable<Text>,
        announced_on -> Nullable<Date>,
    }
}

diesel::table! {
    referrals (id) {
        id -> BigInt,
        school_urn -> Integer,
        upn -> Text,
        status -> Text,
        form -> Text,
        received_at -> Timestamp,
        assessment_due_by -> Date,
        created_by -> Text,
        updated_at -> Timestamp,
        decision -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        withdrawn_at -> Nullable<Timestamp>,
        withdrawal_reason -> Nullable<Text>,
    }
}

diesel::table! {
    referral_assessments (id) {
        id -> BigInt,
        referral_id -> BigInt,
        evaluated_at -> Timestamp,
        trigger -> Text,
        requested_by -> Text,
        outcome -> Text,
        policy_name -> Text,
        policy_version -> Text,
        body -> Text,
    }
}

diesel::table! {
    cases (id) {
        id -> BigInt,
        referral_id -> BigInt,
        school_urn -> Integer,
        upn -> Text,
        status -> Text,
        start_date -> Date,
        provision -> Text,
        opened_at -> Timestamp,
        opened_by -> Text,
        closed_at -> Nullable<Timestamp>,
        exit_decision -> Nullable<Text>,
        exit_effective_date -> Nullable<Date>,
        exit_register_facts -> Nullable<Text>,
    }
}

diesel::table! {
    reviews (id) {
        id -> BigInt,
        case_id -> BigInt,
        kind -> Text,
        label -> Text,
        due_on -> Date,
        scheduled_for -> Date,
        status -> Text,
        held_on -> Nullable<Date>,
        outcome -> Nullable<Text>,
        note -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    case_evidence (id) {
        id -> BigInt,
        case_id -> BigInt,
        issued_on -> Date,
        received_at -> Timestamp,
        item -> Text,
        recorded_by -> Text,
    }
}

// The register: one row per school, academic year and pupil, with the year's marks and the
// maintained tally (migrations 2026-11-25-000001_register_rows).
diesel::table! {
    registers (school_urn, academic_year, upn) {
        school_urn -> Integer,
        academic_year -> Integer,
        upn -> Text,
        sessions -> Text,
        minutes_late -> Nullable<Text>,
        latest_slot -> Integer,
        tally -> Text,
    }
}

diesel::joinable!(enrolments -> pupils (upn));
diesel::joinable!(enrolments -> schools (school_urn));
diesel::table! {
    register_versions (school_urn) {
        school_urn -> Integer,
        version -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    pupils,
    enrolments,
    schools,
    marks,
    mark_history,
    imports,
    attendance_tallies,
    registers,
    alerts,
    referrals,
    referral_assessments,
    cases,
    reviews,
    case_evidence
);
diesel::joinable!(reviews -> cases (case_id));

// Notifications (issue 7): subscriptions, the outbox of events, deliveries and their attempts.
diesel::table! {
    webhook_subscriptions (id) {
        id -> BigInt,
        client_id -> Text,
        role -> Text,
        schools -> Text,
        url -> Text,
        events -> Text,
        description -> Nullable<Text>,
        secret -> Text,
        status -> Text,
        status_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        message_id -> Text,
        event_type -> Text,
        school_urn -> Integer,
        occurred_at -> Timestamp,
        payload -> Text,
        dedupe_key -> Nullable<Text>,
        alert_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        subscription_id -> BigInt,
        event_id -> BigInt,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        last_attempt_at -> Nullable<Timestamp>,
        last_status_code -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        retry_schedule_from -> Integer,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> BigInt,
        delivery_id -> BigInt,
        attempted_at -> Timestamp,
        status_code -> Nullable<Integer>,
        latency_ms -> Integer,
        error -> Nullable<Text>,
    }
}

diesel::joinable!(webhook_deliveries -> webhook_subscriptions (subscription_id));
diesel::joinable!(webhook_deliveries -> events (event_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));
diesel::joinable!(events -> alerts (alert_id));
diesel::joinable!(webhook_subscriptions -> api_clients (client_id));
diesel::allow_tables_to_appear_in_same_query!(
    webhook_subscriptions,
    events,
    webhook_deliveries,
    webhook_attempts,
    alerts,
    api_clients
);

// The change feed (src/store/changes.rs): every change to a referral, case, review or alert,
// numbered in the order the changes become visible.
diesel::table! {
    changes (version) {
        version -> BigInt,
        resource_type -> Text,
        resource_id -> BigInt,
        school_urn -> Integer,
        action -> Text,
        changed_at -> Timestamp,
    }
}

// The stored answers of POSTs sent with an Idempotency-Key (src/store/idempotency.rs).
diesel::table! {
    idempotent_responses (client_id, idempotency_key) {
        client_id -> Text,
        idempotency_key -> Text,
        method -> Text,
        path -> Text,
        request_hash -> Text,
        status -> Nullable<Integer>,
        content_type -> Nullable<Text>,
        location -> Nullable<Text>,
        body -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

// How far each kind of row has been pruned (src/store/retention.rs).
diesel::table! {
    retention_horizons (kind) {
        kind -> Text,
        pruned_through -> BigInt,
    }
}

// The Holistic Reintegration Plan (issue 23; migrations 2026-12-07-000031_plans).
diesel::table! {
    plan_versions (id) {
        id -> BigInt,
        case_id -> BigInt,
        version -> Integer,
        status -> Text,
        body -> Text,
        review_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        created_by -> Text,
    }
}

diesel::table! {
    target_progress (review_id, target_id) {
        review_id -> BigInt,
        target_id -> BigInt,
        case_id -> BigInt,
        plan_version -> Integer,
        progress -> Text,
        note -> Nullable<Text>,
        held_on -> Date,
    }
}

diesel::table! {
    lessons (id) {
        id -> BigInt,
        case_id -> BigInt,
        lesson_date -> Date,
        start_time -> Text,
        subject -> Text,
        mode -> Text,
        planned_minutes -> Integer,
        attendance -> Text,
        minutes_late -> Nullable<Integer>,
        engagement -> Nullable<Integer>,
        teacher -> Nullable<Text>,
        note -> Nullable<Text>,
        import_id -> BigInt,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    part_time_timetables (id) {
        id -> BigInt,
        school_urn -> Integer,
        upn -> Text,
        start_date -> Date,
        end_date -> Date,
        terms -> Text,
        created_at -> Timestamp,
        created_by -> Text,
        updated_at -> Timestamp,
        next_review_date -> Nullable<Date>,
    }
}

diesel::table! {
    part_time_reviews (id) {
        id -> BigInt,
        timetable_id -> BigInt,
        held_on -> Date,
        attendees -> Text,
        notes -> Nullable<Text>,
        new_end_date -> Nullable<Date>,
        recorded_at -> Timestamp,
        recorded_by -> Text,
    }
}

diesel::table! {
    part_time_end_dates (id) {
        id -> BigInt,
        timetable_id -> BigInt,
        end_date -> Date,
        set_at -> Timestamp,
        set_by -> Text,
        review_id -> Nullable<BigInt>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    part_time_timetables,
    part_time_reviews,
    part_time_end_dates,
);
