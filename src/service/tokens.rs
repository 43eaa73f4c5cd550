//! Access tokens: HS256 JWTs with `iss aud sub iat nbf exp jti role schools scope` (API.md
//! "Authentication and roles"). The algorithm is pinned, so `alg: none` and RS/HS confusion fail.
//!
//! Rotation: tokens are signed with the current key and name it in the header's `kid` (derived
//! from the key, so nothing more to configure). A previous key may be kept for verifying only,
//! so tokens issued before a rotation work until they expire instead of logging every client
//! out. A token naming a key this service does not hold is refused; one without a `kid` (issued
//! before keys were named) is checked against the current key only.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::access::Role;

pub const ALGORITHM: Algorithm = Algorithm::HS256;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schools: Option<Vec<i32>>,
    #[serde(default)]
    pub scope: String,
}

/// A key that verifies tokens, with the id tokens name it by.
struct VerifyingKey {
    kid: String,
    decoding: DecodingKey,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    current: VerifyingKey,
    previous: Option<VerifyingKey>,
    pub issuer: String,
    pub audience: String,
    pub ttl_seconds: i64,
}

impl TokenKeys {
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl_seconds: i64) -> Self {
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            current: VerifyingKey::of(secret),
            previous: None,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            ttl_seconds,
        }
    }

    /// Also accepts tokens signed with `secret`, the key in use before the current one.
    pub fn with_previous(mut self, secret: &[u8]) -> Self {
        self.previous = Some(VerifyingKey::of(secret));
        self
    }

    /// The `kid` of the key new tokens are signed with.
    pub fn current_kid(&self) -> &str {
        &self.current.kid
    }

    /// A random 256-bit key, for a server started without `ESMA_JWT_SECRET` (tokens then do not
    /// survive a restart).
    pub fn random_secret() -> Vec<u8> {
        let mut key = vec![0u8; 32];
        rand::rng().fill_bytes(&mut key);
        key
    }

    pub fn claims_for(&self, client_id: &str, role: Role, schools: &[i32], now: i64) -> Claims {
        Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: client_id.to_string(),
            iat: now,
            nbf: now,
            exp: now + self.ttl_seconds,
            jti: uuid::Uuid::new_v4().to_string(),
            role,
            schools: (role == Role::School).then(|| schools.to_vec()),
            scope: role.as_str().to_string(),
        }
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, String> {
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(self.current.kid.clone());
        encode(&header, claims, &self.encoding).map_err(|e| e.to_string())
    }

    /// Checks signature, algorithm, issuer, audience, `exp` and `nbf` (5 s leeway for clock skew).
    pub fn verify(&self, token: &str) -> Result<Claims, String> {
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        // The header is read only to pick the key; `decode` then checks the signature and the
        // pinned algorithm as before.
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| "the token is malformed".to_string())?;
        let key = match header.kid.as_deref() {
            None => &self.current,
            Some(kid) if kid == self.current.kid => &self.current,
            Some(kid) => match &self.previous {
                Some(previous) if kid == previous.kid => previous,
                _ => return Err("the token was signed with a key this service does not hold (kid); get a new token".to_string()),
            },
        };
        decode::<Claims>(token, &key.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired".to_string(),
                    ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".to_string(),
                    ErrorKind::InvalidAudience => "the token is for another audience".to_string(),
                    ErrorKind::InvalidIssuer => "the token was issued by someone else".to_string(),
                    ErrorKind::InvalidSignature => {
                        "the token's signature does not verify".to_string()
                    }
                    ErrorKind::InvalidAlgorithm => {
                        "the token's algorithm is not accepted".to_string()
                    }
                    ErrorKind::MissingRequiredClaim(c) => {
                        format!("the token lacks the '{c}' claim")
                    }
                    _ => "the token is malformed".to_string(),
                }
            })
    }
}

impl VerifyingKey {
    fn of(secret: &[u8]) -> VerifyingKey {
        // A name for the key that does not reveal it: the first 8 bytes of its SHA-256.
        let digest = Sha256::digest(secret);
        let kid = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        VerifyingKey {
            kid,
            decoding: DecodingKey::from_secret(secret),
        }
    }
}
