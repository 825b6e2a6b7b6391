//! Insurers and banks following the firms they cover: only with the firm's consent (its own
//! presentation over a consent challenge naming the account and the period), status only,
//! across MRA partners (subscription over WebSocket and SSE, and the account's signed webhook),
//! until the firm withdraws.

use std::time::Duration;

use cadena_credentials::CountryCode;
use cadena_gateway::federated_gateway::GatewayLimits;
use cadena_gateway::{Node, NodeConfig};
use cadena_resolvers::services::watch_lists::ConfiguredFollow;
use cadena_tests::federation::spawn_gateway;
use cadena_tests::following::{holder_of, present};
use cadena_tests::{Backend, TestApp, TestChain, open_event_stream, sse_events, sse_single_result};
use futures::StreamExt;
use serde_json::{Value, json};

on_both_backends!(an_insurer_follows_a_firm_with_its_consent_and_hears_status_only);
on_both_backends!(an_admin_configures_what_a_regulated_body_follows);

const TIN: &str = "GODE561231GR8";
const SECRET: &str = "the insurer's webhook secret";
const CHANGES: &str = "subscription { recognitionChanges { cursor issuingCountry issuingAuthority tin certificateType status confersBenefits validFrom validUntil changedAt source } }";

/// The first `next` event of an SSE stream, within 30 s.
async fn next_event<B: AsRef<[u8]>>(stream: &mut (impl futures::Stream<Item = reqwest::Result<B>> + Unpin)) -> Value {
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let chunk = stream.next().await.expect("the stream stays open").unwrap();
            text.push_str(&String::from_utf8_lossy(chunk.as_ref()));
            if let Some((_, data)) = sse_events(&text).into_iter().find(|(event, _)| event == "next") {
                return serde_json::from_str::<Value>(&data).unwrap();
            }
        }
    })
    .await
    .expect("an event in time")
}

/// Waits until `co` holds operator TIN of MX with `status`.
async fn co_holds(co: &TestApp, status: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let held = co
            .gql(
                Some("verifier"),
                "query($t: String!) { recognition(country: \"MX\", tin: $t) { status } }",
                json!({ "t": TIN }),
            )
            .await;
        if held.data()["recognition"].as_array().unwrap().iter().any(|r| r["status"] == status) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "CO never held MX's {status}: {:?}", held.data());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn an_insurer_follows_a_firm_with_its_consent_and_hears_status_only(backend: Backend) {
    let chain = TestChain::start().await;
    let spawn = |country: &str| TestApp::builder().backend(backend).country(country).chain(&chain).anchoring(100, 200);
    // The insurer's risk system at CO: a webhook of its account, status only.
    let (hook, mut hooks) = cadena_tests::webhook_receiver(SECRET).await;
    let mx = spawn("MX").spawn().await;
    let co = spawn("CO").verifier_webhook(&hook, SECRET, "verifier").spawn().await;
    mx.establish_mra(&co, json!(["SECURITY_AND_SAFETY", "CUSTOMS_SIMPLIFICATIONS", "FULL"])).await;

    // A firm certified at MX, holding its credential under its own key.
    let seed = [11u8; 32];
    let holder = holder_of(seed);
    let (id, credential) = mx.granted_to_holder("OEA-MX-W0001", TIN, seed).await;
    co_holds(&co, "GRANTED").await;

    // The insurer at CO listens before anyone consented: nothing of this firm reaches it.
    let mut changes = co.subscribe_ws("verifier", CHANGES).await;
    let until = (chrono::Utc::now().date_naive() + chrono::Days::new(30)).to_string();
    let challenge = co.consent_challenge("verifier", &until).await;
    assert_eq!(
        challenge["domain"],
        format!("cadena-consent:verifier:{until}"),
        "the account and the day, signed by the firm"
    );

    // Someone else's presentation of the firm's credential is no consent.
    let stranger = present([12u8; 32], &credential, &challenge).await;
    let follow = "mutation($p: JSON!, $c: String!) { followOperator(presentation: $p, challenge: $c) { country tin until holder } }";
    let refused = co.gql(Some("verifier"), follow, json!({ "p": stranger, "c": challenge["challenge"] })).await;
    assert_eq!(refused.error_fields(), ["presentation"], "{}", refused.body);
    assert!(refused.error_message().contains("does not verify"), "{}", refused.body);
    let followed = co.gql(Some("verifier"), "{ followedOperators { tin } }", json!({})).await;
    assert_eq!(followed.data()["followedOperators"], json!([]));

    // The firm consents: its presentation over the insurer's challenge.
    let challenge = co.consent_challenge("verifier", &until).await;
    let consent = present(seed, &credential, &challenge).await;
    let variables = json!({ "p": consent, "c": challenge["challenge"] });
    let followed = co.gql(Some("verifier"), follow, variables.clone()).await;
    assert_eq!(
        followed.data()["followOperator"],
        json!([{ "country": "MX", "tin": TIN, "until": until, "holder": holder }]),
        "{}",
        followed.body
    );
    let replayed = co.gql(Some("verifier"), follow, variables.clone()).await;
    assert!(replayed.error_message().contains("does not verify"), "a consent is given once: {}", replayed.body);
    // Another account cannot use this account's consent challenge.
    let other = co.gql(Some("risk"), follow, variables).await;
    assert_eq!(other.error_code(), "FORBIDDEN", "{}", other.body);

    // The same over SSE; the full events stay closed to the insurer on every transport.
    let token = co.token("verifier").await;
    let sse = |query: &str| co.client.post(co.graphql_url()).bearer_auth(&token).json(&json!({ "query": query }));
    let mut over_sse =
        open_event_stream(sse("subscription { recognitionChanges { tin status } }")).await.bytes_stream();
    let closed =
        sse_single_result(sse("subscription { certificationEvents { certification { operatorName } } }")).await;
    assert_eq!(closed["errors"][0]["extensions"]["code"], "FORBIDDEN", "{closed}");
    let mut over_ws =
        co.subscribe_ws("verifier", "subscription { certificationEvents { certification { operatorName } } }").await;
    let closed = tokio::time::timeout(Duration::from_secs(10), over_ws.recv()).await.expect("refused in time").unwrap();
    assert_eq!(closed["errors"][0]["extensions"]["code"], "FORBIDDEN", "over WebSocket: {closed}");

    // Through the federation gateway over CO: the same status-only stream; the full events,
    // the operator's data and the certifications stay closed to the insurer there too.
    let gw = spawn_gateway(&[("node", &co.graphql_url())], GatewayLimits::default()).await;
    let via_gateway = |query: &str| co.client.post(&gw.url).bearer_auth(&token).json(&json!({ "query": query }));
    let mut over_gateway = open_event_stream(via_gateway("subscription { recognitionChanges { tin status source } }"))
        .await
        .bytes_stream();
    let closed =
        sse_single_result(via_gateway("subscription { certificationEvents { certification { operatorName } } }")).await;
    assert_eq!(closed["errors"][0]["extensions"]["code"], "FORBIDDEN", "through the gateway: {closed}");
    for query in [
        format!("{{ operator(country: \"MX\", tin: \"{TIN}\") {{ certifications {{ operatorName }} }} }}"),
        "{ certifications(first: 5) { nodes { operatorName } } }".to_owned(),
        "{ consentLog { action } }".to_owned(),
        "{ followerDeliveries { status } }".to_owned(),
    ] {
        // At the node and through the gateway alike.
        for url in [co.graphql_url(), gw.url.clone()] {
            let asked = co.client.post(&url).bearer_auth(&token).json(&json!({ "query": query }));
            let body: Value = asked.send().await.unwrap().json().await.unwrap();
            assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{url} {query}: {body}");
            assert!(!body.to_string().contains("GODE"), "nothing of the operator's data: {body}");
        }
    }

    // MX suspends the firm: the insurer at CO hears it, status only, the source marked.
    mx.transition("approver", "suspendCertification", &id, Some("Audit pending")).await.data();
    let heard = tokio::time::timeout(Duration::from_secs(60), changes.recv()).await.expect("heard in time").unwrap();
    let change = &heard["data"]["recognitionChanges"];
    // Every field a change has, and nothing else (sorted: JSON objects have no order here).
    let mut status_only = [
        "cursor",
        "issuingCountry",
        "issuingAuthority",
        "tin",
        "certificateType",
        "status",
        "confersBenefits",
        "validFrom",
        "validUntil",
        "changedAt",
        "source",
    ];
    status_only.sort_unstable();
    let fields: Vec<&str> = change.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(fields, status_only, "{heard}");
    assert_eq!(
        (&change["issuingCountry"], &change["tin"], &change["status"], &change["confersBenefits"], &change["source"]),
        (&json!("MX"), &json!(TIN), &json!("SUSPENDED"), &json!(false), &json!("MX")),
        "{heard}"
    );
    let over_sse = next_event(&mut over_sse).await;
    assert_eq!(over_sse["data"]["recognitionChanges"], json!({ "tin": TIN, "status": "SUSPENDED" }), "{over_sse}");
    let over_gateway = next_event(&mut over_gateway).await;
    assert_eq!(
        over_gateway["data"]["recognitionChanges"],
        json!({ "tin": TIN, "status": "SUSPENDED", "source": "MX" }),
        "through the gateway: {over_gateway}"
    );

    // The account's webhook: the same change, signed, and nothing more.
    let called = tokio::time::timeout(Duration::from_secs(60), hooks.recv()).await.expect("called in time").unwrap();
    assert_eq!(called["valid"], true, "signed with the account's secret: {called}");
    let body = &called["body"];
    assert_eq!((&body["type"], &body["verifier"]), (&json!("recognition.change"), &json!("verifier")), "{body}");
    let mut sent: Vec<&str> = body["change"].as_object().unwrap().keys().map(String::as_str).collect();
    sent.sort_unstable();
    assert_eq!(sent, status_only, "{body}");
    assert_eq!((&body["change"]["status"], &body["change"]["tin"]), (&json!("SUSPENDED"), &json!(TIN)), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 3, "type, verifier, change: {body}");
    // Each is in the auditor's log of what the account was told, by webhook and subscription.
    delivered(&co, "WEBHOOK", "SUSPENDED").await;
    delivered(&co, "SUBSCRIPTION", "SUSPENDED").await;

    // Nothing beyond status can be asked of a change: the type has no other field.
    let shape =
        co.gql(Some("verifier"), "{ __type(name: \"RecognitionChangeObject\") { fields { name } } }", json!({})).await;
    let mut names: Vec<&str> =
        shape.data()["__type"]["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, status_only, "{}", shape.body);

    // The firm withdraws its consent; the next change is not delivered.
    let challenge = co
        .gql(None, "mutation { withdrawalChallenge(verifier: \"verifier\") { challenge domain } }", json!({}))
        .await
        .data()["withdrawalChallenge"]
        .clone();
    let withdrawal = present(seed, &credential, &challenge).await;
    let withdrawn = co
        .gql(
            None,
            "mutation($p: JSON!, $c: String!) { withdrawConsent(presentation: $p, challenge: $c) { country tin } }",
            json!({ "p": withdrawal, "c": challenge["challenge"] }),
        )
        .await;
    assert_eq!(withdrawn.data()["withdrawConsent"], json!([{ "country": "MX", "tin": TIN }]), "{}", withdrawn.body);
    mx.transition("approver", "reinstateCertification", &id, Some("Audit passed")).await.data();
    co_holds(&co, "GRANTED").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(changes.try_recv().is_err(), "nothing after the withdrawal");
    assert!(hooks.try_recv().is_err(), "no webhook after the withdrawal");
    assert_eq!(
        co.gql(Some("verifier"), "{ followedOperators { tin } }", json!({})).await.data()["followedOperators"],
        json!([])
    );

    // The auditor reads every consent and withdrawal; the insurer cannot.
    let log = co.gql(Some("auditor"), "{ consentLog { verifier country tin action holder } }", json!({})).await;
    let actions: Vec<&str> =
        log.data()["consentLog"].as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["WITHDRAWN", "CONSENTED"], "{}", log.body);
    assert_eq!(co.gql(Some("verifier"), "{ consentLog { action } }", json!({})).await.error_code(), "FORBIDDEN");
}

/// Polls the auditor's delivery log of `verifier` until it holds `channel` rows with `status`.
async fn delivered(node: &TestApp, channel: &str, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let log = node
            .gql(
                Some("auditor"),
                "{ followerDeliveries(verifier: \"verifier\") { verifier country tin cursor status channel } }",
                json!({}),
            )
            .await;
        let rows = log.data()["followerDeliveries"].clone();
        if rows.as_array().unwrap().iter().any(|r| r["channel"] == channel && r["status"] == status) {
            return rows;
        }
        assert!(tokio::time::Instant::now() < deadline, "no {channel} delivery of {status}: {rows}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn an_admin_configures_what_a_regulated_body_follows(backend: Backend) {
    let until = chrono::Utc::now().date_naive() + chrono::Days::new(365);
    let mandate = "Ley Aduanera art. 144: the fiscal-bond insurer follows the operators it bonds";
    let entry = |tin: &str| ConfiguredFollow {
        verifier: "verifier".into(),
        country: "MX".into(),
        tin: tin.into(),
        until,
        reason: mandate.into(),
    };

    // A bad entry: the node does not start, and says which entry and field.
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(CountryCode::parse("MX").unwrap(), "Customs of Mexico", dir.path());
    let mut bad = entry(TIN);
    bad.country = "mx".into();
    config.following = vec![entry(TIN), bad];
    let refused = Node::start(config).await.expect_err("a bad entry refuses the start");
    assert!(format!("{refused:#}").contains("following[1].country"), "{refused:#}");

    // Configured: the account follows the operator with no consent, logged with the mandate.
    let mx = TestApp::builder().backend(backend).following(vec![entry(TIN)]).spawn().await;
    let followed = mx.gql(Some("verifier"), "{ followedOperators { country tin holder until } }", json!({})).await;
    assert_eq!(
        followed.data()["followedOperators"],
        json!([{ "country": "MX", "tin": TIN, "holder": "configuration", "until": until.to_string() }])
    );
    let mut changes = mx.subscribe_ws("verifier", "subscription { recognitionChanges { tin status } }").await;
    let id = mx.granted("OEA-MX-C0001", TIN).await;
    let heard = tokio::time::timeout(Duration::from_secs(30), changes.recv()).await.expect("in time").unwrap();
    assert_eq!(heard["data"]["recognitionChanges"], json!({ "tin": TIN, "status": "GRANTED" }), "{heard}");
    // What the account was told is in the delivery log, for the auditor only.
    let rows = delivered(&mx, "SUBSCRIPTION", "GRANTED").await;
    assert_eq!((&rows[0]["country"], &rows[0]["tin"]), (&json!("MX"), &json!(TIN)), "{rows}");
    let closed = mx.gql(Some("verifier"), "{ followerDeliveries { status } }", json!({})).await;
    assert_eq!(closed.error_code(), "FORBIDDEN", "{}", closed.body);

    // Restarting with the same configuration changes nothing; without the entry, it stops.
    let mx = mx.stop().await.start().await;
    let mx = mx.stop().await.following(Vec::new()).start().await;
    let followed = mx.gql(Some("verifier"), "{ followedOperators { tin } }", json!({})).await;
    assert_eq!(followed.data()["followedOperators"], json!([]));
    mx.transition("approver", "suspendCertification", &id, Some("Audit pending")).await.data();
    let log = mx.gql(Some("auditor"), "{ consentLog { action until reason holder } }", json!({})).await;
    assert_eq!(
        log.data()["consentLog"],
        json!([
            { "action": "UNCONFIGURED", "until": null, "reason": null, "holder": "configuration" },
            { "action": "CONFIGURED", "until": until.to_string(), "reason": mandate, "holder": "configuration" },
        ]),
        "configured once, however often the node starts: {}",
        log.body
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rows = delivered(&mx, "SUBSCRIPTION", "GRANTED").await;
    assert!(rows.as_array().unwrap().iter().all(|r| r["status"] != "SUSPENDED"), "nothing told after: {rows}");
}
