//! The GraphQL-over-HTTP contract: media types, status codes, GET, health endpoints; and The
//! Guild's `graphql-http` audits, every one ok.

use cadena_tests::{Backend, TestApp, assert_graphql_http_audits_ok, sse_single_result};
use serde_json::{Value, json};

async fn post(app: &TestApp, accept: Option<&str>, content_type: &str, body: String) -> (u16, String, String) {
    let mut request = app.client.post(app.graphql_url()).header("content-type", content_type).body(body);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let media = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, media, response.text().await.unwrap())
}

async fn media_types_and_status_codes_follow_the_spec(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let query = json!({ "query": "{ nodeCountry }" }).to_string();

    let (status, media, body) = post(&app, Some("application/json"), "application/json", query.clone()).await;
    assert_eq!((status, media.as_str()), (200, "application/json"));
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({ "data": { "nodeCountry": "MX" } }));

    let (status, media, _) =
        post(&app, Some("application/graphql-response+json"), "application/json", query.clone()).await;
    assert_eq!((status, media.as_str()), (200, "application/graphql-response+json"));
    let (_, media, _) = post(&app, None, "application/json", query.clone()).await;
    assert_eq!(media, "application/json", "no Accept means application/json");
    let (status, _, _) = post(&app, Some("text/html"), "application/json", query.clone()).await;
    assert_eq!(status, 406);
    let (status, _, _) = post(&app, None, "text/plain", query.clone()).await;
    assert_eq!(status, 415);
    let (status, _, body) = post(&app, None, "application/json", "{not json".into()).await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = post(&app, None, "application/json", json!({ "query": 7 }).to_string()).await;
    assert_eq!(status, 400);
    assert!(body.contains("`query` must be a string"), "{body}");
    let (status, _, body) =
        post(&app, None, "application/json", json!({ "query": "{ nodeCountry }", "variables": [1] }).to_string()).await;
    assert_eq!(status, 400);
    assert!(body.contains("`variables`"), "{body}");

    // A field error during execution is still 200, with data and errors.
    let login = app
        .gql(None, "mutation { login(username: \"nobody\", password: \"wrong password!\") { token } }", json!({}))
        .await;
    assert_eq!(login.status, 200);
    assert_eq!(login.error_code(), "BAD_CREDENTIALS");
    assert!(login.body.get("data").is_some());

    // A wrong token is 401, not anonymous.
    let response = app
        .client
        .post(app.graphql_url())
        .bearer_auth("not.a.token")
        .json(&json!({ "query": "{ nodeCountry }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
}

async fn get_runs_queries_but_not_mutations(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let response = app
        .client
        .get(app.graphql_url())
        .query(&[
            ("query", "query Q($x: Boolean!) { nodeCountry @include(if: $x) }"),
            ("variables", "{\"x\": true}"),
            ("operationName", "Q"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({ "data": { "nodeCountry": "MX" } }));
    let response = app
        .client
        .get(app.graphql_url())
        .query(&[("query", "mutation { login(username: \"a\", password: \"b\") { token } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
}

/// GraphQL request errors: a document that does not parse, one that does not validate, a
/// variable that does not coerce (the requests of `graphql-http`'s audits 572B, FDE2, 7B9B).
pub(crate) fn graphql_request_errors() -> [Value; 3] {
    [
        json!({ "query": "{" }),
        json!({ "query": "{ noSuchField }" }),
        json!({ "query": "query CoerceFailure($id: ID!) { __typename }", "variables": { "id": null } }),
    ]
}

async fn request_errors_answer_per_accepted_media_type(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    for request in graphql_request_errors() {
        // application/json: 200, since a client of that type reads the body only on 200.
        let (status, media, body) = post(&app, Some("application/json"), "application/json", request.to_string()).await;
        assert_eq!((status, media.as_str()), (200, "application/json"), "{request}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert!(body["errors"][0]["message"].is_string() && body.get("data").is_none(), "{request}: {body}");
        // application/graphql-response+json: 400, without data.
        let (status, media, body) =
            post(&app, Some("application/graphql-response+json"), "application/json", request.to_string()).await;
        assert_eq!((status, media.as_str()), (400, "application/graphql-response+json"), "{request}: {body}");
        assert!(serde_json::from_str::<Value>(&body).unwrap().get("data").is_none(), "{request}: {body}");
    }
    // Over SSE, GET as POST: a `next` event carrying the errors, then `complete` (a 400 would
    // fail an EventSource without telling why).
    let next = sse_single_result(app.client.get(app.graphql_url()).query(&[("query", "{")])).await;
    assert!(next["errors"][0]["message"].as_str().unwrap().contains("expected"), "{next}");
    assert!(next.get("data").is_none(), "{next}");
}

async fn graphql_http_audits_are_all_ok(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    assert_graphql_http_audits_ok(&app.graphql_url()).await;
}

/// GraphiQL in a real browser on a network without internet access: it renders and asks the
/// node for its schema, and the browser asked nothing of any other origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_runs_in_a_browser_without_internet_access() {
    let app = TestApp::builder().spawn().await;
    let report = cadena_tests::in_browser(json!({ "op": "graphiql", "url": format!("{}/", app.base) })).await;
    assert_eq!(report["outside"], json!([]), "no request left the node's origin: {report}");
    assert_eq!(report["errors"], json!([]), "no script error: {report}");
    assert_eq!(report["rendered"], true, "{report}");
    let introspected =
        report["graphql"].as_array().unwrap().iter().any(|g| g["method"] == "POST" && g["status"] == 200);
    assert!(introspected, "GraphiQL asked the node for its schema: {report}");
}

async fn health_graphiql_and_readiness(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let health = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.client.get(format!("{}/readyz", app.base)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let graphiql = app.client.get(&app.base).send().await.unwrap();
    assert_eq!(graphiql.status(), 200);
    let page = graphiql.text().await.unwrap();
    assert!(page.contains("GraphiQL"));
    assert_page_assets_served(&app.client, &app.base, &page).await;
}

/// Every script and stylesheet of `page` comes from `base` itself (a closed network has no
/// CDN), with the hash its `integrity` attribute names, and may be cached for good.
pub async fn assert_page_assets_served(client: &reqwest::Client, base: &str, page: &str) {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut served = 0;
    for tag in page.split('<').filter(|t| t.starts_with("script ") || t.starts_with("link ")) {
        let attribute =
            |name: &str| tag.split(&format!("{name}=\"")).nth(1).map(|v| v[..v.find('"').expect("quoted")].to_owned());
        let Some(url) = attribute("src").or_else(|| attribute("href")) else { continue };
        assert!(url.starts_with("/assets/"), "{url}: served by the node, not another origin");
        let response = client.get(format!("{base}{url}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        let expected_type = if url.ends_with(".css") { "text/css" } else { "text/javascript" };
        assert!(content_type.starts_with(expected_type), "{url}: {content_type}");
        assert!(response.headers()["cache-control"].to_str().unwrap().contains("immutable"), "{url}");
        let bytes = response.bytes().await.unwrap();
        let hash = format!("sha384-{}", base64::engine::general_purpose::STANDARD.encode(sha2::Sha384::digest(&bytes)));
        assert_eq!(Some(hash), attribute("integrity"), "{url}");
        served += 1;
    }
    assert_eq!(served, 4, "GraphiQL's CSS and script, React, ReactDOM");
    let missing = client.get(format!("{base}/assets/graphiql-9.9.9.min.js")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

on_both_backends!(
    media_types_and_status_codes_follow_the_spec,
    get_runs_queries_but_not_mutations,
    request_errors_answer_per_accepted_media_type,
    graphql_http_audits_are_all_ok,
    health_graphiql_and_readiness
);
