//! Standard Webhooks signatures (https://www.standardwebhooks.com): the secret is
//! `whsec_<base64 key>`; each delivery carries `webhook-id`, `webhook-timestamp` (Unix seconds)
//! and `webhook-signature: v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const PREFIX: &str = "whsec_";
/// How far a receiver should let a timestamp stray from its own clock (the spec's default).
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

/// A signing secret as shown once to the subscriber.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

impl WebhookSecret {
    /// A fresh 256-bit key.
    pub fn generate() -> WebhookSecret {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        WebhookSecret(format!("{PREFIX}{}", STANDARD.encode(key)))
    }

    /// Reads `whsec_<base64>` (the prefix may be left off, as the spec's libraries allow).
    pub fn parse(text: &str) -> Result<WebhookSecret, String> {
        let key = text.strip_prefix(PREFIX).unwrap_or(text);
        match STANDARD.decode(key) {
            Ok(bytes) if bytes.len() >= 24 => Ok(WebhookSecret(format!("{PREFIX}{key}"))),
            Ok(_) => Err("the webhook secret is too short".into()),
            Err(_) => Err("the webhook secret is not whsec_ followed by base64".into()),
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn key(&self) -> Vec<u8> {
        STANDARD
            .decode(self.0.trim_start_matches(PREFIX))
            .unwrap_or_default()
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key()).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` header value.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!(
            "v1,{}",
            STANDARD.encode(self.mac(id, timestamp, body).finalize().into_bytes())
        )
    }

    /// Checks a delivery as a receiver would: one of the space-separated `v1,` signatures
    /// matches (compared in constant time) and the timestamp is within the tolerance of `now`.
    pub fn verify(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), String> {
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| "webhook-timestamp is not a number of seconds".to_string())?;
        if (now - ts).abs() > TOLERANCE_SECONDS {
            return Err("webhook-timestamp is too far from now (a replay?)".into());
        }
        for candidate in signatures.split(' ') {
            let Some(encoded) = candidate.strip_prefix("v1,") else {
                continue;
            };
            let Ok(given) = STANDARD.decode(encoded) else {
                continue;
            };
            if self.mac(id, ts, body).verify_slice(&given).is_ok() {
                return Ok(());
            }
        }
        Err("no webhook-signature matches the body".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_example_signature() {
        // The example in the Standard Webhooks specification.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn signatures_verify_and_tampering_is_caught() {
        let secret = WebhookSecret::generate();
        assert!(secret.expose().starts_with("whsec_"));
        let sig = secret.sign("msg_1", 1_700_000_000, b"{}");
        assert_eq!(
            secret.verify("msg_1", "1700000000", &sig, b"{}", 1_700_000_010),
            Ok(())
        );
        // Another signature first (key rotation) still verifies.
        let both = format!("v1,AAAA {sig}");
        assert_eq!(
            secret.verify("msg_1", "1700000000", &both, b"{}", 1_700_000_010),
            Ok(())
        );
        assert!(secret
            .verify("msg_1", "1700000000", &sig, b"{ }", 1_700_000_010)
            .is_err());
        assert!(secret
            .verify("msg_2", "1700000000", &sig, b"{}", 1_700_000_010)
            .is_err());
        assert!(secret
            .verify("msg_1", "1700000001", &sig, b"{}", 1_700_000_010)
            .is_err());
        assert!(secret
            .verify("msg_1", "1700000000", &sig, b"{}", 1_700_000_301)
            .is_err());
        assert!(WebhookSecret::generate()
            .verify("msg_1", "1700000000", &sig, b"{}", 1_700_000_010)
            .is_err());
    }

    #[test]
    fn secrets_are_parsed_strictly_and_never_debug_printed() {
        assert!(WebhookSecret::parse("whsec_not base64!").is_err());
        assert!(WebhookSecret::parse("whsec_AAAA").is_err());
        let s = WebhookSecret::generate();
        assert_eq!(WebhookSecret::parse(s.expose()).unwrap(), s);
        assert!(!format!("{s:?}").contains(s.expose()));
    }
}
