//! The one transactional outbox: work waiting in the queues it replaced is carried over by the
//! migration, and its loop hands each stream's rows over in order, backing failures off.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cadena_migrations::{Migrator, MigratorTrait};
use cadena_resolvers::errors::ServiceError;
use cadena_resolvers::events::EventBus;
use cadena_resolvers::services::outbox::{self, Handled, Handler, Intake, Outbox, Outcome, Topic, Work};
use cadena_resolvers::services::retry::Backoff;
use cadena_resolvers::storage::entities::{
    anchor_batch_entries, event_cursors, outbox as rows, partner_events, partner_messages,
};
use cadena_resolvers::storage::{Storage, WriteBatch};
use cadena_tests::{Backend, EmptyDatabase};
use chrono::Utc;
use sea_orm::sea_query::{Alias, Query, SimpleExpr};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

on_both_backends!(
    work_waiting_in_the_old_queues_moves_into_the_outbox,
    each_stream_goes_in_order_and_failures_back_off
);

/// Inserts one row into `table` of a database migrated before the outbox.
async fn insert(storage: &Storage, table: &str, values: Vec<(&str, SimpleExpr)>) {
    let mut query = Query::insert();
    query.into_table(Alias::new(table)).columns(values.iter().map(|(c, _)| Alias::new(*c)));
    query.values_panic(values.into_iter().map(|(_, v)| v));
    storage
        .db()
        .execute_raw(storage.backend().build(&query))
        .await
        .unwrap_or_else(|e| panic!("insert into {table}: {e}"));
}

async fn work_waiting_in_the_old_queues_moves_into_the_outbox(backend: Backend) {
    let database = EmptyDatabase::create(backend).await;
    let storage = Storage::connect(&database.url).await.unwrap();
    // The schema as it was before the outbox (migration 11), with work waiting in every queue.
    Migrator::up(storage.db(), Some(11)).await.unwrap();
    let now = Utc::now();
    let lineage = uuid::Uuid::new_v4();
    let certification = uuid::Uuid::new_v4();
    let event = json!({"transition": "SUSPEND", "status": "SUSPENDED", "credentialId": "urn:uuid:c2"});
    for (id, state) in [(7i64, "PENDING"), (8, "DELIVERED")] {
        insert(
            &storage,
            "webhook_deliveries",
            vec![
                ("id", id.into()),
                ("url", "http://risk.example/hook".into()),
                ("payload", format!("{{\"delivery\":{id}}}").into()),
                ("attempts", 2.into()),
                ("state", state.into()),
                ("next_attempt_at", now.into()),
                ("created_at", now.into()),
            ],
        )
        .await;
    }
    for (credential, batch) in [("urn:uuid:c1", Some(1i64)), ("urn:uuid:c2", None)] {
        insert(
            &storage,
            "anchor_outbox",
            vec![
                ("kind", "STATUS".into()),
                ("credential_id", credential.into()),
                ("digest", "ab".repeat(32).into()),
                ("status_code", 2i16.into()),
                ("lineage_id", lineage.into()),
                ("history_seq", 3i64.into()),
                ("batch_sequence", batch.into()),
                ("created_at", now.into()),
            ],
        )
        .await;
    }
    for (credential, dispatched) in [("urn:uuid:c1", true), ("urn:uuid:c2", false)] {
        insert(
            &storage,
            "partner_events",
            vec![
                ("certification_id", certification.into()),
                ("credential_id", credential.into()),
                ("certificate_type", "SECURITY_AND_SAFETY".into()),
                ("event", event.to_string().into()),
                ("dispatched", dispatched.into()),
                ("created_at", now.into()),
            ],
        )
        .await;
    }
    for (seq, delivered) in [(1i64, Some(now)), (2, None)] {
        insert(
            &storage,
            "partner_outbox",
            vec![
                ("partner", "CO".into()),
                ("seq", seq.into()),
                ("event_id", 1i64.into()),
                ("needs_anchor", false.into()),
                ("attempts", 3.into()),
                ("last_error", "the partner is down".into()),
                ("next_attempt_at", now.into()),
                ("delivered_at", delivered.into()),
                ("created_at", now.into()),
            ],
        )
        .await;
    }

    // Through migration 18, the last with an outbox row per event for partners.
    Migrator::up(storage.db(), Some(7)).await.unwrap();

    let outbox = rows::Entity::find().order_by_asc(rows::Column::Id).all(storage.db()).await.unwrap();
    let of = |topic: &'static str| outbox.iter().filter(move |r| r.topic == topic).collect::<Vec<_>>();
    // Webhook deliveries keep their ids (receivers de-duplicate by them) and their state.
    let webhooks = of("webhook");
    assert_eq!(webhooks.iter().map(|r| (r.id, r.state.as_str())).collect::<Vec<_>>(), [(7, "PENDING"), (8, "DONE")]);
    assert_eq!(webhooks[0].subject.as_deref(), Some("http://risk.example/hook"));
    assert_eq!(webhooks[0].payload, "{\"delivery\":7}");
    assert_eq!(webhooks[0].attempts, 2);
    // The status change no batch took waits in the outbox; the one batch 1 took stays its entry.
    let anchors = of("anchor");
    assert_eq!(anchors.len(), 1, "{anchors:?}");
    assert_eq!((anchors[0].stream.as_deref(), anchors[0].state.as_str()), (Some("STATUS"), "PENDING"));
    let entry: Value = serde_json::from_str(&anchors[0].payload).unwrap();
    assert_eq!(entry["credentialId"], "urn:uuid:c2");
    assert_eq!(entry["statusCode"], 2);
    assert_eq!(entry["historySeq"], 3);
    assert_eq!(entry["lineageId"], lineage.to_string());
    let entries = anchor_batch_entries::Entity::find().all(storage.db()).await.unwrap();
    assert_eq!(entries.iter().map(|e| e.credential_id.as_str()).collect::<Vec<_>>(), ["urn:uuid:c1"]);
    // The undispatched event is dispatched again from the outbox; the dispatched one stays.
    let events = of("partner.event");
    assert_eq!(events.len(), 1, "{events:?}");
    let work: Value = serde_json::from_str(&events[0].payload).unwrap();
    assert_eq!(work["event"], event);
    assert_eq!(work["credentialId"], "urn:uuid:c2");
    assert_eq!(work["certificationId"], certification.to_string());
    let recorded = partner_events::Entity::find().all(storage.db()).await.unwrap();
    assert_eq!(recorded.iter().map(|e| e.credential_id.as_str()).collect::<Vec<_>>(), ["urn:uuid:c1"]);
    // The undelivered message is delivered from the outbox, with its attempts so far.
    let messages = of("partner.message");
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!((messages[0].stream.as_deref(), messages[0].subject.as_deref()), (Some("CO"), Some("CO/2")));
    assert_eq!((messages[0].attempts, messages[0].last_error.as_deref()), (3, Some("the partner is down")));
    assert_eq!(partner_messages::Entity::find().all(storage.db()).await.unwrap().len(), 2);

    // Migration 19 dispatches the waiting event as its handler did (CO, an ACTIVE partner whose
    // scope covers the type, gets it as message 3) and hands over to the log's dispatcher.
    insert(
        &storage,
        "mra_partners",
        vec![
            ("country", "CO".into()),
            ("state", "ACTIVE".into()),
            ("scope", 1i16.into()),
            ("did", "did:web:dian.example".into()),
            ("since_block", 1i64.into()),
            ("updated_at", now.into()),
        ],
    )
    .await;
    Migrator::up(storage.db(), None).await.unwrap();
    let waiting = rows::Entity::find_by_id(events[0].id).one(storage.db()).await.unwrap().unwrap();
    assert_eq!(waiting.state, "DONE");
    let recorded =
        partner_events::Entity::find().order_by_asc(partner_events::Column::Id).all(storage.db()).await.unwrap();
    assert_eq!(recorded.iter().map(|e| e.credential_id.as_str()).collect::<Vec<_>>(), ["urn:uuid:c1", "urn:uuid:c2"]);
    assert_eq!(serde_json::from_str::<Value>(&recorded[1].event).unwrap(), event);
    let third = partner_messages::Entity::find_by_id(("CO".to_owned(), 3)).one(storage.db()).await.unwrap().unwrap();
    assert_eq!((third.event_id, third.needs_anchor, third.delivered_at), (recorded[1].id, false, None));
    let delivery = rows::Entity::find()
        .filter(rows::Column::Subject.eq("CO/3"))
        .one(storage.db())
        .await
        .unwrap()
        .expect("message 3's delivery is queued");
    assert_eq!(
        (delivery.topic.as_str(), delivery.stream.as_deref(), delivery.state.as_str()),
        ("partner.message", Some("CO"), "PENDING")
    );
    let cursor = event_cursors::Entity::find_by_id("partner-dispatch".to_owned()).one(storage.db()).await.unwrap();
    assert_eq!(cursor.map(|c| c.cursor), Some(0), "the log is empty: the dispatcher starts at its beginning");

    // New work goes after the carried-over ids.
    let mut batch = WriteBatch::default();
    batch.push(outbox::enqueue(storage.backend(), Work::new(Topic::Webhook, "{}").about("http://risk.example/hook")));
    let mut gate = storage.write_gate().await;
    storage.apply(&mut gate, batch).await.unwrap();
    drop(gate);
    let newest = rows::Entity::find().order_by_desc(rows::Column::Id).one(storage.db()).await.unwrap().unwrap();
    assert!(newest.id > 8 && newest.payload == "{}", "{newest:?}");
}

/// A handler that fails each row of its script's failures the first times it sees it.
#[derive(Clone, Default)]
struct Scripted {
    /// Subjects handed over, in order.
    calls: Arc<Mutex<Vec<String>>>,
    /// Subjects that fail, and how many more times.
    failing: Arc<Mutex<Vec<(String, u32)>>>,
}

impl Handler for Scripted {
    const TOPIC: Topic = Topic::PartnerMessage;

    fn intake(&self) -> Intake {
        Intake::InOrder { limit: 100 }
    }

    fn backoff(&self) -> Backoff {
        Backoff { base: Duration::from_millis(400), max: Duration::from_millis(400) }
    }

    fn max_attempts(&self) -> Option<i32> {
        Some(3)
    }

    async fn handle(&self, rows: Vec<outbox::Row>) -> Result<Handled, ServiceError> {
        let row = rows.into_iter().next().expect("one row at a time in order");
        let subject = row.subject.clone().unwrap_or_default();
        self.calls.lock().unwrap().push(subject.clone());
        let mut failing = self.failing.lock().unwrap();
        let outcome = match failing.iter_mut().find(|(s, _)| *s == subject) {
            Some((_, left)) if *left > 0 => {
                *left -= 1;
                Outcome::Failed { status: Some(503), error: format!("{subject} is unreachable") }
            }
            _ => Outcome::Done { status: Some(200) },
        };
        Ok(Handled::one(row.id, outcome))
    }
}

async fn each_stream_goes_in_order_and_failures_back_off(backend: Backend) {
    let database = EmptyDatabase::create(backend).await;
    let storage = Storage::connect_and_migrate(&database.url).await.unwrap();
    let mut batch = WriteBatch::default();
    for (stream, seq) in [("A", 1), ("B", 1), ("A", 2), ("C", 1), ("C", 2)] {
        let work = Work::new(Topic::PartnerMessage, "{}").in_stream(stream).about(format!("{stream}/{seq}"));
        batch.push(outbox::enqueue(storage.backend(), work));
    }
    let mut gate = storage.write_gate().await;
    storage.apply(&mut gate, batch).await.unwrap();
    drop(gate);
    let handler = Scripted::default();
    // A/1 fails once; C/1 fails until it is given up (3 attempts).
    *handler.failing.lock().unwrap() = vec![("A/1".into(), 1), ("C/1".into(), 10)];
    let outbox = Outbox::new(storage.clone(), EventBus::default());
    let state = |subject: &'static str| {
        let storage = storage.clone();
        async move {
            let rows = rows::Entity::find().all(storage.db()).await.unwrap();
            let row = rows.into_iter().find(|r| r.subject.as_deref() == Some(subject)).unwrap();
            (row.state, row.attempts, row.last_status, row.last_error)
        }
    };

    // A/1 fails: A/2 waits behind it; B goes on; C/1 fails and C/2 waits.
    outbox.round(&handler).await.unwrap();
    assert_eq!(*handler.calls.lock().unwrap(), ["A/1", "B/1", "C/1"]);
    assert_eq!(state("A/1").await, ("PENDING".into(), 1, Some(503), Some("A/1 is unreachable".into())));
    assert_eq!(state("A/2").await, ("PENDING".into(), 0, None, None));
    assert_eq!(state("B/1").await, ("DONE".into(), 1, Some(200), None));

    // Backing off: nothing of A or C is handed over again yet.
    outbox.round(&handler).await.unwrap();
    assert_eq!(handler.calls.lock().unwrap().len(), 3, "no retry before the backoff");

    // After the backoff (at least half of 400 ms, at most 400 ms): A/1 then A/2, in order.
    tokio::time::sleep(Duration::from_millis(450)).await;
    outbox.round(&handler).await.unwrap();
    assert_eq!(handler.calls.lock().unwrap()[3..], ["A/1", "A/2", "C/1"]);
    assert_eq!(state("A/2").await.0, "DONE");
    tokio::time::sleep(Duration::from_millis(450)).await;
    outbox.round(&handler).await.unwrap();
    // C/1 failed its third attempt: given up, kept with its last error.
    assert_eq!(state("C/1").await, ("FAILED".into(), 3, Some(503), Some("C/1 is unreachable".into())));
    assert_eq!(handler.calls.lock().unwrap().iter().filter(|s| *s == "C/1").count(), 3);
}
