//! A webhook receiver that verifies esma-api's Standard Webhooks signatures.
//!
//! ```sh
//! WEBHOOK_SECRET=whsec_... cargo run --example webhook_receiver -- 127.0.0.1:9000
//! ```
//!
//! Each event whose `webhook-signature` verifies (and whose `webhook-timestamp` is within five
//! minutes) is printed as one JSON line and answered 204; a retry of an event already seen
//! (same `webhook-id`) is answered 204 without printing it again, since delivery is at least
//! once. Anything unsigned or tampered with gets 401, which esma-api retries.

use std::collections::HashSet;
use std::sync::Mutex;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use esma_api::signing::WebhookSecret;

struct Receiver {
    secret: WebhookSecret,
    seen: Mutex<HashSet<String>>,
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn receive(req: HttpRequest, body: web::Bytes, rx: web::Data<Receiver>) -> HttpResponse {
    let id = header(&req, "webhook-id");
    let now = chrono::Utc::now().timestamp();
    if let Err(why) = rx.secret.verify(
        id,
        header(&req, "webhook-timestamp"),
        header(&req, "webhook-signature"),
        &body,
        now,
    ) {
        eprintln!("refused {id:?}: {why}");
        return HttpResponse::Unauthorized().body(why);
    }
    let first_time = rx.seen.lock().unwrap().insert(id.to_string());
    if first_time {
        println!("{}", String::from_utf8_lossy(&body));
    }
    HttpResponse::NoContent().finish()
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".into());
    let secret = std::env::var("WEBHOOK_SECRET")
        .map_err(|_| std::io::Error::other("set WEBHOOK_SECRET to the whsec_... secret"))?;
    let secret = WebhookSecret::parse(&secret).map_err(std::io::Error::other)?;
    let rx = web::Data::new(Receiver {
        secret,
        seen: Mutex::new(HashSet::new()),
    });
    eprintln!("listening on http://{bind}/ (any path)");
    HttpServer::new(move || {
        App::new()
            .app_data(rx.clone())
            .default_service(web::post().to(receive))
    })
    .bind(bind)?
    .run()
    .await
}
