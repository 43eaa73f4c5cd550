//! Webhook signing secrets at rest (issue 20): the dispatcher needs each secret in clear to sign
//! with it, so it is stored encrypted (AES-256-GCM, aws-lc-rs) under a key from the environment
//! (`ESMA_WEBHOOK_KEY`), never in the database. Stored form: `v1:<key id>:<nonce>:<ciphertext>`
//! (base64), the key id naming the key that sealed it, so a rotation keeps the old keys for
//! opening (`ESMA_WEBHOOK_PREVIOUS_KEYS`) while `esma-api webhooks rekey` (also run at start-up)
//! seals everything again under the current one. A value without the `v1:` prefix is a secret
//! stored in clear before this existed: read as it is until rekeyed.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

const VERSION: &str = "v1";
/// Binds a sealed value to its use: a ciphertext of something else does not open as a secret.
const AAD: &[u8] = b"esma-api webhook secret";
/// The demo's key: public, so a demo's secrets are not protected (the log says so).
const DEMO_KEY: [u8; 32] = *b"esma-api demo webhook key public";

struct Key {
    id: String,
    key: LessSafeKey,
}

impl Key {
    fn new(bytes: &[u8; 32]) -> Key {
        // The id names the key without revealing it: 8 bytes of its SHA-256.
        let digest = Sha256::digest(bytes);
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).expect("a 32-byte AES-256 key");
        Key {
            id,
            key: LessSafeKey::new(unbound),
        }
    }
}

/// The key that seals webhook secrets, and the earlier keys that may still open some.
pub struct WebhookKeys {
    current: Key,
    previous: Vec<Key>,
}

impl std::fmt::Debug for WebhookKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WebhookKeys(current {}, {} previous)",
            self.current.id,
            self.previous.len()
        )
    }
}

/// Reads a key as configured: base64 of 32 bytes.
pub fn parse_key(name: &str, text: &str) -> Result<[u8; 32], String> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|_| format!("{name} is not base64 (make one with: openssl rand -base64 32)"))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "{name} should be 32 bytes in base64, not {} (make one with: openssl rand -base64 32)",
            bytes.len()
        )
    })
}

impl WebhookKeys {
    pub fn new(current: &[u8; 32], previous: &[[u8; 32]]) -> WebhookKeys {
        WebhookKeys {
            current: Key::new(current),
            previous: previous.iter().map(Key::new).collect(),
        }
    }

    /// The keys from the settings. Without `ESMA_WEBHOOK_KEY` only the demo starts, with a
    /// public key and a warning; a real service refuses to store secrets it cannot protect.
    pub fn from_settings(
        current: Option<&str>,
        previous: &[String],
        demo: bool,
    ) -> Result<WebhookKeys, String> {
        let previous = previous
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| parse_key("ESMA_WEBHOOK_PREVIOUS_KEYS", p))
            .collect::<Result<Vec<_>, _>>()?;
        let current = match current.filter(|c| !c.trim().is_empty()) {
            Some(text) => parse_key("ESMA_WEBHOOK_KEY", text)?,
            None if demo => {
                tracing::warn!(
                    "ESMA_WEBHOOK_KEY is not set: the demo seals webhook secrets with a PUBLIC key, \
                     so they are not protected; set ESMA_WEBHOOK_KEY outside a demo"
                );
                DEMO_KEY
            }
            None => {
                return Err(
                    "ESMA_WEBHOOK_KEY is not set: webhook secrets are stored encrypted \
                            with it; make one with `openssl rand -base64 32` and keep it with \
                            the service's other secrets (docs/operations.md \"Operating it\")"
                        .to_string(),
                )
            }
        };
        Ok(WebhookKeys::new(&current, &previous))
    }

    /// The id of the key new secrets are sealed with.
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    /// `v1:<key id>:<nonce>:<ciphertext>` of `secret` under the current key.
    pub fn seal(&self, secret: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut sealed = secret.as_bytes().to_vec();
        self.current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut sealed,
            )
            .expect("AES-GCM seals any secret of a sane length");
        format!(
            "{VERSION}:{}:{}:{}",
            self.current.id,
            STANDARD.encode(nonce),
            STANDARD.encode(sealed)
        )
    }

    /// The secret in clear from its stored form (a clear one, from before sealing, as it is).
    pub fn open(&self, stored: &str) -> Result<String, String> {
        let Some(rest) = stored.strip_prefix("v1:") else {
            return Ok(stored.to_string());
        };
        let mut parts = rest.splitn(3, ':');
        let (Some(id), Some(nonce), Some(sealed)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err("the stored webhook secret is malformed".to_string());
        };
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or_else(|| {
                format!(
                    "the webhook secret is sealed with key {id}, which is neither ESMA_WEBHOOK_KEY \
                     nor in ESMA_WEBHOOK_PREVIOUS_KEYS"
                )
            })?;
        let nonce: [u8; NONCE_LEN] = STANDARD
            .decode(nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| "the stored webhook secret is malformed".to_string())?;
        let mut sealed = STANDARD
            .decode(sealed)
            .map_err(|_| "the stored webhook secret is malformed".to_string())?;
        let clear = key
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut sealed,
            )
            .map_err(|_| format!("the webhook secret does not open with key {id} (tampered?)"))?;
        String::from_utf8(clear.to_vec())
            .map_err(|_| "the stored webhook secret is not text".to_string())
    }

    /// Whether a stored secret should be sealed again: in clear, or under an older key.
    pub fn needs_resealing(&self, stored: &str) -> bool {
        !stored.starts_with(&format!("{VERSION}:{}:", self.current.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_with_the_current_or_a_previous_key_only() {
        let old = WebhookKeys::new(&[1; 32], &[]);
        let sealed = old.seal("whsec_abc");
        assert!(sealed.starts_with(&format!("v1:{}:", old.current_id())));
        assert!(!sealed.contains("whsec_abc"));
        assert_ne!(sealed, old.seal("whsec_abc"), "a fresh nonce each time");
        assert_eq!(old.open(&sealed).unwrap(), "whsec_abc");
        assert!(!old.needs_resealing(&sealed));

        let rotated = WebhookKeys::new(&[2; 32], &[[1; 32]]);
        assert_eq!(rotated.open(&sealed).unwrap(), "whsec_abc");
        assert!(rotated.needs_resealing(&sealed));
        let without_old = WebhookKeys::new(&[2; 32], &[]);
        assert!(without_old
            .open(&sealed)
            .unwrap_err()
            .contains("ESMA_WEBHOOK_PREVIOUS_KEYS"));

        // Clear, from before sealing: read as it is, and due for sealing.
        assert_eq!(rotated.open("whsec_clear").unwrap(), "whsec_clear");
        assert!(rotated.needs_resealing("whsec_clear"));

        // Tampering is caught.
        let mut tampered = sealed.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(old.open(&tampered).is_err());
    }

    #[test]
    fn keys_are_32_bytes_of_base64_and_required_outside_the_demo() {
        assert!(parse_key("K", &STANDARD.encode([9u8; 32])).is_ok());
        assert!(parse_key("K", &STANDARD.encode([9u8; 16])).is_err());
        assert!(parse_key("K", "not base64!").is_err());
        assert!(WebhookKeys::from_settings(None, &[], false).is_err());
        assert!(WebhookKeys::from_settings(None, &[], true).is_ok());
    }
}
