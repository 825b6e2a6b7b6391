//! Session tokens: JWTs signed with HMAC-SHA256 by the node's own secret.
//!
//! The token proves who logged in and until when; roles are not trusted from it but read
//! from storage on every request, so removing a role or disabling an officer takes effect at
//! once rather than at expiry.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::errors::ServiceError;

/// The claims of a session token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionClaims {
    /// Officer id.
    pub sub: Uuid,
    /// Username, for logs and clients.
    pub name: String,
    /// Issuer: this node (its country code).
    pub iss: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
}

/// Signing and verifying keys, the issuer name and the session lifetime.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    ttl: Duration,
    /// Keys [`TokenKeys::pseudonym`]; derived from the secret, so it never leaves the node.
    pseudonym_key: [u8; 32],
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log.
        f.debug_struct("TokenKeys").field("issuer", &self.issuer).field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// Keys from a secret of at least 32 bytes.
    pub fn new(secret: &[u8], issuer: impl Into<String>, ttl: Duration) -> TokenKeys {
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            issuer: issuer.into(),
            ttl,
            pseudonym_key: hmac_sha256(secret, b"cadena log pseudonyms v1"),
        }
    }

    /// A pseudonymous reference to a username for logs (`u-` and 12 hex digits of a keyed
    /// hash): the same name gives the same reference on this node, so repeated failed logins
    /// for one account can be told apart from a spray over many, but a log reader without the
    /// node's secret cannot recover the name, nor test guesses against it (a username typed
    /// into the password field would otherwise end up in the log, too).
    pub fn pseudonym(&self, username: &str) -> String {
        let digest = hmac_sha256(&self.pseudonym_key, username.as_bytes());
        format!("u-{}", hex::encode(&digest[..6]))
    }

    /// Signs a session for an officer; returns the token and its expiry.
    pub fn issue(&self, officer_id: Uuid, username: &str) -> Result<(String, DateTime<Utc>), ServiceError> {
        let now = Utc::now();
        let expires = now + chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::hours(1));
        let claims = SessionClaims {
            sub: officer_id,
            name: username.to_owned(),
            iss: self.issuer.clone(),
            iat: now.timestamp(),
            exp: expires.timestamp(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ServiceError::internal)?;
        Ok((token, expires))
    }

    /// Verifies signature, algorithm, issuer and expiry.
    pub fn verify(&self, token: &str) -> Result<SessionClaims, ServiceError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.leeway = 5;
        jsonwebtoken::decode::<SessionClaims>(token, &self.decoding, &validation).map(|data| data.claims).map_err(|e| {
            match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    ServiceError::Unauthenticated("the session token has expired; log in again")
                }
                _ => ServiceError::Unauthenticated("the session token is not valid for this node"),
            }
        })
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_with_its_keys_and_not_with_others() {
        let keys = TokenKeys::new(&[7; 32], "MX", Duration::from_secs(60));
        let id = Uuid::new_v4();
        let (token, _) = keys.issue(id, "ana").unwrap();
        assert_eq!(keys.verify(&token).unwrap().sub, id);
        let other = TokenKeys::new(&[8; 32], "MX", Duration::from_secs(60));
        assert!(other.verify(&token).is_err());
        let other_node = TokenKeys::new(&[7; 32], "CO", Duration::from_secs(60));
        assert!(other_node.verify(&token).is_err());
    }

    #[test]
    fn an_expired_token_is_refused() {
        let keys = TokenKeys::new(&[7; 32], "MX", Duration::from_secs(0));
        let claims = SessionClaims {
            sub: Uuid::new_v4(),
            name: "ana".into(),
            iss: "MX".into(),
            iat: 0,
            exp: Utc::now().timestamp() - 60,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap();
        let err = keys.verify(&token).unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
    }
}
