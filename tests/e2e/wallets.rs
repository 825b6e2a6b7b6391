//! Firms hold their certification in standard wallets and show it to insurers and banks:
//! OpenID4VCI (pre-authorised code) from the issuing node, OpenID4VP (DCQL, `direct_post`) to a
//! VERIFIER account at an MRA partner, in both formats (Data Integrity `ldp_vc` and SD-JWT VC).
//! The wallet is the OpenWallet Foundation's libraries (`tests/interop/openid4vc/wallet.mjs`),
//! and what it receives is verified by `@sd-jwt/sd-jwt-vc` and Digital Bazaar's verifier.

use std::time::Duration;

use cadena_tests::wallets::{holder_cli, openid4vc};
use cadena_tests::{Backend, TestApp, TestChain, digital_bazaar, webhook_receiver};
use sea_orm::EntityTrait as _;
use serde_json::{Value, json};

on_both_backends!(a_firm_takes_its_certification_to_a_wallet_and_proves_its_status_to_an_insurer);
on_both_backends!(wallets_cannot_replay_reuse_forge_or_tamper);
on_both_backends!(the_reference_holder_receives_lists_and_presents);

const TIN: &str = "GODE561231GR8";
const SECRET: &str = "the insurer's webhook secret";
const LDP_VC: &str = "AEOCertification_ldp_vc";
const SD_JWT_VC: &str = "AEOCertification_dc+sd-jwt";

/// The credential of `format` the wallet holds.
fn held<'a>(wallet: &'a Value, format: &str) -> &'a Value {
    let credentials = wallet["credentials"].as_array().unwrap_or_else(|| panic!("no credentials: {wallet}"));
    &credentials.iter().find(|c| c["format"] == format).unwrap_or_else(|| panic!("no {format}: {wallet}"))["credential"]
}

/// `text` with the character at `at` changed.
fn one_character_changed(text: &str, at: usize) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// The public JWK the node signs with.
fn issuer_jwk(node: &TestApp) -> Value {
    node.node.services.credentials.identity().signing_key().1.public().to_jwk()
}

async fn a_firm_takes_its_certification_to_a_wallet_and_proves_its_status_to_an_insurer(backend: Backend) {
    let chain = TestChain::start().await;
    let spawn = |country: &str| TestApp::builder().backend(backend).country(country).chain(&chain).anchoring(100, 200);
    let (hook, mut hooks) = webhook_receiver(SECRET).await;
    let mx = spawn("MX").spawn().await;
    let co = spawn("CO").verifier_webhook(&hook, SECRET, "verifier").spawn().await;
    mx.establish_mra(&co, json!(["SECURITY_AND_SAFETY", "CUSTOMS_SIMPLIFICATIONS", "FULL"])).await;

    // MX grants; an officer offers the certification to the firm's wallet.
    let id = mx.granted("OEA-MX-W0001", TIN).await;
    let offer = mx.offer_to_wallet("registrar", &id).await;
    let link = offer["link"].as_str().unwrap();
    // By reference: the link (and QR code) carries the offer's URL, which serves the offer until
    // it is redeemed.
    let uri =
        link.strip_prefix("openid-credential-offer://?credential_offer_uri=").unwrap_or_else(|| panic!("{offer}"));
    let uri: String = form_urlencoded::parse(format!("u={uri}").as_bytes()).next().unwrap().1.into_owned();
    assert!(uri.starts_with(&format!("{}/openid4vci/offers/", mx.base)), "{uri}");
    let served: Value = mx.client.get(&uri).send().await.unwrap().json().await.unwrap();
    assert_eq!(served, offer["credentialOffer"]);
    assert!(offer["qrSvg"].as_str().unwrap().contains("<svg"), "{offer}");
    let tx_code = offer["txCode"].as_str().unwrap();
    assert!(tx_code.len() == 6 && tx_code.bytes().all(|b| b.is_ascii_digit()), "{offer}");
    assert!(!offer["credentialOffer"].to_string().contains(tx_code), "the transaction code travels apart: {offer}");

    // The firm's wallet receives both formats: the Data Integrity credential bound to its
    // did:key, the SD-JWT VC to its JWK.
    let wallet = openid4vc(json!({
        "op": "receive-offer", "offer": link, "txCode": offer["txCode"], "holderSeed": hex::encode([7u8; 32]),
        "binding": { SD_JWT_VC: "jwk" },
    }))
    .await;
    assert_eq!(wallet["error"], Value::Null, "{wallet}");
    assert_eq!(wallet["issuerVersion"], "V1", "the library reads the metadata as OpenID4VCI 1.0: {wallet}");
    assert_eq!(mx.client.get(&uri).send().await.unwrap().status(), 404, "a redeemed offer is no longer served");
    let ldp = held(&wallet, "ldp_vc").clone();
    let sd_jwt = held(&wallet, "dc+sd-jwt").as_str().expect("an SD-JWT VC is a string").to_owned();
    assert_eq!(ldp["credentialSubject"]["id"], wallet["holder"]["did"], "bound to the wallet's key");
    assert_eq!(ldp["credentialSubject"]["traderIdentificationNumber"], TIN);

    // Each verifies with an independent implementation, status included; one character changed
    // fails everywhere.
    let dbz = digital_bazaar(json!({ "op": "verify-credential", "credential": ldp, "checkStatus": true })).await;
    assert_eq!(dbz["verified"], true, "{dbz}");
    assert_eq!(dbz["statusResult"], json!({ "revocation": false, "suspension": false }), "{dbz}");
    assert_eq!(mx.verify(&ldp).await["verified"], true);
    let sd_check = |credential: String| {
        openid4vc(
            json!({ "op": "verify-sd-jwt-vc", "credential": credential, "issuerJwk": issuer_jwk(&mx), "checkStatus": true }),
        )
    };
    let checked = sd_check(sd_jwt.clone()).await;
    assert_eq!(checked["verified"], true, "{checked}");
    assert_eq!(checked["status"], 0, "VALID in the Token Status List: {checked}");
    assert_eq!(checked["claims"]["vct"], "https://w3id.org/cadena/aeo#AEOCertificationCredential");
    assert_eq!(checked["claims"]["traderIdentificationNumber"], TIN, "every disclosure the issuer gave: {checked}");
    let mut forged_ldp = ldp.clone();
    forged_ldp["credentialSubject"]["legalName"] =
        json!(one_character_changed(ldp["credentialSubject"]["legalName"].as_str().unwrap(), 3));
    let dbz =
        digital_bazaar(json!({ "op": "verify-credential", "credential": forged_ldp, "checkStatus": false })).await;
    assert_eq!(dbz["verified"], false, "{dbz}");
    assert_eq!(mx.verify(&forged_ldp).await["verified"], false);
    let payload_char = sd_jwt.find('.').unwrap() + 20;
    let checked = sd_check(one_character_changed(&sd_jwt, payload_char)).await;
    assert_eq!(checked["verified"], false, "{checked}");

    // The wallet log: offered, redeemed, both issued, each to the wallet's key.
    let events: Vec<String> =
        mx.wallet_events(&id).await.iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect();
    assert_eq!(events, ["OFFERED", "TOKEN_ISSUED", "CREDENTIAL_ISSUED", "CREDENTIAL_ISSUED"]);

    // An insurer at CO asks for proof of AEO status; the wallet discloses nothing but what
    // the issuer JWT shows to all: status, type and validity.
    let request = co.request_presentation("verifier", "SD_JWT_VC", &[]).await;
    assert!(request["link"].as_str().unwrap().starts_with("openid4vp://?"), "{request}");
    let answer = openid4vc(json!({
        "op": "present", "request": request["link"], "credentials": wallet["credentials"], "holder": wallet["holder"],
        "disclose": [],
    }))
    .await;
    assert_eq!(answer["status"], 200, "{answer}");
    let result = wait_for_anchor(&co, &request["id"]).await;
    assert_eq!(result["state"], "ANSWERED");
    assert_eq!(result["verified"], true, "{result}");
    let report = &result["report"];
    assert_eq!(report["disclosed"], json!([]), "{report}");
    for withheld in ["legalName", "traderIdentificationNumber", "address", "partnerIdentifiers", "certificateNumber"] {
        assert!(report["claims"].get(withheld).is_none(), "{withheld} was withheld: {report}");
    }
    let credential = &report["credentials"][0];
    for fragment in ["integrity", "issuer_trust", "validity", "anchor"] {
        assert_eq!(credential[fragment]["outcome"], "VALID", "{fragment}: {report}");
    }
    assert_eq!(credential["status"]["check"]["outcome"], "VALID", "{report}");
    for fragment in ["integrity", "challenge", "holder_binding"] {
        assert_eq!(report[fragment]["outcome"], "VALID", "{fragment}: {report}");
    }
    assert_eq!(report["holder"], wallet["holder"]["did"]);
    // The insurer's risk system hears it on its signed webhook.
    let call = tokio::time::timeout(Duration::from_secs(30), hooks.recv()).await.expect("a webhook call").unwrap();
    assert_eq!(call["valid"], true, "signed: {call}");
    assert_eq!(call["body"]["type"], "presentation.verified");
    assert_eq!(call["body"]["request"], request["id"]);
    assert_eq!(call["body"]["verified"], true);

    // The whole Data Integrity credential, to a bank asking for it.
    let request_ldp = co.request_presentation("verifier", "LDP_VC", &[]).await;
    let answer = openid4vc(json!({
        "op": "present", "request": request_ldp["link"], "credentials": wallet["credentials"], "holder": wallet["holder"],
    }))
    .await;
    assert_eq!(answer["status"], 200, "{answer}");
    let result = co.presentation_result("verifier", &request_ldp["id"], false).await;
    assert_eq!(result["verified"], true, "{result}");

    // MX suspends: the same presentation, checked again, reports the suspension, and so do the
    // independent verifiers.
    mx.transition("approver", "suspendCertification", &id, Some("audit findings")).await.data();
    let again = co.presentation_result("verifier", &request["id"], true).await;
    assert_eq!(again["verified"], false, "{again}");
    let status = &again["report"]["credentials"][0]["status"];
    assert_eq!(status["suspended"], true, "{again}");
    assert_eq!(status["check"]["reason"], "suspended");
    let checked = sd_check(sd_jwt.clone()).await;
    assert_eq!(checked["status"], 2, "SUSPENDED in the Token Status List: {checked}");
    let dbz = digital_bazaar(json!({ "op": "verify-credential", "credential": ldp, "checkStatus": true })).await;
    assert_eq!(dbz["statusResult"]["suspension"], true, "{dbz}");
    // Nothing more reaches a wallet of a suspended certification.
    let refused = mx
        .gql(
            Some("registrar"),
            "mutation($id: ID!) { offerCredentialToWallet(certificationId: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(refused.error_fields(), ["certificationId"], "{refused:?}");
}

/// The report of `id` once its credential's anchor is on chain (its batch goes out within a
/// second), checked again until then.
async fn wait_for_anchor(co: &TestApp, id: &Value) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let result = co.presentation_result("verifier", id, true).await;
        if result["report"]["credentials"][0]["anchor"]["outcome"] == "VALID" {
            return result;
        }
        assert!(tokio::time::Instant::now() < deadline, "never anchored: {result}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn wallets_cannot_replay_reuse_forge_or_tamper(backend: Backend) {
    let mx = TestApp::builder().backend(backend).wallet_request_ttl_secs(3).spawn().await;
    let id = mx.granted("OEA-MX-W0002", TIN).await;
    let offered = || mx.offer_to_wallet("approver", &id);

    // Only officers who deal with the firm offer, and only what is granted.
    let forbidden = mx
        .gql(
            Some("verifier"),
            "mutation($id: ID!) { offerCredentialToWallet(certificationId: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(forbidden.error_code(), "FORBIDDEN");
    let submitted = mx.submit(mx.certification_input("OEA-MX-W0003", TIN)).await;
    let pending = submitted.data()["submitCertification"]["id"].clone();
    let refused = mx
        .gql(
            Some("registrar"),
            "mutation($id: ID!) { offerCredentialToWallet(certificationId: $id) { id } }",
            json!({ "id": pending }),
        )
        .await;
    assert_eq!(refused.error_fields(), ["certificationId"], "{refused:?}");

    // A replayed offer: its code is redeemed once.
    let offer = offered().await;
    let replay = openid4vc(json!({ "op": "replay-token", "offer": offer["link"], "txCode": offer["txCode"] })).await;
    assert_eq!(replay["status"], 400, "{replay}");
    assert_eq!(replay["body"]["error"], "invalid_grant", "{replay}");
    assert!(replay["body"]["error_description"].as_str().unwrap().contains("already redeemed"), "{replay}");
    // A wrong transaction code.
    let offer = offered().await;
    let wrong = openid4vc(json!({ "op": "receive-offer", "offer": offer["link"], "txCode": "not-it" })).await;
    assert_eq!(wrong["error"]["step"], "token", "{wrong}");
    assert_eq!(wrong["error"]["body"]["error"], "invalid_grant", "{wrong}");
    // A reused nonce (the first use issues; the second is refused).
    let offer = offered().await;
    let reused = openid4vc(json!({
        "op": "credential-with-proof", "offer": offer["link"], "txCode": offer["txCode"], "configurationId": SD_JWT_VC,
        "proof": "reused-nonce",
    }))
    .await;
    assert_eq!(reused["status"], 400, "{reused}");
    assert_eq!(reused["body"]["error"], "invalid_nonce", "{reused}");
    // A proof signed by another key than the one it names, and a proof without a nonce.
    for (proof, error) in [("wrong-key", "invalid_proof"), ("no-nonce", "invalid_nonce")] {
        let offer = offered().await;
        let answer = openid4vc(json!({
            "op": "credential-with-proof", "offer": offer["link"], "txCode": offer["txCode"], "configurationId": LDP_VC,
            "proof": proof,
        }))
        .await;
        assert_eq!(answer["status"], 400, "{proof}: {answer}");
        assert_eq!(answer["body"]["error"], error, "{proof}: {answer}");
    }
    // Nothing issued by any of these but the nonce's first, rightful use; each refusal logged.
    let events = mx.wallet_events(&id).await;
    let count = |event: &str| events.iter().filter(|e| e["event"] == event).count();
    assert_eq!(count("OFFERED"), 5, "{events:?}");
    assert_eq!(count("CREDENTIAL_ISSUED"), 1, "{events:?}");
    assert!(count("REFUSED") >= 4, "{events:?}");
    let stored = cadena_resolvers::storage::entities::wallet_credentials::Entity::find()
        .all(mx.node.storage.db())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);

    // A wallet with both credentials, for the presentation side.
    let offer = offered().await;
    let wallet = openid4vc(json!({ "op": "receive-offer", "offer": offer["link"], "txCode": offer["txCode"] })).await;
    assert_eq!(wallet["error"], Value::Null, "{wallet}");
    let present = |request: &Value, tamper: &str| {
        openid4vc(json!({
            "op": "present", "request": request["link"], "credentials": wallet["credentials"], "holder": wallet["holder"],
            "disclose": ["legalName"], "tamper": tamper,
        }))
    };
    // A tampered disclosure is refused, and the request stays unanswered.
    let request = mx.request_presentation("verifier", "SD_JWT_VC", &["legalName"]).await;
    let tampered = present(&request, "disclosure").await;
    assert_eq!(tampered["status"], 400, "{tampered}");
    assert_eq!(tampered["body"]["error"], "invalid_request", "{tampered}");
    assert!(tampered["body"]["error_description"].as_str().unwrap().contains("disclosure"), "{tampered}");
    assert_eq!(mx.presentation_result("verifier", &request["id"], false).await["state"], "PENDING");
    // Answered once; a second answer is refused.
    let answered = present(&request, "none").await;
    assert_eq!(answered["status"], 200, "{answered}");
    let result = mx.presentation_result("verifier", &request["id"], false).await;
    assert_eq!(result["verified"], true, "{result}");
    assert_eq!(result["report"]["disclosed"], json!(["legalName"]));
    let again = present(&request, "none").await;
    assert_eq!(again["status"], 400, "{again}");
    assert!(again["body"]["error_description"].as_str().unwrap().contains("single use"), "{again}");
    // An expired request.
    let request = mx.request_presentation("verifier", "SD_JWT_VC", &[]).await;
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let late = present(&request, "none").await;
    assert_eq!(late["status"], 400, "{late}");
    assert!(late["body"]["error_description"].as_str().unwrap().contains("expired"), "{late}");
    assert_eq!(mx.presentation_result("verifier", &request["id"], false).await["state"], "EXPIRED");
    // A claim the AEO credential has not is refused by name; another account's request is not found.
    let bad =
        mx.gql(Some("verifier"), "mutation { requestPresentation(claims: [\"creditScore\"]) { id } }", json!({})).await;
    assert_eq!(bad.error_fields(), ["claims[0]"], "{bad:?}");
}

/// The reference holder a firm or a tester runs (`cli.mjs`): it receives both formats from an
/// offer into its key store, lists them, and answers a verifier's request disclosing one claim.
async fn the_reference_holder_receives_lists_and_presents(backend: Backend) {
    let mx = TestApp::builder().backend(backend).spawn().await;
    let id = mx.granted("OEA-MX-W0004", TIN).await;
    let store = tempfile::tempdir().unwrap();
    let store = store.path().join("wallet.json");
    let offer = mx.offer_to_wallet("registrar", &id).await;
    let (link, tx_code) = (offer["link"].as_str().unwrap(), offer["txCode"].as_str().unwrap());
    let (code, out, err) = holder_cli(&store, &["receive", link, "--tx-code", tx_code]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ldp_vc") && out.contains("dc+sd-jwt"), "{out}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&store).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "the key store is the owner's only");
    // The same offer again: it was redeemed, so its address serves it no more; the holder says
    // why, in one line.
    let (code, out, err) = holder_cli(&store, &["receive", link, "--tx-code", tx_code]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("HTTP 404") && err.contains("it was redeemed"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (code, out, err) = holder_cli(&store, &["list"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("traderIdentificationNumber") && out.contains(&mx.did()), "{out}");
    let request = mx.request_presentation("verifier", "SD_JWT_VC", &["traderIdentificationNumber"]).await;
    let link = request["link"].as_str().unwrap();
    let (code, out, err) = holder_cli(&store, &["present", link, "--disclose", "traderIdentificationNumber"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("HTTP 200"), "{out}");
    let result = mx.presentation_result("verifier", &request["id"], false).await;
    assert_eq!(result["verified"], true, "{result}");
    assert_eq!(result["report"]["claims"]["traderIdentificationNumber"], TIN);
    assert_eq!(result["report"]["disclosed"], json!(["traderIdentificationNumber"]));
}
