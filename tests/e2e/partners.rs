//! The seed's flow on a three-country network over a real chain: MX certifies an AEO, its MRA
//! partner CO hears at once (subscriber, signed webhook), verifies and holds it; CR, whose MRA
//! with MX does not share that certificate type, never sees it; CO and CR, without an MRA, see
//! nothing of each other. Forged, replayed, out-of-scope and non-partner messages are refused;
//! a partner down for a while ends with exactly the events it missed, in order.

use std::sync::Arc;
use std::time::Duration;

use cadena_credentials::did::{ProofPurpose, did_key_for};
use cadena_credentials::integrity::ProofOptions;
use cadena_credentials::keys::{Cryptosuite, SecretKey};
use cadena_resolvers::services::partners::{MESSAGE_TYPE, PartnerMessage};
use cadena_tests::{Backend, TestApp, TestChain};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const SECRET: &str = "webhook shared secret of CO";
const HOLDER_SEED: [u8; 32] = [11; 32];

/// Waits for the next item of `rx` that satisfies `pick`.
async fn next_matching(rx: &mut mpsc::UnboundedReceiver<Value>, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    loop {
        let item = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("{what} within 45 s"))
            .expect("stream open");
        if pick(&item) {
            return item;
        }
    }
}

struct Network {
    chain: Arc<TestChain>,
    mx: TestApp,
    co: TestApp,
    cr: TestApp,
    hooks: mpsc::UnboundedReceiver<Value>,
}

async fn network(backend: Backend) -> Network {
    let chain = TestChain::start().await;
    let (hook, hooks) = cadena_tests::webhook_receiver(SECRET).await;
    let spawn = |country: &str| TestApp::builder().backend(backend).country(country).chain(&chain).anchoring(100, 200);
    let mx = spawn("MX").spawn().await;
    let co = spawn("CO").webhook(&hook, SECRET).spawn().await;
    let cr = spawn("CR").spawn().await;
    // MX–CO shares every certificate type; MX–CR only customs simplifications; CO–CR none.
    mx.establish_mra(&co, json!(["SECURITY_AND_SAFETY", "CUSTOMS_SIMPLIFICATIONS", "FULL"])).await;
    mx.establish_mra(&cr, json!(["CUSTOMS_SIMPLIFICATIONS"])).await;
    assert_eq!(mx.active_partners().await, ["CO", "CR"]);
    assert_eq!(co.active_partners().await, ["MX"]);
    assert_eq!(cr.active_partners().await, ["MX"]);
    Network { chain, mx, co, cr, hooks }
}

const EVENTS: &str = "subscription { certificationEvents { transition toStatus origin certification { id issuingCountry tin status } } }";

async fn partner_rows(app: &TestApp, from: &str) -> Vec<(i64, String)> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    cadena_resolvers::storage::entities::partner_inbox::Entity::find()
        .filter(cadena_resolvers::storage::entities::partner_inbox::Column::Partner.eq(from))
        .order_by_asc(cadena_resolvers::storage::entities::partner_inbox::Column::Seq)
        .all(app.node.storage.db())
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.seq, r.outcome))
        .collect()
}

async fn the_seed_flow_reaches_partners_and_only_them(backend: Backend) {
    let Network { mx, co, cr, mut hooks, chain: _chain } = network(backend).await;
    let mut co_events = co.subscribe_ws("risk", EVENTS).await;
    let mut cr_events = cr.subscribe_ws("risk", EVENTS).await;

    // MX certifies an AEO with a wallet: registrar submits, approver approves.
    let holder = SecretKey::from_seed(Cryptosuite::EdDsaRdfc2022, HOLDER_SEED);
    let (holder_did, holder_method) = did_key_for(&holder.public());
    let mut input = mx.certification_input("OEA-MX-P0001", "GODE561231GR8");
    input["operatorDid"] = json!(holder_did);
    let id = mx.submit(input).await.data()["submitCertification"]["id"].as_str().unwrap().to_owned();
    mx.transition("approver", "approveCertification", &id, None).await.data();

    let event =
        next_matching(&mut co_events, "CO hears the grant", |e| e["data"]["certificationEvents"]["origin"] == "MX")
            .await;
    let event = &event["data"]["certificationEvents"];
    assert_eq!(event["transition"], "APPROVE");
    assert_eq!(event["certification"]["id"], id.as_str());
    let hook = next_matching(&mut hooks, "CO's webhook hears the grant", |h| h["body"]["origin"] == "MX").await;
    assert_eq!(hook["valid"], true, "the webhook signature verifies");
    assert_eq!(hook["body"]["transition"], "APPROVE");

    // CO's view of the operator shows MX's certification, verified on arrival.
    let operator = co
        .gql(
            Some("risk"),
            "{ operator(country: \"MX\", tin: \"GODE561231GR8\") { certifications { id issuingCountry status credential } } }",
            json!({}),
        )
        .await;
    let held = &operator.data()["operator"]["certifications"][0];
    assert_eq!(held["id"], id.as_str());
    assert_eq!(held["status"], "GRANTED");
    let credential = held["credential"].clone();
    let report = co.verify(&credential).await;
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["report"]["issuer_trust"]["outcome"], "VALID");
    assert!(report["report"]["issuer_trust"]["reason"].as_str().unwrap().contains("authority registry"), "{report}");
    // Lifecycle mutations do not reach a partner's record: it is read-only here.
    let refused = co.transition("approver", "suspendCertification", &id, Some("not ours")).await;
    assert_eq!(refused.error_code(), "NOT_FOUND");

    // The AEO firm presents its credential to an insurer at CO, which sees status only.
    let challenge = co.gql(Some("verifier"), "mutation { presentationChallenge { challenge } }", json!({})).await;
    let challenge = challenge.data()["presentationChallenge"]["challenge"].as_str().unwrap().to_owned();
    let presentation = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiablePresentation"],
        "holder": holder_did, "verifiableCredential": [credential],
    });
    let options = ProofOptions {
        verification_method: holder_method,
        purpose: ProofPurpose::Authentication,
        created: chrono::Utc::now(),
        challenge: Some(challenge.clone()),
        domain: None,
    };
    let signed = co.node.services.credentials.integrity().sign(&presentation, &holder, &options).unwrap();
    let verified = co
        .gql(
            Some("verifier"),
            "mutation($p: JSON!, $c: String!) { verifyPresentation(presentation: $p, challenge: $c) { verified credentials { verified status { outcome } validity { outcome } } } }",
            json!({ "p": signed, "c": challenge }),
        )
        .await;
    assert_eq!(verified.data()["verifyPresentation"]["verified"], true, "{}", verified.body);
    let seen = co
        .gql(
            Some("verifier"),
            "{ recognition(country: \"MX\", tin: \"GODE561231GR8\") { issuingCountry status confersBenefits source } }",
            json!({}),
        )
        .await;
    assert_eq!(
        seen.data()["recognition"],
        json!([{ "issuingCountry": "MX", "status": "GRANTED", "confersBenefits": true, "source": "PARTNER" }])
    );
    let denied =
        co.gql(Some("verifier"), "{ operator(country: \"MX\", tin: \"GODE561231GR8\") { tin } }", json!({})).await;
    assert_eq!(denied.error_code(), "FORBIDDEN", "an insurer sees no address or identifiers");

    // MX suspends; CO hears that too.
    mx.transition("approver", "suspendCertification", &id, Some("audit")).await.data();
    next_matching(&mut co_events, "CO hears the suspension", |e| {
        e["data"]["certificationEvents"]["transition"] == "SUSPEND"
    })
    .await;
    let suspended =
        co.gql(Some("risk"), "query($id: ID!) { certification(id: $id) { status } }", json!({ "id": id })).await;
    assert_eq!(suspended.data()["certification"]["status"], "SUSPENDED");

    // CO certifies its own operator: MX hears it, CR (no MRA with CO) never does.
    let co_tin = cadena_tests::valid_tins("co-nit")[0].clone();
    let co_id = co.granted("OEA-CO-P0001", &co_tin).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    loop {
        let at_mx =
            mx.gql(Some("risk"), "query($id: ID!) { certification(id: $id) { status } }", json!({ "id": co_id })).await;
        if at_mx.data()["certification"]["status"] == "GRANTED" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "MX holds CO's certification");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let at_cr =
        cr.gql(Some("risk"), "query($id: ID!) { certification(id: $id) { status } }", json!({ "id": co_id })).await;
    assert!(at_cr.data()["certification"].is_null(), "CR holds nothing of CO");
    assert!(partner_rows(&cr, "CO").await.is_empty(), "CO never sent CR anything");
    // MX's security-and-safety certification is outside the MX–CR scope: CR never saw it.
    assert!(partner_rows(&cr, "MX").await.is_empty(), "CR received nothing outside its MRA's scope");
    assert!(cr_events.try_recv().is_err(), "CR's subscriber heard nothing");
    // Within scope, CR does hear MX.
    let mut simplifications = mx.certification_input("OEA-MX-P0002", "GODE561231GR8");
    simplifications["certificateType"] = json!("CUSTOMS_SIMPLIFICATIONS");
    let cs_id = mx.submit(simplifications).await.data()["submitCertification"]["id"].as_str().unwrap().to_owned();
    mx.transition("approver", "approveCertification", &cs_id, None).await.data();
    next_matching(&mut cr_events, "CR hears an in-scope grant", |e| {
        e["data"]["certificationEvents"]["certification"]["id"] == cs_id.as_str()
    })
    .await;
}

/// Seals a message as `from` for `to`, numbered `seq`, about `credential`.
fn seal(from: &TestApp, to: &TestApp, seq: i64, credential: &Value, signer: Option<&SecretKey>) -> String {
    let (kid, key) = from.node.services.credentials.identity().signing_key();
    let event = json!({ "transition": "SUSPEND", "status": "SUSPENDED", "certificationId": uuid::Uuid::now_v7(), "lineageId": uuid::Uuid::now_v7(), "version": 1 });
    let route = Route { from: &from.country, to: &to.country, signer: (&kid, signer.unwrap_or(&key)), recipient: to };
    seal_as(route, seq, event, credential)
}

/// Who a hand-made message is from and for.
struct Route<'a> {
    from: &'a str,
    to: &'a str,
    signer: (&'a str, &'a SecretKey),
    recipient: &'a TestApp,
}

fn seal_as(route: Route<'_>, seq: i64, event: Value, credential: &Value) -> String {
    let message = PartnerMessage {
        message_type: MESSAGE_TYPE.into(),
        from: route.from.to_owned(),
        to: route.to.to_owned(),
        seq,
        sent_at: chrono::Utc::now(),
        event,
        credential: credential.clone(),
        anchor: None,
        status_lists: vec![],
    };
    let (recipient_kid, secret) = route.recipient.node.services.credentials.identity().agreement();
    let recipient = x25519_dalek::PublicKey::from(&secret);
    cadena_credentials::jose::seal(
        &serde_json::to_vec(&message).unwrap(),
        route.signer.1,
        route.signer.0,
        &recipient,
        &recipient_kid,
    )
    .unwrap()
}

async fn post_inbox(to: &TestApp, body: String) -> (u16, Value) {
    let response = to.client.post(format!("{}/partner/inbox", to.base)).body(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn forged_replayed_out_of_scope_and_non_partner_messages_are_refused(backend: Backend) {
    let Network { mx, co, cr, chain: _chain, .. } = network(backend).await;
    let id = mx.granted("OEA-MX-R0001", "GODE561231GR8").await;
    let credential = mx.credential_of(&id).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    while partner_rows(&co, "MX").await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "CO receives MX's grant");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Forged: signed by a key that is not MX's, under MX's key id.
    let impostor = SecretKey::generate(Cryptosuite::EdDsaRdfc2022);
    let (status, body) = post_inbox(&co, seal(&mx, &co, 2, &credential, Some(&impostor))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("BAD_SIGNATURE")), "{body}");

    // Replayed: number 1 was used by MX's real grant; this is other content under it.
    let (status, body) = post_inbox(&co, seal(&mx, &co, 1, &credential, None)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("REPLAY")), "{body}");

    // A gap: number 5 when 2 is next; the receiver says which it expects.
    let (status, body) = post_inbox(&co, seal(&mx, &co, 5, &credential, None)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str(), body["expected"].as_i64()),
        (409, Some("GAP"), Some(2)),
        "{body}"
    );

    // Out of scope: a security-and-safety certificate to CR, whose MRA with MX shares only
    // customs simplifications. Refused, and the number is spent (logged as REFUSED).
    let (status, body) = post_inbox(&cr, seal(&mx, &cr, 1, &credential, None)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("OUT_OF_SCOPE")), "{body}");
    assert_eq!(partner_rows(&cr, "MX").await, vec![(1, "REFUSED".to_owned())]);
    // CR's officers see the refusal and why.
    let refused = cr
        .gql(
            Some("auditor"),
            "{ partnerMessages(direction: RECEIVED, refusedOnly: true) { partner seq outcome reason } }",
            json!({}),
        )
        .await;
    let refused = &refused.data()["partnerMessages"];
    assert_eq!((refused[0]["partner"].as_str(), refused[0]["seq"].as_i64()), (Some("MX"), Some(1)), "{refused}");
    assert_eq!(refused[0]["outcome"], "REFUSED");
    assert!(refused[0]["reason"].as_str().unwrap().contains("out of scope"), "{refused}");

    // Not a partner: CO writing to CR.
    let co_credential =
        co.credential_of(&co.granted("OEA-CO-R0001", &cadena_tests::valid_tins("co-nit")[1]).await).await;
    let (status, body) = post_inbox(&cr, seal(&co, &cr, 1, &co_credential, None)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("NOT_A_PARTNER")), "{body}");

    // Not for this node at all: encrypted to CO, posted to CR.
    let (status, body) = post_inbox(&cr, seal(&mx, &co, 2, &credential, None)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("UNDECRYPTABLE")), "{body}");
}

async fn a_partner_down_for_a_while_ends_with_every_event_in_order(backend: Backend) {
    let Network { mx, co, chain: _chain, .. } = network(backend).await;
    let first = mx.granted("OEA-MX-O0001", "GODE561231GR8").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    while partner_rows(&co, "MX").await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "CO receives the first grant");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stopped = co.stop().await;

    // MX keeps certifying while CO is down.
    let mut expected = vec![("APPROVE", first.clone())];
    for i in 2..=4 {
        let id = mx.granted(&format!("OEA-MX-O{i:04}"), "GODE561231GR8").await;
        expected.push(("APPROVE", id));
    }
    mx.transition("approver", "suspendCertification", &first, Some("audit")).await.data();
    expected.push(("SUSPEND", first.clone()));
    mx.transition("approver", "revokeCertification", &first, Some("fraud")).await.data();
    expected.push(("REVOKE", first.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;

    let co = stopped.start().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let rows = partner_rows(&co, "MX").await;
        if rows.len() >= expected.len() {
            assert_eq!(rows.len(), expected.len(), "exactly MX's events, none twice: {rows:?}");
            assert!(
                rows.iter().enumerate().all(|(i, (seq, outcome))| *seq == i as i64 + 1 && outcome == "ACCEPTED"),
                "{rows:?}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "CO catches up within 60 s: {rows:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let first_at_co =
        co.gql(Some("risk"), "query($id: ID!) { certification(id: $id) { status } }", json!({ "id": first })).await;
    assert_eq!(
        first_at_co.data()["certification"]["status"],
        "REVOKED",
        "applied in order: granted, suspended, revoked"
    );
}

/// The sender dies while the receiver verifies its message (the receiver cannot fetch the
/// sender's DID document or anchor proof): the receiver must not spend the number on a refusal.
/// It answers 503, stores nothing, and takes the message when the sender, back, sends it again.
async fn a_sender_dying_mid_verification_loses_no_message(backend: Backend) {
    let Network { mx, co, chain: _chain, .. } = network(backend).await;
    let co = co.stop().await;
    let id = mx.granted("OEA-MX-S0001", "GODE561231GR8").await;
    let credential = mx.credential_of(&id).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let report = mx.verify(&credential).await;
        if report["report"]["anchor"]["outcome"] == "VALID" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "MX anchors its grant: {report}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // MX's message 1 to CO, exactly as MX's worker would send it, and then MX dies.
    let (kid, key) = mx.node.services.credentials.identity().signing_key();
    let event = json!({ "transition": "APPROVE", "status": "GRANTED", "certificationId": id, "lineageId": uuid::Uuid::now_v7(), "version": 1 });
    let mx = mx.stop().await;
    let co = co.start().await;
    let sealed = seal_as(Route { from: "MX", to: "CO", signer: (&kid, &key), recipient: &co }, 1, event, &credential);

    let response = co.client.post(format!("{}/partner/inbox", co.base)).body(sealed).send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("UNDECIDED")), "{body}");
    assert!(retry_after.is_some(), "a temporary answer says when to come back");
    assert!(partner_rows(&co, "MX").await.is_empty(), "the number stays open: nothing recorded");

    // MX is back: its own message 1 reaches CO and is taken; both sides' officers see it held.
    let mx = mx.start().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(75);
    while partner_rows(&co, "MX").await != vec![(1, "ACCEPTED".to_owned())] {
        let rows = partner_rows(&co, "MX").await;
        assert!(tokio::time::Instant::now() < deadline, "CO takes MX's message once MX is back: {rows:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let held = co.gql(Some("risk"), "query($id: ID!) { certification(id: $id) { status } }", json!({ "id": id })).await;
    assert_eq!(held.data()["certification"]["status"], "GRANTED");
    let log = "query($d: PartnerMessageDirection!, $p: String) { partnerMessages(direction: $d, partner: $p) { partner seq outcome reason } }";
    // MX records the acknowledgement just after CO committed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let sent = mx.gql(Some("auditor"), log, json!({ "d": "SENT", "p": "CO" })).await;
        let sent = sent.data()["partnerMessages"].clone();
        if sent == json!([{ "partner": "CO", "seq": 1, "outcome": "ACCEPTED", "reason": null }]) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "MX's log shows CO holds message 1: {sent}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let received = co.gql(Some("auditor"), log, json!({ "d": "RECEIVED", "p": null })).await;
    assert_eq!(
        received.data()["partnerMessages"],
        json!([{ "partner": "MX", "seq": 1, "outcome": "ACCEPTED", "reason": null }])
    );
}

/// A partner's holdings diverge from what MX sent (a record lost and another rolled back, as
/// after restoring an old backup of them): reconciliation finds both, names them, and repairs
/// them from MX's messages, verified again.
async fn diverging_holdings_are_found_and_repaired(backend: Backend) {
    use cadena_resolvers::storage::entities::partner_certifications as held;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let Network { mx, co, chain: _chain, .. } = network(backend).await;
    let first = mx.granted("OEA-MX-C0001", "GODE561231GR8").await;
    let second = mx.granted("OEA-MX-C0002", "GODE561231GR8").await;
    mx.transition("approver", "suspendCertification", &first, Some("audit")).await.data();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    while partner_rows(&co, "MX").await.len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "CO takes MX's three messages");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let first_id = mx.credential_of(&first).await["id"].as_str().unwrap().to_owned();
    let second_id = mx.credential_of(&second).await["id"].as_str().unwrap().to_owned();
    let db = co.node.storage.db();
    held::Entity::update_many()
        .col_expr(held::Column::Status, Expr::value("GRANTED"))
        .filter(held::Column::CredentialId.eq(&first_id))
        .exec(db)
        .await
        .unwrap();
    held::Entity::delete_many().filter(held::Column::CredentialId.eq(&second_id)).exec(db).await.unwrap();

    let reconcile = "mutation { reconcilePartner(partner: \"MX\") { partner compared found { credentialId expected held } remaining { credentialId } } }";
    let report = co.gql(Some("admin"), reconcile, json!({})).await;
    let report = &report.data()["reconcilePartner"];
    assert_eq!(report["compared"], true, "{report}");
    let mut found = report["found"].as_array().unwrap().clone();
    found.sort_by_key(|d| d["credentialId"].as_str().map(|id| id != first_id));
    assert_eq!(
        json!(found),
        json!([
            { "credentialId": first_id, "expected": "SUSPENDED", "held": "GRANTED" },
            { "credentialId": second_id, "expected": "GRANTED", "held": null },
        ]),
        "{report}"
    );
    assert_eq!(report["remaining"], json!([]), "repaired: {report}");
    for (id, status) in [(&first, "SUSPENDED"), (&second, "GRANTED")] {
        let at_co =
            co.gql(Some("risk"), "query($id: ID!) { certification(id: $id) { status } }", json!({ "id": id })).await;
        assert_eq!(at_co.data()["certification"]["status"], status);
    }
    let again = co.gql(Some("admin"), reconcile, json!({})).await;
    assert_eq!(again.data()["reconcilePartner"]["found"], json!([]), "nothing differs any more");
    // Only an ADMIN asks for it.
    let refused = co.gql(Some("risk"), reconcile, json!({})).await;
    assert_eq!(refused.error_code(), "FORBIDDEN");
}

/// An MRA that becomes active after certifications were granted: the new partner is told the
/// current state of each (its newest event), not only what happens from then on.
async fn a_new_partner_hears_what_was_certified_before_the_mra(backend: Backend) {
    let chain = TestChain::start().await;
    let spawn = |country: &str| TestApp::builder().backend(backend).country(country).chain(&chain).anchoring(100, 200);
    let mx = spawn("MX").spawn().await;
    let co = spawn("CO").spawn().await;
    let suspended = mx.granted("OEA-MX-N0001", "GODE561231GR8").await;
    mx.transition("approver", "suspendCertification", &suspended, Some("audit")).await.data();
    let granted = mx.granted("OEA-MX-N0002", "GODE561231GR8").await;

    mx.establish_mra(&co, json!(["SECURITY_AND_SAFETY", "CUSTOMS_SIMPLIFICATIONS", "FULL"])).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    while partner_rows(&co, "MX").await.len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "CO hears MX's earlier certifications");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(partner_rows(&co, "MX").await, vec![(1, "ACCEPTED".to_owned()), (2, "ACCEPTED".to_owned())]);
    for (id, status) in [(&suspended, "SUSPENDED"), (&granted, "GRANTED")] {
        let at_co =
            co.gql(Some("risk"), "query($id: ID!) { certification(id: $id) { status } }", json!({ "id": id })).await;
        assert_eq!(at_co.data()["certification"]["status"], status);
    }
    // From then on, as usual.
    mx.transition("approver", "reinstateCertification", &suspended, Some("cleared")).await.data();
    while partner_rows(&co, "MX").await.len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "CO hears the reinstatement");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

on_both_backends!(
    a_new_partner_hears_what_was_certified_before_the_mra,
    diverging_holdings_are_found_and_repaired,
    a_sender_dying_mid_verification_loses_no_message,
    the_seed_flow_reaches_partners_and_only_them,
    forged_replayed_out_of_scope_and_non_partner_messages_are_refused,
    a_partner_down_for_a_while_ends_with_every_event_in_order,
);
