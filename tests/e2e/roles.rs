//! Every role × every operation: allowed ones succeed, the others are FORBIDDEN, anonymous
//! callers are UNAUTHENTICATED. The expectations are written out here, independently of the
//! policy table in the code, so a change to either is caught.

use cadena_tests::{Backend, GqlResponse, TestApp};
use serde_json::json;

#[derive(Clone, Copy, Debug)]
enum Op {
    CreateOfficer,
    ListOfficers,
    Submit,
    Amend,
    Approve,
    Reject,
    Suspend,
    Reinstate,
    Revoke,
    Annul,
    ReadOne,
    ReadList,
    ReadOperator,
    ReadHistory,
    Subscribe,
    IssueCredential,
    ReadRecognition,
    ReadMras,
    ManageMras,
    ReadWebhookLog,
    ReadPartnerMessages,
    ReadIssuanceLog,
}

const OPS: [Op; 22] = [
    Op::CreateOfficer,
    Op::ListOfficers,
    Op::Submit,
    Op::Amend,
    Op::Approve,
    Op::Reject,
    Op::Suspend,
    Op::Reinstate,
    Op::Revoke,
    Op::Annul,
    Op::ReadOne,
    Op::ReadList,
    Op::ReadOperator,
    Op::ReadHistory,
    Op::Subscribe,
    Op::IssueCredential,
    Op::ReadRecognition,
    Op::ReadMras,
    Op::ManageMras,
    Op::ReadWebhookLog,
    Op::ReadPartnerMessages,
    Op::ReadIssuanceLog,
];

/// Which seeded officers (by username) may do `op`.
fn allowed(op: Op) -> &'static [&'static str] {
    match op {
        Op::CreateOfficer | Op::ListOfficers => &["admin"],
        Op::Submit | Op::Amend => &["registrar"],
        Op::Approve | Op::Reject | Op::Suspend | Op::Reinstate | Op::Revoke | Op::Annul => &["approver"],
        // Not the approver: one officer alone must not mint what the node signs.
        Op::IssueCredential => &["issuer"],
        Op::ReadOne | Op::ReadList | Op::ReadOperator | Op::ReadHistory | Op::Subscribe => {
            &["registrar", "approver", "risk", "auditor"]
        }
        Op::ReadRecognition => &["verifier", "registrar", "approver", "risk", "auditor"],
        Op::ReadMras => &["admin", "registrar", "approver", "risk", "auditor"],
        Op::ManageMras => &["admin"],
        Op::ReadWebhookLog | Op::ReadPartnerMessages => &["admin", "risk", "auditor"],
        Op::ReadIssuanceLog => &["auditor"],
    }
}

/// Prepares what `op` needs (as the seeded registrar and approver), then attempts it as `who`.
async fn attempt(app: &TestApp, op: Op, who: Option<&str>, n: usize) -> GqlResponse {
    let number = format!("OEA-R-{n}");
    let tin = "GODE561231GR8";
    let submitted = || async {
        app.submit(app.certification_input(&number, tin)).await.data()["submitCertification"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let lifecycle = |mutation: &'static str, reason: Option<&'static str>, id: String| async move {
        app.transition_as(who, mutation, &id, reason).await
    };
    match op {
        Op::CreateOfficer => {
            app.gql(
                who,
                "mutation($u: String!) { createOfficer(input: {username: $u, password: \"another long password\", roles: [AUDITOR]}) { username } }",
                json!({ "u": format!("new-{n}") }),
            )
            .await
        }
        Op::ListOfficers => app.gql(who, "{ officers { username } }", json!({})).await,
        Op::Submit => {
            app.gql(
                who,
                "mutation($i: CertificationInput!) { submitCertification(input: $i) { id } }",
                json!({ "i": app.certification_input(&number, tin) }),
            )
            .await
        }
        Op::Amend => {
            let id = app.granted(&number, tin).await;
            app.gql(
                who,
                "mutation($id: ID!, $i: CertificationInput!) { amendCertification(id: $id, input: $i) { id } }",
                json!({ "id": id, "i": app.certification_input(&number, tin) }),
            )
            .await
        }
        Op::Approve => lifecycle("approveCertification", None, submitted().await).await,
        Op::Reject => lifecycle("rejectCertification", Some("incomplete file"), submitted().await).await,
        Op::Suspend => lifecycle("suspendCertification", Some("audit"), app.granted(&number, tin).await).await,
        Op::Reinstate => {
            let id = app.granted(&number, tin).await;
            app.transition("approver", "suspendCertification", &id, Some("audit")).await.data();
            lifecycle("reinstateCertification", Some("fixed"), id).await
        }
        Op::Revoke => lifecycle("revokeCertification", Some("fraud"), app.granted(&number, tin).await).await,
        Op::Annul => lifecycle("annulCertification", Some("false data"), app.granted(&number, tin).await).await,
        Op::ReadOne => {
            let id = submitted().await;
            app.gql(who, "query($id: ID!) { certification(id: $id) { id } }", json!({ "id": id })).await
        }
        Op::ReadList => app.gql(who, "{ certifications { nodes { id } } }", json!({})).await,
        Op::ReadOperator => {
            submitted().await;
            app.gql(who, "{ operator(country: \"MX\", tin: \"GODE561231GR8\") { tin } }", json!({})).await
        }
        Op::ReadHistory => {
            let id = submitted().await;
            app.gql(who, "query($id: ID!) { certificationHistory(id: $id) { chainIntact } }", json!({ "id": id })).await
        }
        Op::Subscribe => {
            // Over SSE: the first message is either the authorisation error or, once an event
            // commits, the event itself.
            let mut request = app
                .client
                .post(app.graphql_url())
                .header("accept", "text/event-stream")
                .json(&json!({ "query": "subscription { certificationEvents { transition } }" }));
            if let Some(who) = who {
                request = request.bearer_auth(app.token(who).await);
            }
            let response = request.send().await.unwrap();
            let mut body = futures::StreamExt::boxed(response.bytes_stream());
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            submitted().await;
            let mut text = String::new();
            while !text.contains("\n\n") {
                let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), futures::StreamExt::next(&mut body))
                    .await
                    .expect("an SSE message within 10 s")
                    .expect("stream open")
                    .unwrap();
                text.push_str(&String::from_utf8_lossy(&chunk));
            }
            let data = text
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .expect("a data line");
            GqlResponse { status: 200, content_type: "text/event-stream".into(), body: serde_json::from_str(data).unwrap() }
        }
        Op::ReadRecognition => {
            app.gql(who, "{ recognition(country: \"MX\", tin: \"GODE561231GR8\") { status } }", json!({})).await
        }
        Op::ReadMras => app.gql(who, "{ mras { partner } }", json!({})).await,
        Op::ManageMras => {
            app.gql(who, "mutation { proposeMra(partner: \"CO\", scope: [FULL]) { partner } }", json!({})).await
        }
        Op::ReadWebhookLog => app.gql(who, "{ webhookDeliveries { id } }", json!({})).await,
        Op::ReadPartnerMessages => app.gql(who, "{ partnerMessages(direction: RECEIVED) { seq } }", json!({})).await,
        Op::ReadIssuanceLog => app.gql(who, "{ vcApiIssuances { credentialId } }", json!({})).await,
        Op::IssueCredential => {
            // The VC API over REST; its error code is put where the GraphQL checks read it.
            let credential = json!({
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "type": ["VerifiableCredential"],
                "credentialSubject": { "id": format!("urn:example:{n}") }
            });
            let mut request = app.client.post(format!("{}/credentials/issue", app.base)).json(&json!({ "credential": credential }));
            if let Some(who) = who {
                request = request.bearer_auth(app.token(who).await);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            let body = match body["error"]["code"].as_str() {
                Some(code) => json!({ "errors": [{ "extensions": { "code": code } }] }),
                None => body,
            };
            GqlResponse { status, content_type: "application/json".into(), body }
        }
    }
}

async fn every_role_may_do_exactly_its_operations(backend: Backend) {
    let app = TestApp::builder().backend(backend).vc_api_issuance().spawn().await;
    let mut n = 0;
    let mut failures = Vec::new();
    for op in OPS {
        for who in [
            None,
            Some("admin"),
            Some("registrar"),
            Some("approver"),
            Some("risk"),
            Some("auditor"),
            Some("verifier"),
            Some("issuer"),
        ] {
            n += 1;
            let response = attempt(&app, op, who, n).await;
            let errors = response.body.get("errors");
            let code =
                errors.map(|_| response.body["errors"][0]["extensions"]["code"].as_str().unwrap_or("?").to_owned());
            let expected_ok = who.is_some_and(|w| allowed(op).contains(&w));
            let verdict = match (expected_ok, code.as_deref()) {
                (true, None) => None,
                // Allowed, and then refused for want of a chain (this node has none).
                (true, Some("NOT_FOUND")) if matches!(op, Op::ManageMras) => None,
                (false, Some("FORBIDDEN")) if who.is_some() => None,
                (false, Some("UNAUTHENTICATED")) if who.is_none() => None,
                (_, got) => Some(format!(
                    "{op:?} as {who:?}: expected {}, got {got:?}: {}",
                    if expected_ok { "success" } else { "refusal" },
                    response.body
                )),
            };
            failures.extend(verdict);
        }
    }
    assert!(failures.is_empty(), "{} role checks failed:\n{}", failures.len(), failures.join("\n"));
}

async fn a_disabled_officer_or_removed_role_stops_at_once(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let before = app.gql(Some("risk"), "{ certifications { nodes { id } } }", json!({})).await;
    before.data();
    app.gql(Some("admin"), "mutation { setOfficerRoles(username: \"risk\", roles: [ADMIN]) { username } }", json!({}))
        .await
        .data();
    let after = app.gql(Some("risk"), "{ certifications { nodes { id } } }", json!({})).await;
    assert_eq!(after.error_code(), "FORBIDDEN", "roles are read at each request, not from the token");
    let auditor_token = app.token("auditor").await;
    app.gql(Some("admin"), "mutation { disableOfficer(username: \"auditor\") { disabled } }", json!({})).await.data();
    let disabled = app
        .client
        .post(app.graphql_url())
        .bearer_auth(auditor_token)
        .json(&json!({ "query": "{ certifications { nodes { id } } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 401);
    let login = app
        .gql(
            None,
            "mutation { login(username: \"auditor\", password: \"correct horse battery staple\") { token } }",
            json!({}),
        )
        .await;
    assert_eq!(login.error_code(), "BAD_CREDENTIALS");
    let self_disable =
        app.gql(Some("admin"), "mutation { disableOfficer(username: \"admin\") { disabled } }", json!({})).await;
    assert_eq!(self_disable.error_code(), "BAD_USER_INPUT");
}

on_both_backends!(every_role_may_do_exactly_its_operations, a_disabled_officer_or_removed_role_stops_at_once);
