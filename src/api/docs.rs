//! The OpenAPI document: generated from the handlers, committed as `openapi/openapi.json`.

use utoipa::openapi::security::{
    ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityScheme,
};
use utoipa::{Modify, OpenApi};

use super::problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "esma-api",
        description = "Connects English schools' management information systems to the local authority's \
medical-needs teaching service (ESMA, Education Support for Medical Absence).\n\n\
**Getting a token.** Use *Authorize* with a client id and secret (client credentials), or \
`curl -u CLIENT_ID:CLIENT_SECRET -d grant_type=client_credentials http://HOST/oauth/token`.\n\n\
**Errors** are RFC 9457 `application/problem+json` with `type`, `title`, `status`, `detail`, \
`correlation_id` and, for 422, `errors[]` with JSON Pointers into the request. Every response \
carries `x-correlation-id` (taken from the request when given). Input quoted in an error is \
clipped to 64 characters with its size (`… (60 MiB, truncated)`), so an error stays a few hundred \
bytes whatever was sent. A malformed request line or header (400), a request head over 96 headers \
or 128 KiB (431) and a request head not received within 5 seconds of connecting (408) are \
problems too.\n\n\
**Text.** No string of a request body (nor a key) may hold a control character (Unicode Cc: \
U+0000-U+001F, U+007F-U+009F): 422 with the pointer and the code point. Free-text fields \
(`condition`, `named_medical_contact`, `current_support_plan`, `statement`, `attainment`, \
`engagement`, `wellbeing`, `pupil_voice`, `targets`, `actions`, `next_steps`, `override_reason`, \
`notes`, `reason`) may hold tab and line breaks (LF or CR LF). In a roll or register push a \
control character refuses its row (`invalid_text` in the import report), not the push; one in a \
key is a 422 for the push, like any unknown key.\n\n\
**Lists** use cursor pagination: `?limit=` (1-500, default 50) and `?cursor=` from `next_cursor`.\n\n\
**Roles**: `school` (its own URNs only; another school's data reads as 404, writes are 403), \
`la` (every school of the LA), `admin` (clients, audit).\n\n\
**Limits.** A bulk push (roll, register) may be 64 MiB once gunzipped, any other body 1 MiB \
(413 above). A body that pauses 10 s or has not all arrived after 120 s is 408. When the \
database is unreachable or slow, or the server is inflating too many gzip bodies at once, the \
answer is 503 with `Retry-After` (seconds): retry then. Operators can change every figure \
(docs/operations.md, Configuration).",
        license(name = "MIT", identifier = "MIT"),
    ),
    // One relative server: generators and Swagger UI then call the host that served the spec.
    servers((url = "/")),
    components(responses(
        problem::BadRequest,
        problem::Unauthorized,
        problem::Forbidden,
        problem::LaOnly,
        problem::NotFound,
        problem::IdempotencyConflict,
        problem::PayloadTooLarge,
        problem::UnsupportedMediaType,
        problem::InvalidQuery,
        problem::RequestTimeout,
    )),
    modifiers(&Security),
    tags(
        (name = "auth", description = "OAuth2 client credentials"),
        (name = "schools", description = "Schools of the LA"),
        (name = "pupils", description = "Pupil roll sync and pupil-level reads (audited)"),
        (name = "registers", description = "Nightly AM/PM register pushes and their import reports"),
        (name = "attendance", description = "Attendance measures and statutory alerts computed from the register"),
        (name = "returns", description = "Monthly returns a school owes the LA: 15 days of sickness and 10 days of unauthorised absence (JSON or CSV)"),
        (name = "referrals", description = "Service requests, their eligibility assessment with reasons, and the LA's decision"),
        (name = "cases", description = "Support episodes: review schedule, evidence clock, register code guidance, exit"),
        (name = "part_time", description = "Part-time timetable agreements: the guidance's conditions, reviews, extensions (R15)"),
        (name = "changes", description = "The change feed: what changed, in the order it became visible, for LA systems to sync from"),
        (name = "calendar", description = "LA term dates: the school days every statutory clock counts"),
        (name = "webhooks", description = "Signed event deliveries (Standard Webhooks) from a transactional outbox, retried for about three days"),
        (name = "governance", description = "Audit trail"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::ClientCredentials(ClientCredentials::new(
                    "/oauth/token",
                    Scopes::new(),
                ))],
                "Client credentials: the token's scope is the client's role.",
            )),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The failures every operation may answer whatever it does (issue 20), added to each one after
/// the routes are collected: 503 with `Retry-After` (the database unreachable or too slow, or the
/// gzip budget in use), and for an operation with a body, 408 (the body stalled or came too
/// slowly). An operation that documents its own 503 keeps it.
pub fn add_common_failures(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{HeaderBuilder, Object, Ref, ResponseBuilder, Type};
    let unavailable = ResponseBuilder::from(problem::problem_response_doc(
        "The database is unreachable or did not answer in time (ESMA_DB_CONNECT_TIMEOUT_SECS, \
         ESMA_DB_STATEMENT_TIMEOUT_SECS), or too many gzip bodies are being inflated at once \
         (ESMA_INFLATE_BUDGET_MIB); retry after Retry-After seconds",
    ))
    .header(
        "Retry-After",
        HeaderBuilder::new()
            .schema(Some(Object::with_type(Type::Integer)))
            .description(Some("Seconds to wait before retrying"))
            .build(),
    )
    .build();
    let components = api.components.get_or_insert_with(Default::default);
    components
        .responses
        .insert("Unavailable".to_string(), unavailable.into());
    let unavailable = Ref::new("#/components/responses/Unavailable");
    let timeout = Ref::new("#/components/responses/RequestTimeout");
    for (path, item) in api.paths.paths.iter_mut() {
        if path == "/metrics" {
            continue;
        }
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten() {
            if op.request_body.is_some() {
                op.responses
                    .responses
                    .entry("408".to_string())
                    .or_insert_with(|| timeout.clone().into());
            }
            op.responses
                .responses
                .entry("503".to_string())
                .or_insert_with(|| unavailable.clone().into());
        }
    }
}

/// utoipa composes a generic schema with its argument inlined, so `Page<ReferralView>` would
/// repeat `ReferralView` and a generated client would name its items `PageReferralViewItemsItem`.
/// Point each `Page_X`'s items at the component `X` instead (issue 22).
pub fn reference_page_items(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{ArrayItems, Schema};
    use utoipa::openapi::{Ref, RefOr};
    let Some(components) = api.components.as_mut() else {
        return;
    };
    let known: Vec<String> = components.schemas.keys().cloned().collect();
    for (name, schema) in components.schemas.iter_mut() {
        let Some(item) = name.strip_prefix("Page_") else {
            continue;
        };
        assert!(
            known.iter().any(|k| k == item),
            "{name}: its item schema {item} is not a component"
        );
        let RefOr::T(Schema::Object(page)) = schema else {
            continue;
        };
        if let Some(RefOr::T(Schema::Array(items))) = page.properties.get_mut("items") {
            items.items =
                ArrayItems::RefOrSchema(Box::new(Ref::from_schema_name(item.to_string()).into()));
        }
    }
}
