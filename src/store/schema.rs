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
