//! A firm that holds its AEO credential under its own key, and consents to a VERIFIER account
//! following it by presenting that credential over the account's consent challenge (the
//! firm's wallet is Digital Bazaar's, not cadena's).

use cadena_credentials::did::did_key_for;
use cadena_credentials::keys::{Cryptosuite, SecretKey};
use serde_json::{Value, json};

use crate::{TestApp, digital_bazaar};

/// The firm's wallet: its presentation of `credential` under the key of `seed`, over
/// `challenge` (with the challenge's domain).
pub async fn present(seed: [u8; 32], credential: &Value, challenge: &Value) -> Value {
    let presented = digital_bazaar(json!({
        "op": "issue-presentation", "credential": credential, "seed": hex::encode(seed),
        "challenge": challenge["challenge"], "domain": challenge["domain"],
    }))
    .await;
    presented["verifiablePresentation"].clone()
}

/// The holder DID (`did:key`) of the firm's key `seed`.
pub fn holder_of(seed: [u8; 32]) -> String {
    did_key_for(&SecretKey::from_seed(Cryptosuite::EdDsaRdfc2022, seed).public()).0
}

impl TestApp {
    /// Grants certification `number` to operator `tin` whose credential is bound to the firm's
    /// key `seed`; returns its id and its credential.
    pub async fn granted_to_holder(&self, number: &str, tin: &str, seed: [u8; 32]) -> (String, Value) {
        let mut input = self.certification_input(number, tin);
        input["operatorDid"] = json!(holder_of(seed));
        let submitted = self.submit(input).await;
        let id = submitted.data()["submitCertification"]["id"].as_str().expect("id").to_owned();
        self.transition("approver", "approveCertification", &id, None).await.data();
        let credential = self.credential_of(&id).await;
        (id, credential)
    }

    /// A consent challenge of `account` (VERIFIER) for a consent until `until`.
    pub async fn consent_challenge(&self, account: &str, until: &str) -> Value {
        self.gql(
            Some(account),
            "mutation($u: Date!) { consentChallenge(until: $u) { challenge domain } }",
            json!({ "u": until }),
        )
        .await
        .data()["consentChallenge"]
            .clone()
    }

    /// The firm of key `seed` consents, for 30 days, to `account` following the operator of
    /// `credential`; returns what the account now follows from it.
    pub async fn followed_with_consent(&self, account: &str, seed: [u8; 32], credential: &Value) -> Value {
        let until = (chrono::Utc::now().date_naive() + chrono::Days::new(30)).to_string();
        let challenge = self.consent_challenge(account, &until).await;
        let consent = present(seed, credential, &challenge).await;
        let followed = self
            .gql(
                Some(account),
                "mutation($p: JSON!, $c: String!) { followOperator(presentation: $p, challenge: $c) { country tin } }",
                json!({ "p": consent, "c": challenge["challenge"] }),
            )
            .await;
        followed.data()["followOperator"].clone()
    }
}
