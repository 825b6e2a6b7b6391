//! Certification events are a log: each has a cursor, in commit order, kept across restarts.
//! A subscriber resumes after a cursor (`certificationEvents(after:)`, or SSE `Last-Event-ID`)
//! and misses nothing, including what committed while it was away and the node was down.

use std::time::Duration;

use cadena_tests::{Backend, TestApp};
use futures::StreamExt;
use serde_json::{Value, json};

const EVENTS: &str = "certificationEvents { cursor sequence transition certification { certificateNumber } }";

/// One SSE `next` event: its `id:` and its JSON.
type Received = (Option<String>, Value);

/// Opens an SSE subscription as `officer`, resuming after `last_event_id` if given.
async fn open(app: &TestApp, query: &str, last_event_id: Option<&str>) -> reqwest::Response {
    let mut request =
        app.client.post(app.graphql_url()).bearer_auth(app.token("risk").await).json(&json!({ "query": query }));
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    cadena_tests::open_event_stream(request).await
}

/// Reads `n` `next` events from an open stream (10 s at most).
async fn next_events<B: AsRef<[u8]>>(
    body: &mut (impl futures::Stream<Item = reqwest::Result<B>> + Unpin),
    text: &mut String,
    n: usize,
) -> Vec<Received> {
    // Complete blocks only: `text` up to its last blank line.
    let parse = |text: &str| -> Vec<Received> {
        text.split("\n\n")
            .filter_map(|block| {
                let (mut id, mut data, mut next) = (None, None, false);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data = Some(v.trim().to_owned());
                    } else if line.strip_prefix("event:").is_some_and(|e| e.trim() == "next") {
                        next = true;
                    }
                }
                if !next {
                    return None;
                }
                Some((id, serde_json::from_str(data.as_deref()?).ok()?))
            })
            .collect()
    };
    tokio::time::timeout(Duration::from_secs(10), async {
        while parse(text.rsplit_once("\n\n").map_or("", |(done, _)| done)).len() < n {
            let chunk = body.next().await.expect("the stream stays open").expect("a chunk");
            text.push_str(&String::from_utf8_lossy(chunk.as_ref()));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{n} events within 10 s; got: {text}"));
    let (done, rest) = text.rsplit_once("\n\n").map(|(d, r)| (d.to_owned(), r.to_owned())).unwrap_or_default();
    *text = rest;
    parse(&done)
}

fn summary(events: &[Received]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|(id, body)| {
            let event = &body["data"]["certificationEvents"];
            assert_eq!(id.as_deref(), event["cursor"].as_str(), "the SSE id is the event's cursor: {body}");
            assert_eq!(event["cursor"].as_str().unwrap(), event["sequence"].to_string(), "{body}");
            (
                event["cursor"].as_str().unwrap().to_owned(),
                event["transition"].as_str().unwrap().to_owned(),
                event["certification"]["certificateNumber"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn expected(rows: &[(u64, &str, &str)]) -> Vec<(String, String, String)> {
    rows.iter().map(|(c, t, n)| (c.to_string(), (*t).to_owned(), (*n).to_owned())).collect()
}

async fn a_subscriber_resumes_after_its_last_cursor_and_misses_nothing(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let tin = "GODE561231GR8";
    let first = app.granted("OEA-EV-0001", tin).await;
    app.granted("OEA-EV-0002", tin).await;

    // From the beginning: every event so far, in commit order, each labelled with its cursor.
    let response = open(
        &app,
        &format!("subscription {{ {} }}", EVENTS.replace("certificationEvents", "certificationEvents(after: \"0\")")),
        None,
    )
    .await;
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let replayed = summary(&next_events(&mut body, &mut text, 4).await);
    assert_eq!(
        replayed,
        expected(&[
            (1, "SUBMIT", "OEA-EV-0001"),
            (2, "APPROVE", "OEA-EV-0001"),
            (3, "SUBMIT", "OEA-EV-0002"),
            (4, "APPROVE", "OEA-EV-0002")
        ])
    );
    // Live after the replay, on the same stream.
    app.transition("approver", "suspendCertification", &first, Some("audit")).await.data();
    assert_eq!(summary(&next_events(&mut body, &mut text, 1).await), expected(&[(5, "SUSPEND", "OEA-EV-0001")]));
    drop(body);

    // The subscriber is away; more commits, and the node restarts in between.
    app.transition("approver", "reinstateCertification", &first, Some("audit cleared")).await.data();
    let app = app.stop().await.start().await;
    app.granted("OEA-EV-0003", tin).await;

    // Back over SSE with Last-Event-ID: exactly what it missed, then live.
    let response = open(&app, &format!("subscription {{ {EVENTS} }}"), Some("5")).await;
    let mut body = response.bytes_stream();
    let mut text = String::new();
    assert_eq!(
        summary(&next_events(&mut body, &mut text, 3).await),
        expected(&[(6, "REINSTATE", "OEA-EV-0001"), (7, "SUBMIT", "OEA-EV-0003"), (8, "APPROVE", "OEA-EV-0003")])
    );
    app.transition("approver", "revokeCertification", &first, Some("fraud")).await.data();
    assert_eq!(summary(&next_events(&mut body, &mut text, 1).await), expected(&[(9, "REVOKE", "OEA-EV-0001")]));

    // Over graphql-transport-ws with `after`, filtered to one certification.
    let mut ws = app
        .subscribe_ws(
            "risk",
            "subscription { certificationEvents(after: \"6\", filter: { transitions: [REVOKE, APPROVE] }) { cursor transition } }",
        )
        .await;
    for (cursor, transition) in [("8", "APPROVE"), ("9", "REVOKE")] {
        let event = tokio::time::timeout(Duration::from_secs(10), ws.recv()).await.expect("an event").expect("open");
        assert_eq!(
            event["data"]["certificationEvents"],
            json!({ "cursor": cursor, "transition": transition }),
            "{event}"
        );
    }

    // A cursor that is not one is refused, naming the argument.
    let response = open(&app, "subscription { certificationEvents(after: \"yesterday\") { cursor } }", None).await;
    let mut body = response.bytes_stream();
    let refused = next_events(&mut body, &mut String::new(), 1).await;
    let error = &refused[0].1["errors"][0];
    assert!(error["message"].as_str().unwrap().contains("after"), "{error}");
}

/// The log keeps events for the retention: older ones are deleted (the newest always stays,
/// so numbering goes on), and a cursor older than what is kept is refused naming `after`,
/// never resumed with a silent hole.
async fn retention_deletes_old_events_and_refuses_cursors_before_them(backend: Backend) {
    use cadena_resolvers::storage::entities::certification_events;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    // The node's own hourly pruning is off: the test prunes, and counts what it deleted.
    let app = TestApp::builder().backend(backend).event_retain_days(0).spawn().await;
    let tin = "GODE561231GR8";
    for number in ["OEA-RT-0001", "OEA-RT-0002", "OEA-RT-0003"] {
        app.granted(number, tin).await;
    }
    let log = app.node.services.certifications.event_log();
    // PostgreSQL numbers events after they commit: every one numbered before they are aged.
    log.sequence().await.unwrap();
    let db = app.node.storage.db();
    let age = |days: i64, through: i64| {
        certification_events::Entity::update_many()
            .col_expr(
                certification_events::Column::CommittedAt,
                Expr::value(chrono::Utc::now() - chrono::Duration::days(days)),
            )
            .filter(certification_events::Column::Seq.lte(through))
    };
    // Events 1-4 are 100 days old, 5-6 recent: a 90-day retention deletes 1-4.
    age(100, 4).exec(db).await.unwrap();
    let ninety_days = Duration::from_secs(90 * 86_400);
    assert_eq!(log.prune(ninety_days).await.unwrap(), 4);
    assert_eq!(log.oldest().await.unwrap(), Some(5));

    // Resuming where the log still has everything after the cursor works ...
    let resume = |after: &str| {
        format!(
            "subscription {{ {} }}",
            EVENTS.replace("certificationEvents", &format!("certificationEvents(after: \"{after}\")"))
        )
    };
    let mut body = open(&app, &resume("4"), None).await.bytes_stream();
    assert_eq!(
        summary(&next_events(&mut body, &mut String::new(), 2).await),
        expected(&[(5, "SUBMIT", "OEA-RT-0003"), (6, "APPROVE", "OEA-RT-0003")])
    );
    // ... and an older cursor, over GraphQL or SSE's Last-Event-ID, is refused naming `after`
    // and where it could resume.
    for (query, last_event_id) in [(resume("0"), None), (format!("subscription {{ {EVENTS} }}"), Some("2"))] {
        let mut body = open(&app, &query, last_event_id).await.bytes_stream();
        let refused = next_events(&mut body, &mut String::new(), 1).await;
        let error = &refused[0].1["errors"][0];
        assert_eq!(error["extensions"]["fields"][0]["field"], "after", "{error}");
        assert!(error["message"].as_str().unwrap().contains("resume after 4"), "{error}");
    }

    // Everything old: all but the newest go, and the next event is numbered after it.
    age(100, 6).exec(db).await.unwrap();
    assert_eq!(log.prune(ninety_days).await.unwrap(), 1);
    assert_eq!(log.oldest().await.unwrap(), Some(6));
    app.granted("OEA-RT-0004", tin).await;
    let mut body = open(&app, &resume("6"), None).await.bytes_stream();
    assert_eq!(
        summary(&next_events(&mut body, &mut String::new(), 2).await),
        expected(&[(7, "SUBMIT", "OEA-RT-0004"), (8, "APPROVE", "OEA-RT-0004")])
    );
}

/// A reader that saves its cursor (the partner dispatcher, the followers' webhooks) acts on
/// every event once: the retention never deletes an event it has not handled, however old.
async fn retention_keeps_the_events_a_reader_has_not_handled(backend: Backend) {
    use cadena_resolvers::storage::WriteBatch;
    use cadena_resolvers::storage::entities::{certification_events, event_cursors};
    use sea_orm::EntityTrait;
    use sea_orm::sea_query::Expr;

    let app = TestApp::builder().backend(backend).event_retain_days(0).spawn().await;
    for number in ["OEA-RK-0001", "OEA-RK-0002", "OEA-RK-0003"] {
        app.granted(number, "GODE561231GR8").await;
    }
    let log = app.node.services.certifications.event_log();
    log.sequence().await.unwrap();
    let storage = &app.node.storage;
    let old = chrono::Utc::now() - chrono::Duration::days(100);
    certification_events::Entity::update_many()
        .col_expr(certification_events::Column::CommittedAt, Expr::value(old))
        .exec(storage.db())
        .await
        .unwrap();
    let handled = |cursor: u64| async move {
        let mut batch = WriteBatch::default();
        batch.push(event_cursors::save("partner-dispatch", cursor, storage.backend()));
        storage.apply_alone(batch).await.unwrap();
    };
    let ninety_days = Duration::from_secs(90 * 86_400);
    // Handled through 2 of 6: 3-6 stay, all older than the retention.
    handled(2).await;
    assert_eq!(log.prune(ninety_days).await.unwrap(), 2);
    assert_eq!(log.oldest().await.unwrap(), Some(3));
    // Once it has handled them they go, the newest excepted.
    handled(6).await;
    assert_eq!(log.prune(ninety_days).await.unwrap(), 3);
    assert_eq!(log.oldest().await.unwrap(), Some(6));
}

on_both_backends!(
    a_subscriber_resumes_after_its_last_cursor_and_misses_nothing,
    retention_deletes_old_events_and_refuses_cursors_before_them,
    retention_keeps_the_events_a_reader_has_not_handled
);
