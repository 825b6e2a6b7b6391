//! The whole lifecycle through GraphQL as the seeded officers, with the hash-chained history
//! and a subscriber that must see every transition.

use std::time::Duration;

use cadena_tests::{Backend, TestApp};
use serde_json::json;

const EVENTS: &str = "subscription { certificationEvents { sequence transition fromStatus toStatus actor reason certification { id status } } }";

async fn submit_approve_suspend_reinstate_revoke(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let mut events = app.subscribe_ws("risk", EVENTS).await;

    let submitted = app.submit(app.certification_input("OEA-MX-0001", "GODE561231GR8")).await;
    let id = submitted.data()["submitCertification"]["id"].as_str().unwrap().to_owned();
    assert_eq!(submitted.data()["submitCertification"]["status"], "SUBMITTED");

    let steps = [
        ("approveCertification", None, "GRANTED"),
        ("suspendCertification", Some("audit found broken seals"), "SUSPENDED"),
        ("reinstateCertification", Some("corrective plan accepted"), "GRANTED"),
        ("revokeCertification", Some("repeated violations"), "REVOKED"),
    ];
    for (mutation, reason, expected) in steps {
        let response = app.transition("approver", mutation, &id, reason).await;
        assert_eq!(response.data()[mutation]["status"], expected, "{mutation}");
    }

    let history = app
        .gql(
            Some("auditor"),
            "query($id: ID!) { certificationHistory(id: $id) { chainIntact entries { seq transition fromStatus toStatus actor actorRole reason prevHash hash } } }",
            json!({ "id": id }),
        )
        .await;
    let history = &history.data()["certificationHistory"];
    assert_eq!(history["chainIntact"], true);
    let entries = history["entries"].as_array().unwrap();
    let transitions: Vec<&str> = entries.iter().map(|e| e["transition"].as_str().unwrap()).collect();
    assert_eq!(transitions, ["SUBMIT", "APPROVE", "SUSPEND", "REINSTATE", "REVOKE"]);
    assert_eq!(entries[0]["actor"], "registrar");
    assert_eq!(entries[0]["actorRole"], "REGISTRAR");
    assert_eq!(entries[0]["prevHash"], "0".repeat(64));
    assert_eq!(entries[2]["reason"], "audit found broken seals");
    for pair in entries.windows(2) {
        assert_eq!(pair[1]["prevHash"], pair[0]["hash"], "each entry links to the one before");
    }

    let mut received = Vec::new();
    while received.len() < 5 {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("every transition reaches the subscriber within 10 s")
            .expect("subscription open");
        received.push(event["data"]["certificationEvents"].clone());
    }
    let seen: Vec<(&str, &str)> =
        received.iter().map(|e| (e["transition"].as_str().unwrap(), e["toStatus"].as_str().unwrap())).collect();
    assert_eq!(
        seen,
        [
            ("SUBMIT", "SUBMITTED"),
            ("APPROVE", "GRANTED"),
            ("SUSPEND", "SUSPENDED"),
            ("REINSTATE", "GRANTED"),
            ("REVOKE", "REVOKED")
        ]
    );
    assert!(received.iter().all(|e| e["certification"]["id"] == id.as_str()));
    let sequences: Vec<u64> = received.iter().map(|e| e["sequence"].as_u64().unwrap()).collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "events arrive in commit order: {sequences:?}");
}

async fn history_tampering_is_reported(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let app = TestApp::builder().backend(backend).spawn().await;
    let id = app.granted("OEA-MX-0002", "GODE561231GR8").await;
    let db = app.node.storage.db();
    db.execute_unprepared("UPDATE certification_history SET actor = 'mallory' WHERE seq = 1").await.unwrap();
    let history = app
        .gql(
            Some("auditor"),
            "query($id: ID!) { certificationHistory(id: $id) { chainIntact chainBreak } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(history.data()["certificationHistory"]["chainIntact"], false);
    assert!(history.data()["certificationHistory"]["chainBreak"].as_str().unwrap().contains("entry 1"));
}

async fn amendment_replaces_the_version_and_keeps_both(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let id = app.granted("OEA-MX-0003", "GODE561231GR8").await;
    let mut changed = app.certification_input("OEA-MX-0003", "GODE561231GR8");
    changed["operatorName"] = json!("Exportadora del Pacífico y Asociados S.A.");
    let amended = app
        .gql(
            Some("registrar"),
            "mutation($id: ID!, $i: CertificationInput!) { amendCertification(id: $id, input: $i) { id version status previousVersionId } }",
            json!({ "id": id, "i": changed }),
        )
        .await;
    let new_version = &amended.data()["amendCertification"];
    assert_eq!(new_version["version"], 2);
    assert_eq!(new_version["status"], "SUBMITTED");
    assert_eq!(new_version["previousVersionId"], id.as_str());
    let new_id = new_version["id"].as_str().unwrap().to_owned();

    let approved = app.transition("approver", "approveCertification", &new_id, None).await;
    assert_eq!(approved.data()["approveCertification"]["status"], "GRANTED");
    let old = app
        .gql(Some("risk"), "query($id: ID!) { certification(id: $id) { status operatorName } }", json!({ "id": id }))
        .await;
    assert_eq!(old.data()["certification"]["status"], "AMENDED");

    let operator = app
        .gql(
            Some("risk"),
            "{ operator(country: \"MX\", tin: \"GODE-561231-GR8\") { legalName certifications { version status } } }",
            json!({}),
        )
        .await;
    let operator = &operator.data()["operator"];
    assert_eq!(operator["legalName"], "Exportadora del Pacífico y Asociados S.A.");
    assert_eq!(
        operator["certifications"],
        json!([{ "version": 1, "status": "AMENDED" }, { "version": 2, "status": "GRANTED" }])
    );

    let history = app
        .gql(
            Some("auditor"),
            "query($id: ID!) { certificationHistory(id: $id) { chainIntact entries { version transition } } }",
            json!({ "id": new_id }),
        )
        .await;
    let history = &history.data()["certificationHistory"];
    assert_eq!(history["chainIntact"], true);
    assert_eq!(
        history["entries"],
        json!([
            { "version": 1, "transition": "SUBMIT" }, { "version": 1, "transition": "APPROVE" },
            { "version": 2, "transition": "SUBMIT" }, { "version": 1, "transition": "SUPERSEDE" },
            { "version": 2, "transition": "APPROVE" }
        ])
    );
}

async fn expiry_is_computed_and_filterable(backend: Backend) {
    use cadena_resolvers::storage::entities::certifications;
    use sea_orm::{ActiveModelTrait, Set};

    let app = TestApp::builder().backend(backend).spawn().await;
    let mut input = app.certification_input("OEA-MX-0004", "GODE561231GR8");
    input["authorisationDate"] = json!("2020-01-01");
    let id = app.submit(input).await.data()["submitCertification"]["id"].as_str().unwrap().to_owned();
    app.transition("approver", "approveCertification", &id, None).await.data();
    // Time passes: its last day is behind us (an ended validity can no longer be granted, so
    // the stored end is moved back, as the calendar would move forward).
    certifications::ActiveModel {
        id: Set(id.parse().unwrap()),
        valid_until: Set(chrono::NaiveDate::from_ymd_opt(2021, 12, 31)),
        ..Default::default()
    }
    .update(app.node.storage.db())
    .await
    .unwrap();
    let expired =
        app.gql(Some("risk"), "query($id: ID!) { certification(id: $id) { status } }", json!({ "id": id })).await;
    assert_eq!(expired.data()["certification"]["status"], "EXPIRED");
    let live = app.granted("OEA-MX-0005", "GODE561231GR8").await;

    let expired = app
        .gql(Some("risk"), "{ certifications(filter: {status: EXPIRED}) { nodes { id confersBenefits } } }", json!({}))
        .await;
    assert_eq!(expired.data()["certifications"]["nodes"], json!([{ "id": id, "confersBenefits": false }]));
    let granted =
        app.gql(Some("risk"), "{ certifications(filter: {status: GRANTED}) { nodes { id } } }", json!({})).await;
    assert_eq!(granted.data()["certifications"]["nodes"], json!([{ "id": live }]));
    let suspend = app.transition("approver", "suspendCertification", &id, Some("late")).await;
    assert_eq!(suspend.error_code(), "ILLEGAL_TRANSITION");
}

async fn pagination_walks_every_certification_once(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let tins = cadena_tests::valid_tins("mx-rfc-checkdigit-valid");
    for (i, tin) in tins.iter().take(7).enumerate() {
        app.submit(app.certification_input(&format!("OEA-P-{i}"), tin)).await.data();
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = app
            .gql(
                Some("auditor"),
                "query($after: String) { certifications(first: 3, after: $after, filter: {role: EXPORTER}) { nodes { certificateNumber } pageInfo { hasNextPage endCursor } } }",
                json!({ "after": after }),
            )
            .await;
        let connection = &page.data()["certifications"];
        for node in connection["nodes"].as_array().unwrap() {
            seen.push(node["certificateNumber"].as_str().unwrap().to_owned());
        }
        if connection["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = connection["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let expected: Vec<String> = (0..7).map(|i| format!("OEA-P-{i}")).collect();
    assert_eq!(seen, expected);
    let none =
        app.gql(Some("auditor"), "{ certifications(filter: {role: CARRIER}) { nodes { id } } }", json!({})).await;
    assert_eq!(none.data()["certifications"]["nodes"], json!([]));
}

async fn sse_subscribers_receive_events(backend: Backend) {
    use futures::StreamExt;
    let app = TestApp::builder().backend(backend).spawn().await;
    let token = app.token("risk").await;
    let response = app
        .client
        .post(app.graphql_url())
        .header("accept", "text/event-stream")
        .bearer_auth(token)
        .json(&json!({ "query": "subscription { certificationEvents { transition certification { certificateNumber } } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut body = response.bytes_stream();
    // Subscribed before the submission: give the stream a moment to register.
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.submit(app.certification_input("OEA-SSE-1", "GODE561231GR8")).await.data();
    let mut text = String::new();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if text.contains("OEA-SSE-1") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "SSE stream: {text}");
    assert!(text.contains("event: next"), "{text}");
}

/// Officers acting on one certification at the same moment: the chain is extended once per
/// transition that was told it succeeded, and every other is refused (overtaken, or no longer
/// allowed from the status it finds), never applied twice or half.
async fn racing_transitions_extend_the_chain_once_each(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let id = app.granted("OEA-MX-0009", "GODE561231GR8").await;
    let racers = (0..8).map(|i| {
        let (mutation, reason) = if i % 4 == 3 {
            ("revokeCertification", "fraud confirmed")
        } else {
            ("suspendCertification", "seals broken")
        };
        let officer = if i % 2 == 0 { "approver" } else { "approver2" };
        let (app, id) = (&app, id.as_str());
        async move { (mutation, app.transition(officer, mutation, id, Some(reason)).await) }
    });
    let outcomes = futures::future::join_all(racers).await;
    let mut succeeded = Vec::new();
    for (mutation, response) in &outcomes {
        if response.body.get("errors").is_none() {
            succeeded.push(response.data()[*mutation]["status"].as_str().unwrap().to_owned());
        } else {
            let code = response.error_code();
            assert!(code == "CONFLICT" || code == "ILLEGAL_TRANSITION", "{mutation}: {}", response.body);
        }
    }
    assert!(!succeeded.is_empty(), "one of the racers wins: {outcomes:?}");

    let history = app
        .gql(
            Some("auditor"),
            "query($id: ID!) { certificationHistory(id: $id) { chainIntact entries { seq transition toStatus } } certification(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await;
    let data = history.data();
    assert_eq!(data["certificationHistory"]["chainIntact"], true);
    let entries = data["certificationHistory"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2 + succeeded.len(), "one entry per success: {entries:?}");
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=entries.len() as u64).collect::<Vec<_>>());
    let last = entries.last().unwrap()["toStatus"].as_str().unwrap();
    assert_eq!(data["certification"]["status"], last, "the row agrees with its history");
    assert_eq!(app.stored_history_entries().await, entries.len() as u64);
}

on_both_backends!(
    submit_approve_suspend_reinstate_revoke,
    history_tampering_is_reported,
    amendment_replaces_the_version_and_keeps_both,
    expiry_is_computed_and_filterable,
    pagination_walks_every_certification_once,
    sse_subscribers_receive_events,
    racing_transitions_extend_the_chain_once_each,
);
