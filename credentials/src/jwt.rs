//! JWTs exchanged with wallets and relying parties: OpenID4VCI key proofs, the issuer-signed
//! part of an SD-JWT VC, key-binding JWTs and Token Status List tokens.
//!
//! The signature machinery is [`crate::jose`]'s (EdDSA/Ed25519 and ES256 only, strict
//! base64url, no `crit`, no repeated header members); what differs from the partner channel is
//! the header, which each use names by its own `typ`, and that the claims are a JSON object.
//! Which key must have signed is always the caller's decision ([`Jwt::verify_with`]): a key
//! carried in the header is read only where the protocol says the header names the holder's
//! key (an OpenID4VCI proof), and then it is the caller who binds the credential to it.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::jose::{self, JoseError, JwsAlgorithm};
use crate::keys::{PublicKey, SecretKey};

/// Signs `claims` as a compact JWT with `header` (its `alg` is set from the key's type).
pub fn sign(header: Value, claims: &Value, key: &SecretKey) -> String {
    let mut header = match header {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let alg = match key.public() {
        PublicKey::Ed25519(_) => JwsAlgorithm::EdDsa,
        PublicKey::P256(_) => JwsAlgorithm::Es256,
    };
    header.insert("alg".into(), Value::from(alg.as_str()));
    let header = serde_json::to_vec(&Value::Object(header)).expect("a header serialises");
    let claims = serde_json::to_vec(claims).expect("claims serialise");
    jose::sign_compact(&header, &claims, key)
}

/// A compact JWT taken apart, its signature not yet checked.
#[derive(Debug)]
pub struct Jwt {
    /// The protected header.
    pub header: Map<String, Value>,
    /// The claims.
    pub claims: Map<String, Value>,
    alg: JwsAlgorithm,
    signing_input: String,
    signature: Vec<u8>,
}

impl Jwt {
    /// Parses `text`: three base64url parts, a header cadena accepts, a JSON object of claims.
    pub fn parse(text: &str) -> Result<Jwt, JoseError> {
        let parsed = jose::parse_jws(text)?;
        let claims = match serde_json::from_slice::<Value>(&parsed.payload) {
            Ok(Value::Object(claims)) => claims,
            _ => return Err(JoseError::InvalidHeader("the JWT's claims are not a JSON object".into())),
        };
        Ok(Jwt {
            header: parsed.params.clone(),
            claims,
            alg: parsed.alg,
            signing_input: parsed.signing_input.to_owned(),
            signature: parsed.signature,
        })
    }

    /// Whether `key` made the signature (a key of another type than `alg` is refused).
    pub fn verify_with(&self, key: &PublicKey) -> Result<(), JoseError> {
        let parsed = jose::ParsedJws {
            params: Map::new(),
            alg: self.alg,
            signing_input: &self.signing_input,
            payload: Vec::new(),
            signature: self.signature.clone(),
        };
        jose::check_signature(&parsed, key, self.header_str("kid").unwrap_or("(none)"))
    }

    /// The signing algorithm.
    pub fn alg(&self) -> JwsAlgorithm {
        self.alg
    }

    /// A string member of the header.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    /// A string claim.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A NumericDate claim (seconds since the epoch) as a time.
    pub fn claim_time(&self, name: &str) -> Option<DateTime<Utc>> {
        let seconds = self.claims.get(name)?.as_i64()?;
        DateTime::from_timestamp(seconds, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Cryptosuite;
    use serde_json::json;

    #[test]
    fn a_jwt_verifies_with_its_key_only_and_keeps_its_header_and_claims() {
        for suite in [Cryptosuite::EdDsaRdfc2022, Cryptosuite::EcdsaRdfc2019] {
            let key = SecretKey::generate(suite);
            let text = sign(json!({"typ": "kb+jwt", "kid": "k"}), &json!({"nonce": "n", "iat": 1_700_000_000}), &key);
            let jwt = Jwt::parse(&text).unwrap();
            assert_eq!(jwt.header_str("typ"), Some("kb+jwt"));
            assert_eq!(jwt.claim_str("nonce"), Some("n"));
            assert_eq!(jwt.claim_time("iat").unwrap().timestamp(), 1_700_000_000);
            jwt.verify_with(&key.public()).unwrap();
            let other = SecretKey::generate(suite);
            assert_eq!(jwt.verify_with(&other.public()), Err(JoseError::InvalidSignature));
        }
    }

    #[test]
    fn claims_that_are_not_an_object_and_alg_none_are_refused() {
        let key = SecretKey::generate(Cryptosuite::EdDsaRdfc2022);
        let text = sign(json!({}), &json!(["a"]), &key);
        assert!(Jwt::parse(&text).is_err());
        let unsigned = format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(br#"{"a":1}"#));
        assert!(matches!(Jwt::parse(&unsigned), Err(JoseError::UnsupportedAlgorithm { .. })));
    }

    fn b64(bytes: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }
}
