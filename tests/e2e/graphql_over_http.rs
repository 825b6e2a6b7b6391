//! The GraphQL-over-HTTP contract: media types, status codes, GET, health endpoints.

use cadena_tests::{Backend, TestApp};
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

async fn health_graphiql_and_readiness(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let health = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.client.get(format!("{}/readyz", app.base)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let graphiql = app.client.get(&app.base).send().await.unwrap();
    assert_eq!(graphiql.status(), 200);
    assert!(graphiql.text().await.unwrap().contains("GraphiQL"));
}

on_both_backends!(
    media_types_and_status_codes_follow_the_spec,
    get_runs_queries_but_not_mutations,
    health_graphiql_and_readiness
);
