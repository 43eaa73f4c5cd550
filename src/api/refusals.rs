//! Refused writes are audited (issue 20): a data protection officer asks who tried to change what
//! they may not, as well as who read what. A 403 can be raised by any use case (`Actor::require`,
//! `Actor::may_write_school`, a rule of its own) before or inside its transaction, which then
//! rolls back with the audit row it would have written; so the refusal is recorded here, once,
//! after the answer, for every authenticated write answered 403.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};

use crate::service::{audit, Actor, AppState, AuditSubject};

pub async fn audit_refused_writes(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let res = next.call(req).await?;
    if res.status() != actix_web::http::StatusCode::FORBIDDEN {
        return Ok(res);
    }
    let request = res.request();
    let Some(action) = write_action(request.method()) else {
        return Ok(res);
    };
    // Only an authenticated caller is an actor to audit (a bad token is a 401, not a 403).
    let Some(actor) = request.extensions().get::<Actor>().cloned() else {
        return Ok(res);
    };
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(res);
    };
    let pattern = request.match_pattern().unwrap_or_default();
    let info = request.match_info();
    let school_urn = info.get("urn").and_then(|u| u.parse::<i32>().ok());
    let mut subject = AuditSubject::new(
        resource_type(&pattern),
        info.get("id")
            .or_else(|| info.get("urn"))
            .or_else(|| info.get("academic_year"))
            .unwrap_or("")
            .to_string(),
    );
    subject.school_urn = school_urn;
    subject.upn = info.get("upn").map(str::to_string);
    // The refusal is already decided and answered; failing to record it must not turn it into
    // a 500, but it is logged loudly.
    if let Err(e) = audit::record_refusal(&state, &actor, action, subject).await {
        tracing::error!(error = %e, endpoint = %actor.endpoint, "a refused write could not be audited");
    }
    Ok(res)
}

/// The audit action of a write method; `None` for reads.
fn write_action(method: &Method) -> Option<&'static str> {
    match *method {
        Method::POST => Some("create"),
        Method::PUT | Method::PATCH => Some("update"),
        Method::DELETE => Some("delete"),
        _ => None,
    }
}

/// The resource a route writes, in the audit trail's words: `/api/v1/schools/{urn}` is a
/// school, `/api/v1/referrals/{id}/decision` a referral.
fn resource_type(pattern: &str) -> &'static str {
    let mut segments = pattern.trim_start_matches("/api/v1/").split('/');
    match segments.next().unwrap_or("") {
        "schools" => match pattern {
            p if p.ends_with("/pupils") => "roll",
            p if p.ends_with("/registers") => "register",
            p if p.ends_with("/calendar") => "calendar",
            _ => "school",
        },
        "referrals" => "referral",
        "cases" => "case",
        "webhooks" => "webhook",
        "calendar" => "calendar",
        _ => "endpoint",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_name_their_resource() {
        assert_eq!(resource_type("/api/v1/schools/{urn}"), "school");
        assert_eq!(resource_type("/api/v1/schools/{urn}/pupils"), "roll");
        assert_eq!(resource_type("/api/v1/referrals/{id}/decision"), "referral");
        assert_eq!(resource_type("/api/v1/cases/{id}/exit"), "case");
        assert_eq!(write_action(&Method::GET), None);
    }
}
