//! One transactional outbox for every kind of deferred work.
//!
//! Before this migration anchoring, partner delivery and webhooks each kept their own queue
//! (`anchor_outbox`, `partner_events` → `partner_outbox`, `webhook_deliveries`), with their own
//! retry columns. From here on a state change writes rows into `outbox` only, one per piece of
//! work (a topic and a payload), and one worker loop hands them to a handler per topic. What
//! those queues also were stays, under names that say what it is now:
//!
//! - `anchor_outbox` → `anchor_batch_entries`: which digest or status change went into which
//!   batch (for sending a batch again after a rollback, and for a history entry's chain
//!   confirmation). Its rows are written when a batch is formed.
//! - `partner_outbox` → `partner_messages`: the messages this node numbered for each partner and
//!   what became of them (the feed and reconciliation read it); its retry columns go.
//! - `partner_events`: the events partners hear of, now written when the event is dispatched
//!   (`dispatched` goes).
//! - `webhook_deliveries` goes: a delivery is an `outbox` row (the URL its subject, the body its
//!   payload), ids kept, so receivers de-duplicating by `Cadena-Delivery` see the same ids.
//!
//! Work that waited in the old queues moves into `outbox`, in its order.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::prelude::{ChronoDateTimeUtc, Uuid};
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, JsonValue, Statement, Value};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    Topic,
    Stream,
    Subject,
    Payload,
    State,
    Attempts,
    LastStatus,
    LastError,
    NextAttemptAt,
    DoneAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AnchorOutbox {
    Table,
}

#[derive(DeriveIden)]
enum AnchorBatchEntries {
    Table,
}

#[derive(DeriveIden)]
enum PartnerOutbox {
    Table,
}

#[derive(DeriveIden)]
enum PartnerMessages {
    Table,
    Attempts,
    LastError,
    NextAttemptAt,
}

#[derive(DeriveIden)]
enum PartnerEvents {
    Table,
    Dispatched,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
}

/// Inserts one `outbox` row (`id` kept when given).
#[allow(clippy::too_many_arguments)]
fn insert(
    backend: DbBackend,
    id: Option<i64>,
    topic: &str,
    stream: Option<String>,
    subject: Option<String>,
    payload: String,
    state: &str,
    attempts: i32,
    last_status: Option<i32>,
    last_error: Option<String>,
    next_attempt_at: Value,
    done_at: Value,
    created_at: Value,
) -> Statement {
    let mut columns = vec![
        Outbox::Topic,
        Outbox::Stream,
        Outbox::Subject,
        Outbox::Payload,
        Outbox::State,
        Outbox::Attempts,
        Outbox::LastStatus,
        Outbox::LastError,
        Outbox::NextAttemptAt,
        Outbox::DoneAt,
        Outbox::CreatedAt,
    ];
    let mut values: Vec<SimpleExpr> = vec![
        topic.into(),
        stream.into(),
        subject.into(),
        payload.into(),
        state.into(),
        attempts.into(),
        last_status.into(),
        last_error.into(),
        SimpleExpr::Value(next_attempt_at),
        SimpleExpr::Value(done_at),
        SimpleExpr::Value(created_at),
    ];
    if let Some(id) = id {
        columns.push(Outbox::Id);
        values.push(id.into());
    }
    let mut query = Query::insert();
    query.into_table(Outbox::Table).columns(columns);
    query.values_panic(values);
    backend.build(&query)
}

/// A PENDING `outbox` row never tried, queued at `created_at`.
fn never_tried(
    backend: DbBackend,
    topic: &str,
    stream: Option<String>,
    subject: String,
    payload: JsonValue,
    created_at: ChronoDateTimeUtc,
) -> Statement {
    let never: Option<ChronoDateTimeUtc> = None;
    let (next_attempt_at, done_at) = (created_at.into(), never.into());
    let payload = payload.to_string();
    insert(
        backend,
        None,
        topic,
        stream,
        Some(subject),
        payload,
        "PENDING",
        0,
        None,
        None,
        next_attempt_at,
        done_at,
        created_at.into(),
    )
}

fn json_string(text: impl Into<String>) -> JsonValue {
    JsonValue::String(text.into())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Outbox as O;
        let backend = manager.get_database_backend();
        let db = manager.get_connection();
        manager
            .create_table(
                Table::create()
                    .table(O::Table)
                    .col(ColumnDef::new(O::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(O::Topic).string_len(32).not_null())
                    // Rows of one stream are handled in order (a partner's messages).
                    .col(ColumnDef::new(O::Stream).string_len(64).null())
                    // What the row is about, to find it by (`CO/17`, a webhook's URL).
                    .col(ColumnDef::new(O::Subject).string_len(512).null())
                    .col(ColumnDef::new(O::Payload).text().not_null())
                    // PENDING, DONE or FAILED (given up).
                    .col(ColumnDef::new(O::State).string_len(8).not_null())
                    .col(ColumnDef::new(O::Attempts).integer().not_null().default(0))
                    .col(ColumnDef::new(O::LastStatus).integer().null())
                    .col(ColumnDef::new(O::LastError).text().null())
                    .col(ColumnDef::new(O::NextAttemptAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(O::DoneAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(O::CreatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_outbox_pending")
                    .table(O::Table)
                    .col(O::Topic)
                    .col(O::State)
                    .col(O::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ix_outbox_subject").table(O::Table).col(O::Topic).col(O::Subject).to_owned(),
            )
            .await?;

        // Webhook deliveries first, under their own ids (receivers de-duplicate by them).
        let deliveries = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT id, url, payload, attempts, state, last_status, last_error, next_attempt_at, delivered_at, \
                 created_at FROM webhook_deliveries ORDER BY id",
            ))
            .await?;
        for row in deliveries {
            let state: String = row.try_get("", "state")?;
            let state = match state.as_str() {
                "DELIVERED" => "DONE",
                "FAILED" => "FAILED",
                _ => "PENDING",
            };
            db.execute_raw(insert(
                backend,
                Some(row.try_get("", "id")?),
                "webhook",
                None,
                Some(row.try_get("", "url")?),
                row.try_get("", "payload")?,
                state,
                row.try_get("", "attempts")?,
                row.try_get("", "last_status")?,
                row.try_get("", "last_error")?,
                row.try_get::<ChronoDateTimeUtc>("", "next_attempt_at")?.into(),
                row.try_get::<Option<ChronoDateTimeUtc>>("", "delivered_at")?.into(),
                row.try_get::<ChronoDateTimeUtc>("", "created_at")?.into(),
            ))
            .await?;
        }
        if backend == DbBackend::Postgres {
            // Explicit ids do not move PostgreSQL's sequence: the next row goes after them.
            db.execute_unprepared(
                "SELECT setval(pg_get_serial_sequence('outbox', 'id'), COALESCE((SELECT MAX(id) FROM outbox), 0) + 1, false)",
            )
            .await?;
        }

        // Digests and status changes no batch took yet.
        let waiting = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT kind, credential_id, digest, status_code, lineage_id, history_seq, created_at \
                 FROM anchor_outbox WHERE batch_sequence IS NULL ORDER BY id",
            ))
            .await?;
        for row in waiting {
            let mut payload = JsonValue::Object(Default::default());
            payload["credentialId"] = json_string(row.try_get::<String>("", "credential_id")?);
            payload["digest"] = json_string(row.try_get::<String>("", "digest")?);
            payload["statusCode"] =
                row.try_get::<Option<i16>>("", "status_code")?.map_or(JsonValue::Null, |c| c.into());
            payload["lineageId"] =
                row.try_get::<Option<Uuid>>("", "lineage_id")?.map_or(JsonValue::Null, |l| json_string(l.to_string()));
            payload["historySeq"] =
                row.try_get::<Option<i64>>("", "history_seq")?.map_or(JsonValue::Null, |s| s.into());
            let created_at: ChronoDateTimeUtc = row.try_get("", "created_at")?;
            let subject = row.try_get("", "credential_id")?;
            db.execute_raw(never_tried(
                backend,
                "anchor",
                Some(row.try_get("", "kind")?),
                subject,
                payload,
                created_at,
            ))
            .await?;
        }
        db.execute_unprepared("DELETE FROM anchor_outbox WHERE batch_sequence IS NULL").await?;

        // Events not yet numbered for partners: dispatched again from the outbox.
        let undispatched = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT certification_id, credential_id, certificate_type, event, created_at \
                 FROM partner_events WHERE dispatched = false ORDER BY id",
            ))
            .await?;
        for row in undispatched {
            let event: String = row.try_get("", "event")?;
            let mut payload = JsonValue::Object(Default::default());
            payload["certificationId"] = json_string(row.try_get::<Uuid>("", "certification_id")?.to_string());
            payload["credentialId"] = json_string(row.try_get::<String>("", "credential_id")?);
            payload["certificateType"] = json_string(row.try_get::<String>("", "certificate_type")?);
            payload["event"] =
                event.parse::<JsonValue>().map_err(|e| DbErr::Custom(format!("a partner event is not JSON: {e}")))?;
            let created_at: ChronoDateTimeUtc = row.try_get("", "created_at")?;
            let subject = row.try_get("", "credential_id")?;
            db.execute_raw(never_tried(backend, "partner.event", None, subject, payload, created_at)).await?;
        }
        db.execute_unprepared("DELETE FROM partner_events WHERE dispatched = false").await?;

        // Messages numbered and not yet delivered: delivered from the outbox, in order.
        let undelivered = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT partner, seq, attempts, last_error, next_attempt_at, created_at \
                 FROM partner_outbox WHERE delivered_at IS NULL ORDER BY partner, seq",
            ))
            .await?;
        for row in undelivered {
            let partner: String = row.try_get("", "partner")?;
            let seq: i64 = row.try_get("", "seq")?;
            let mut payload = JsonValue::Object(Default::default());
            payload["partner"] = json_string(partner.clone());
            payload["seq"] = seq.into();
            db.execute_raw(insert(
                backend,
                None,
                "partner.message",
                Some(partner.clone()),
                Some(format!("{partner}/{seq}")),
                payload.to_string(),
                "PENDING",
                row.try_get("", "attempts")?,
                None,
                row.try_get("", "last_error")?,
                row.try_get::<ChronoDateTimeUtc>("", "next_attempt_at")?.into(),
                Option::<ChronoDateTimeUtc>::None.into(),
                row.try_get::<ChronoDateTimeUtc>("", "created_at")?.into(),
            ))
            .await?;
        }

        manager.drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned()).await?;
        manager.rename_table(Table::rename().table(AnchorOutbox::Table, AnchorBatchEntries::Table).to_owned()).await?;
        manager.rename_table(Table::rename().table(PartnerOutbox::Table, PartnerMessages::Table).to_owned()).await?;
        // One column per statement: SQLite alters one thing at a time.
        for column in [PartnerMessages::Attempts, PartnerMessages::LastError, PartnerMessages::NextAttemptAt] {
            manager.alter_table(Table::alter().table(PartnerMessages::Table).drop_column(column).to_owned()).await?;
        }
        // The index on (dispatched, id) goes first: SQLite keeps an indexed column.
        manager
            .drop_index(Index::drop().name("ix_partner_events_pending").table(PartnerEvents::Table).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table(PartnerEvents::Table).drop_column(PartnerEvents::Dispatched).to_owned())
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "the single outbox is not undone: its work would have to be split into the old queues again".into(),
        ))
    }
}
