//! One certification, one trace, over OTLP: real `cadena node` processes for MX and CO and a
//! real `cadena gateway` in front of MX, on a real anvil, export their spans to an OTLP/HTTP
//! receiver served here (the OpenTelemetry protobuf types decode what they send). An approval
//! sent through the gateway with a W3C `traceparent` is followed through the gateway, MX's
//! request, signing, the commit, the batch formed from its event, the anchor batch's chain transaction, the partner
//! message, and CO's verification of it: every span in the client's trace, each hop's parent a
//! span of the hop before. MX's JSON log lines name the trace.

mod processes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cadena_contracts::anvil::DEV_PRIVATE_KEYS;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use processes::{Extra, create_officers, gql, start_with_env, token};
use prost::Message as _;
use serde_json::json;

/// One span as received: who sent it and where it sits in its trace.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    country: Option<String>,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: HashMap<String, String>,
}

fn text(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

fn attributes(list: &[KeyValue]) -> HashMap<String, String> {
    list.iter().map(|kv| (kv.key.clone(), text(kv.value.as_ref()))).collect()
}

/// An OTLP/HTTP receiver (`POST /v1/traces`, protobuf); its URL and what it received.
async fn otlp_receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export");
                let mut spans = Vec::new();
                for resource_spans in request.resource_spans {
                    let resource = attributes(&resource_spans.resource.map(|r| r.attributes).unwrap_or_default());
                    for scope in resource_spans.scope_spans {
                        for span in scope.spans {
                            spans.push(Received {
                                service: resource.get("service.name").cloned().unwrap_or_default(),
                                country: resource.get("cadena.country").cloned(),
                                name: span.name,
                                trace_id: hex::encode(&span.trace_id),
                                span_id: hex::encode(&span.span_id),
                                parent_span_id: hex::encode(&span.parent_span_id),
                                attributes: attributes(&span.attributes),
                            });
                        }
                    }
                }
                store.lock().unwrap().extend(spans);
                (
                    [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
                    ExportTraceServiceResponse::default().encode_to_vec(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// The spans of `trace_id` received so far.
fn trace(received: &Mutex<Vec<Received>>, trace_id: &str) -> Vec<Received> {
    received.lock().unwrap().iter().filter(|s| s.trace_id == trace_id).cloned().collect()
}

fn find<'a>(spans: &'a [Received], service: &str, country: Option<&str>, name: &str) -> Vec<&'a Received> {
    spans.iter().filter(|s| s.service == service && s.country.as_deref() == country && s.name == name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certifications_trace_crosses_the_gateway_the_outbox_the_chain_and_the_partner() {
    let dir = tempfile::tempdir().unwrap();
    let (anvil, governance, contracts) = processes::chain(None).await;
    let (collector, received) = otlp_receiver().await;
    let otel = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("CADENA_LOG_FORMAT", "json"),
    ];

    let mut files = HashMap::new();
    for (index, country) in ["MX", "CO"].into_iter().enumerate() {
        let extra = Extra { tables: "[credentials]\nallow_private_addresses = true\n", ..Default::default() };
        let node =
            processes::write_node_config(dir.path(), country, &anvil, contracts, DEV_PRIVATE_KEYS[index + 1], extra);
        let code: [u8; 2] = country.as_bytes().try_into().unwrap();
        governance.admit_authority(code, &node.did, anvil.address(index + 1)).await.unwrap();
        let officers: &[(&str, &str)] = if country == "MX" {
            &[("registrar", "REGISTRAR"), ("approver", "APPROVER"), ("admin", "ADMIN")]
        } else {
            &[("admin", "ADMIN")]
        };
        create_officers(&node, officers).await;
        files.insert(country, node);
    }
    let _mx = start_with_env(&files["MX"], None, &otel).await;
    let _co = start_with_env(&files["CO"], None, &otel).await;
    let client = reqwest::Client::new();
    let session = |country: &'static str, officer: &'static str| {
        let client = client.clone();
        let url = files[country].graphql();
        async move { token(&client, &url, officer).await.unwrap() }
    };

    // The MRA, proposed by MX and accepted by CO, on chain.
    let scope = json!(["FULL", "CUSTOMS_SIMPLIFICATIONS", "SECURITY_AND_SAFETY"]);
    let propose = "mutation($p: String!, $s: [CertificateType!]!) { proposeMra(partner: $p, scope: $s) { partner } }";
    let accept = "mutation($p: String!, $s: [CertificateType!]!) { acceptMra(partner: $p, scope: $s) { partner } }";
    let mx_admin = session("MX", "admin").await;
    let co_admin = session("CO", "admin").await;
    let proposed =
        gql(&client, &files["MX"].graphql(), Some(&mx_admin), propose, json!({ "p": "CO", "s": scope })).await.unwrap();
    assert!(proposed["errors"].is_null(), "{proposed}");
    let accepted =
        gql(&client, &files["CO"].graphql(), Some(&co_admin), accept, json!({ "p": "MX", "s": scope })).await.unwrap();
    assert!(accepted["errors"].is_null(), "{accepted}");
    for (country, token) in [("MX", &mx_admin), ("CO", &co_admin)] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let mras =
                gql(&client, &files[country].graphql(), Some(token), "{ mras { state } }", json!({})).await.unwrap();
            if mras["data"]["mras"].as_array().is_some_and(|m| m.iter().any(|m| m["state"] == "ACTIVE")) {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{country} sees the MRA active: {mras}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // The gateway in front of MX, tracing too.
    let port = processes::free_port();
    let gateway_config = dir.path().join("gateway.toml");
    std::fs::write(
        &gateway_config,
        format!(
            "listen = \"127.0.0.1:{port}\"\n[[subgraphs]]\nname = \"node\"\nurl = \"{}\"\nsdl_file = \"{}\"\n",
            files["MX"].graphql(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/node.graphql"),
        ),
    )
    .unwrap();
    let _gateway = tokio::process::Command::new(processes::cadena())
        .args(["gateway", "--config"])
        .arg(&gateway_config)
        .envs(otel)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("gateway.log")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let gateway = format!("http://127.0.0.1:{port}/graphql");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while client.get(format!("http://127.0.0.1:{port}/healthz")).send().await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "the gateway comes up: {}", {
            std::fs::read_to_string(dir.path().join("gateway.log")).unwrap_or_default()
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Submitted at MX; approved through the gateway by a client that starts the trace.
    let registrar = session("MX", "registrar").await;
    let submitted = gql(
        &client,
        &files["MX"].graphql(),
        Some(&registrar),
        "mutation($i: CertificationInput!) { submitCertification(input: $i) { id } }",
        json!({ "i": processes::certification_input("OEA-MX-T0001", "FULL") }),
    )
    .await
    .unwrap();
    let id =
        submitted["data"]["submitCertification"]["id"].as_str().unwrap_or_else(|| panic!("{submitted}")).to_owned();
    let approver = session("MX", "approver").await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let approved: serde_json::Value = client
        .post(&gateway)
        .bearer_auth(&approver)
        .header("traceparent", format!("00-{trace_id}-{client_span}-01"))
        .json(&json!({ "query": "mutation($id: ID!) { approveCertification(id: $id) { status } }", "variables": { "id": id } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(approved["data"]["approveCertification"]["status"], "GRANTED", "{approved}");

    // Every hop arrives in the client's trace (spans leave in batches: wait for them).
    let wanted: [(&str, Option<&str>, &str); 8] = [
        ("cadena-gateway", None, "POST /graphql"),
        ("cadena-node", Some("MX"), "POST /graphql"),
        ("cadena-node", Some("MX"), "sign credential"),
        ("cadena-node", Some("MX"), "commit"),
        ("cadena-node", Some("MX"), "anchor forming"),
        ("cadena-node", Some("MX"), "anchor batch"),
        ("cadena-node", Some("MX"), "outbox partner.message"),
        ("cadena-node", Some("CO"), "verify partner credential"),
    ];
    // A span is exported when it ends, each process on its own schedule: wait until every hop
    // is there and each one's chain of parents is complete up to the client's span.
    let rooted = |spans: &[Received], span: &Received| {
        let by_id: HashMap<&str, &Received> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
        let mut parent = span.parent_span_id.as_str();
        while let Some(up) = by_id.get(parent) {
            parent = up.parent_span_id.as_str();
        }
        parent == client_span
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let spans = loop {
        let spans = trace(&received, trace_id);
        let missing: Vec<_> =
            wanted.iter().filter(|(s, c, n)| !find(&spans, s, *c, n).iter().any(|span| rooted(&spans, span))).collect();
        if missing.is_empty() {
            break spans;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "missing from the trace, or not linked to the client's span: {missing:?}; received in it: {:?}",
            spans.iter().map(|s| (&s.service, &s.country, &s.name)).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let by_id: HashMap<&str, &Received> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    // Walks up from `span` to the root of the trace: the services it passed through.
    let ancestry = |span: &Received| {
        let mut path = vec![(span.service.clone(), span.country.clone(), span.name.clone())];
        let mut parent = span.parent_span_id.clone();
        while let Some(up) = by_id.get(parent.as_str()) {
            path.push((up.service.clone(), up.country.clone(), up.name.clone()));
            parent = up.parent_span_id.clone();
        }
        (path, parent)
    };
    // The one of `name` whose parents reach the client (a message waiting for its anchor is
    // tried more than once: each attempt is a span).
    let rooted_one = |service: &str, country: Option<&str>, name: &str| {
        find(&spans, service, country, name).into_iter().find(|span| rooted(&spans, span)).expect("waited for above")
    };

    // The gateway's request continues the client's span; MX's request is the gateway's child.
    let gateway_request = rooted_one("cadena-gateway", None, "POST /graphql");
    assert_eq!(gateway_request.parent_span_id, client_span, "the gateway continues the client's traceparent");
    let mx_request = rooted_one("cadena-node", Some("MX"), "POST /graphql");
    assert!(by_id.get(mx_request.parent_span_id.as_str()).is_some_and(|p| p.service == "cadena-gateway"));
    assert_eq!(mx_request.attributes.get("http.route").map(String::as_str), Some("/graphql"));

    // Signing and the commit happen inside MX's request.
    for name in ["sign credential", "commit"] {
        let (path, root) = ancestry(rooted_one("cadena-node", Some("MX"), name));
        assert!(
            path.iter().any(|(s, c, n)| s == "cadena-node" && c.as_deref() == Some("MX") && n == "POST /graphql"),
            "{name}: {path:?}"
        );
        assert_eq!(root, client_span, "{name} leads back to the client: {path:?}");
    }
    // The chain transaction: the anchor batch, formed from the approval's event in the log,
    // with its transaction hash.
    let batch = rooted_one("cadena-node", Some("MX"), "anchor batch");
    assert!(batch.attributes.get("tx_hash").is_some_and(|h| h.starts_with("0x")), "{batch:?}");
    let (path, root) = ancestry(batch);
    assert!(path.iter().any(|(_, _, n)| n == "anchor forming"), "{path:?}");
    assert_eq!(root, client_span, "the chain transaction leads back to the client: {path:?}");
    // CO verified the message in MX's trace: its inbox request is a child of MX's delivery.
    let verification = rooted_one("cadena-node", Some("CO"), "verify partner credential");
    let (path, root) = ancestry(verification);
    assert!(
        path.iter().any(|(s, c, n)| s == "cadena-node" && c.as_deref() == Some("CO") && n == "POST /partner/inbox"),
        "{path:?}"
    );
    assert!(path.iter().any(|(_, c, n)| c.as_deref() == Some("MX") && n == "outbox partner.message"), "{path:?}");
    assert_eq!(root, client_span, "CO's verification leads back to the client: {path:?}");

    // MX's JSON logs name the trace of what they were written for.
    let log = std::fs::read_to_string(&files["MX"].log).unwrap();
    let traced = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["spans"].as_array().is_some_and(|spans| spans.iter().any(|s| s["trace_id"] == trace_id)))
        .count();
    assert!(traced > 0, "MX logged lines with the trace id {trace_id}");
}
