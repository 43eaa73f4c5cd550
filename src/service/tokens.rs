//! Access tokens: HS256 JWTs with `iss aud sub iat nbf exp jti role schools scope` (API.md
//! "Authentication and roles"). The algorithm is pinned, so `alg: none` and RS/HS confusion fail.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

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

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub issuer: String,
    pub audience: String,
    pub ttl_seconds: i64,
}

impl TokenKeys {
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl_seconds: i64) -> Self {
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            ttl_seconds,
        }
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
        encode(&Header::new(ALGORITHM), claims, &self.encoding).map_err(|e| e.to_string())
    }

    /// Checks signature, algorithm, issuer, audience, `exp` and `nbf` (5 s leeway for clock skew).
    pub fn verify(&self, token: &str) -> Result<Claims, String> {
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        decode::<Claims>(token, &self.decoding, &validation)
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
