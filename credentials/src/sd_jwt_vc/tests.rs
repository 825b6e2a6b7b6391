use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use futures::future::BoxFuture;
use serde_json::Value;

use super::status_list::{TokenStatus, status_list_token};
use super::*;
use crate::did::did_document;
use crate::fixtures::aeo_credential;
use crate::integrity::Integrity;
use crate::keys::{Cryptosuite, IssuerKeys};
use crate::verification::{DidResolver, Outcome, ResolutionError, StatusListSource, TrustList, Verifier};

const DID: &str = "did:web:aduanas.example";
const BASE: &str = "https://aduanas.example";
const LIST: &str = "https://aduanas.example/status-lists/token-1";
const VERIFIER: &str = "redirect_uri:https://insurer.example/response";

/// The issuer's DID document and its current token list.
struct Issuer {
    did_document: Arc<Value>,
    token: Mutex<String>,
}

impl DidResolver for Issuer {
    fn resolve<'a>(&'a self, did: &'a str, _fresh: bool) -> BoxFuture<'a, Result<Arc<Value>, ResolutionError>> {
        Box::pin(async move {
            if did == DID { Ok(self.did_document.clone()) } else { Err(ResolutionError(format!("unknown {did}"))) }
        })
    }
}

impl StatusListSource for Issuer {
    fn fetch<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<Arc<Value>, ResolutionError>> {
        Box::pin(async move { Err(ResolutionError(format!("unknown {url}"))) })
    }
    fn fetch_token<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<String, ResolutionError>> {
        Box::pin(async move {
            if url == LIST {
                Ok(self.token.lock().unwrap().clone())
            } else {
                Err(ResolutionError(format!("unknown {url}")))
            }
        })
    }
}

struct Setup {
    keys: IssuerKeys,
    issuer: Arc<Issuer>,
    verifier: Verifier,
    holder: SecretKey,
    issued: String,
}

fn setup() -> Setup {
    let keys = IssuerKeys::generate(Cryptosuite::EdDsaRdfc2022);
    let kid = format!("{DID}#{}", keys.current().fragment);
    let holder = SecretKey::generate(Cryptosuite::EdDsaRdfc2022);
    let credential = aeo_credential(7, DID, BASE).to_json();
    let status = TokenStatusReference { uri: LIST.into(), index: 7 };
    let issued = issue(&credential, &holder.public(), &status, &keys.current().key, &kid, Utc::now()).unwrap();
    let issuer =
        Arc::new(Issuer { did_document: Arc::new(did_document(DID, &keys, &[])), token: Mutex::new(String::new()) });
    let trust = TrustList(HashMap::from([(DID.to_owned(), "the customs of Mexico".to_owned())]));
    let verifier = Verifier::new(Arc::new(Integrity::new()), issuer.clone(), issuer.clone(), Arc::new(trust), None);
    let setup = Setup { keys, issuer, verifier, holder, issued };
    setup.set_status(TokenStatus::Valid);
    setup
}

impl Setup {
    fn set_status(&self, status: TokenStatus) {
        let kid = format!("{DID}#{}", self.keys.current().fragment);
        let token = status_list_token(LIST, 1024, [(7, status)], &self.keys.current().key, &kid, Utc::now(), 300);
        *self.issuer.token.lock().unwrap() = token.unwrap();
    }

    fn present(&self, keep: &[&str], nonce: &str) -> String {
        let shown = select_disclosures(&self.issued, keep).unwrap();
        let kb = key_binding_jwt(&shown, &self.holder, VERIFIER, nonce, Utc::now());
        format!("{shown}{kb}")
    }

    async fn verify(&self, presentation: &str, nonce: &str) -> SdJwtPresentationReport {
        self.verifier.verify_sd_jwt_presentation(presentation, VERIFIER, nonce, Utc::now(), Utc::now()).await.unwrap()
    }
}

#[tokio::test]
async fn a_firm_discloses_only_what_it_chooses_and_the_presentation_verifies() {
    let setup = setup();
    let report = setup.verify(&setup.present(&["certificateType"], "n-1"), "n-1").await;
    assert!(report.report.verified, "{report:#?}");
    assert!(report.report.credentials[0].aeo_certification);
    assert_eq!(report.disclosed, vec!["certificateType".to_owned()]);
    assert_eq!(report.claims["certificateType"], "SECURITY_AND_SAFETY");
    for withheld in ["legalName", "traderIdentificationNumber", "address", "partnerIdentifiers"] {
        assert!(!report.claims.contains_key(withheld), "{withheld} was not disclosed");
    }
    assert_eq!(report.claims["vct"], AEO_VCT);
    assert!(report.claims.contains_key("exp") && report.claims.contains_key("nbf"));
    // Status and validity only: nothing disclosed, still a verified AEO certification.
    let bare = setup.verify(&setup.present(&[], "n-2"), "n-2").await;
    assert!(bare.report.verified && bare.disclosed.is_empty(), "{bare:#?}");
}

#[tokio::test]
async fn suspension_and_revocation_show_through_the_token_status_list() {
    let setup = setup();
    let presentation = setup.present(&["traderIdentificationNumber"], "n");
    setup.set_status(TokenStatus::Suspended);
    let report = setup.verify(&presentation, "n").await;
    assert!(!report.report.verified);
    assert_eq!(report.report.credentials[0].status.suspended, Some(true));
    assert_eq!(report.report.credentials[0].status.check.reason, "suspended");
    setup.set_status(TokenStatus::Invalid);
    let report = setup.verify(&presentation, "n").await;
    assert_eq!(report.report.credentials[0].status.revoked, Some(true));
}

#[tokio::test]
async fn tampering_another_key_another_nonce_or_audience_are_refused() {
    let setup = setup();
    let good = setup.present(&["legalName"], "n");
    // One character changed inside the disclosure: its digest is in no _sd.
    let (jwt, rest) = good.split_once('~').unwrap();
    let mut disclosure: Vec<char> = rest.split('~').next().unwrap().chars().collect();
    disclosure[10] = if disclosure[10] == 'A' { 'B' } else { 'A' };
    let disclosure: String = disclosure.into_iter().collect();
    let tampered = format!("{jwt}~{disclosure}~{}", rest.split('~').nth(1).unwrap());
    assert!(matches!(
        setup.verifier.verify_sd_jwt_presentation(&tampered, VERIFIER, "n", Utc::now(), Utc::now()).await,
        Err(SdJwtError::Disclosure(_) | SdJwtError::Malformed(_))
    ));
    // A disclosure of another credential (same claim name, another salt) is refused as well.
    let kid = format!("{DID}#{}", setup.keys.current().fragment);
    let status = TokenStatusReference { uri: LIST.into(), index: 8 };
    let other_credential = aeo_credential(8, DID, BASE).to_json();
    let other =
        issue(&other_credential, &setup.holder.public(), &status, &setup.keys.current().key, &kid, Utc::now()).unwrap();
    let other = select_disclosures(&other, &["legalName"]).unwrap();
    let foreign = other.split('~').nth(1).unwrap();
    let spliced = format!("{jwt}~{foreign}~{}", rest.split('~').nth(1).unwrap());
    assert!(setup.verifier.verify_sd_jwt_presentation(&spliced, VERIFIER, "n", Utc::now(), Utc::now()).await.is_err());
    // Nonce and audience.
    let report = setup.verify(&good, "another nonce").await;
    assert_eq!(report.report.challenge.outcome, Outcome::Invalid, "{report:#?}");
    let report =
        setup.verifier.verify_sd_jwt_presentation(&good, "redirect_uri:https://x", "n", Utc::now(), Utc::now()).await;
    assert_eq!(report.unwrap().report.challenge.outcome, Outcome::Invalid);
    // A key-binding JWT by a key other than the one in cnf.
    let shown = select_disclosures(&setup.issued, &[]).unwrap();
    let thief = SecretKey::generate(Cryptosuite::EdDsaRdfc2022);
    let stolen = format!("{shown}{}", key_binding_jwt(&shown, &thief, VERIFIER, "n", Utc::now()));
    let report = setup.verify(&stolen, "n").await;
    assert_eq!(report.report.holder_binding.outcome, Outcome::Invalid);
    assert!(!report.report.verified);
    // No key binding at all.
    let report = setup.verify(&shown, "n").await;
    assert!(!report.report.verified);
    // The issuer JWT's claims changed (validity stretched): the signature no longer holds.
    let mut claims = Jwt::parse(jwt).unwrap().claims;
    claims.insert("exp".into(), serde_json::json!(4_000_000_000_i64));
    let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let mut parts: Vec<&str> = jwt.split('.').collect();
    parts[1] = &forged_payload;
    let forged_jwt = parts.join(".");
    let forged_shown = format!("{forged_jwt}~");
    let forged = format!("{forged_shown}{}", key_binding_jwt(&forged_shown, &setup.holder, VERIFIER, "n", Utc::now()));
    let report = setup.verify(&forged, "n").await;
    assert_eq!(report.report.credentials[0].integrity.outcome, Outcome::Invalid, "{report:#?}");
}
