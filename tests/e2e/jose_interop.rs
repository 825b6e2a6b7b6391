//! The partner channel's JOSE against panva's `jose`: what cadena seals (a JWS naming its
//! recipient, inside a JWE `ECDH-ES` + `A256GCM` to the partner's X25519 key) another JOSE
//! implementation opens and verifies, and what that implementation seals cadena opens; each
//! refuses the other's message under the wrong key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cadena_credentials::jose::{JoseError, open, seal};
use cadena_credentials::keys::{Cryptosuite, PublicKey, SecretKey};
use cadena_tests::jose;
use serde_json::{Value, json};

const SENDER_KID: &str = "did:web:mx.customs.example#key-1";
const RECIPIENT_KID: &str = "did:web:co.customs.example#key-agreement-1";

/// The sender's private JWK: its public JWK with `d`, the seed the key was made from.
fn private_jwk(key: &SecretKey, seed: [u8; 32]) -> Value {
    let mut jwk = key.public().to_jwk();
    jwk["d"] = json!(URL_SAFE_NO_PAD.encode(seed));
    jwk
}

fn x25519_jwk(secret: &x25519_dalek::StaticSecret, private: bool) -> Value {
    let public = x25519_dalek::PublicKey::from(secret);
    let mut jwk = json!({ "kty": "OKP", "crv": "X25519", "x": URL_SAFE_NO_PAD.encode(public.as_bytes()) });
    if private {
        jwk["d"] = json!(URL_SAFE_NO_PAD.encode(secret.to_bytes()));
    }
    jwk
}

fn partner_message() -> Vec<u8> {
    serde_json::to_vec(
        &json!({ "sequence": 7, "event": "SUSPEND", "certificate": "OEA-MX-0001", "reason": "auditoría" }),
    )
    .unwrap()
}

#[tokio::test]
async fn jose_opens_what_cadena_seals_and_cadena_opens_what_jose_seals() {
    for (suite, alg) in [(Cryptosuite::EdDsaRdfc2022, "EdDSA"), (Cryptosuite::EcdsaRdfc2019, "ES256")] {
        let seed = [7u8; 32];
        let sender = SecretKey::from_seed(suite, seed);
        let recipient = x25519_dalek::StaticSecret::from([9u8; 32]);
        let payload = partner_message();

        let sealed =
            seal(&payload, &sender, SENDER_KID, &x25519_dalek::PublicKey::from(&recipient), RECIPIENT_KID).unwrap();
        let opened = jose(json!({
            "op": "decrypt-and-verify", "jwe": sealed,
            "recipientPrivateJwk": x25519_jwk(&recipient, true), "senderPublicJwk": sender.public().to_jwk(),
        }))
        .await;
        assert!(opened.get("error").is_none(), "{alg}: jose refused cadena's message: {opened}");
        assert_eq!(opened["payload"].as_str().unwrap().as_bytes(), payload.as_slice());
        let outer = &opened["protectedHeader"];
        assert_eq!(
            (outer["alg"].as_str(), outer["enc"].as_str(), outer["cty"].as_str()),
            (Some("ECDH-ES"), Some("A256GCM"), Some("JWS"))
        );
        assert_eq!(outer["kid"], RECIPIENT_KID);
        let inner = &opened["innerHeader"];
        assert_eq!((inner["alg"].as_str(), inner["typ"].as_str()), (Some(alg), Some("cadena-partner+jws")));
        assert_eq!((inner["kid"].as_str(), inner["aud"].as_str()), (Some(SENDER_KID), Some(RECIPIENT_KID)));

        // Sealed to another partner: jose cannot open it with this key.
        let stranger = x25519_dalek::StaticSecret::from([11u8; 32]);
        let refused = jose(json!({
            "op": "decrypt-and-verify", "jwe": sealed,
            "recipientPrivateJwk": x25519_jwk(&stranger, true), "senderPublicJwk": sender.public().to_jwk(),
        }))
        .await;
        assert_eq!(refused["error"]["code"], "ERR_JWE_DECRYPTION_FAILED", "{refused}");

        // The other way: jose seals, cadena opens and verifies.
        let from_jose = jose(json!({
            "op": "sign-and-encrypt", "payload": String::from_utf8(payload.clone()).unwrap(),
            "senderPrivateJwk": private_jwk(&sender, seed), "senderKid": SENDER_KID,
            "recipientPublicJwk": x25519_jwk(&recipient, false), "recipientKid": RECIPIENT_KID,
        }))
        .await;
        let jwe = from_jose["jwe"].as_str().unwrap_or_else(|| panic!("{alg}: jose sealed nothing: {from_jose}"));
        let sender_public = sender.public();
        let resolve = |kid: &str| (kid == SENDER_KID).then(|| sender_public.clone());
        let opened = open(jwe, &recipient, RECIPIENT_KID, resolve)
            .unwrap_or_else(|e| panic!("{alg}: cadena refused jose's message: {e}"));
        assert_eq!(opened.payload, payload);
        assert_eq!(opened.sender_kid, SENDER_KID);

        // Signed by another key under the sender's kid: cadena refuses the signature.
        let impostor: PublicKey = SecretKey::from_seed(suite, [8u8; 32]).public();
        let refused = open(jwe, &recipient, RECIPIENT_KID, |_| Some(impostor.clone()));
        assert_eq!(refused.err(), Some(JoseError::InvalidSignature), "{alg}");
        // Meant for another recipient kid: refused as a forwarded message.
        assert!(matches!(
            open(jwe, &recipient, "did:web:cr.customs.example#key-agreement-1", resolve),
            Err(JoseError::WrongAudience { .. })
        ));
    }
}
