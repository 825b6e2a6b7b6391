//! Partners' events are dispatched from the event log instead of from a `partner.event` outbox
//! row per transition: a grant no longer writes that row (issuance waits on the one writer),
//! and the dispatcher reads the log from its cursor in `event_cursors` (`partner-dispatch`).
//!
//! What waits is handed over without a loss or a double: each pending `partner.event` row is
//! dispatched here as the dispatcher did it (recorded in `partner_events`, numbered for every
//! ACTIVE partner whose scope covers its certificate type, a `partner.message` delivery queued
//! for each) and marked done; on PostgreSQL the events still waiting to be numbered are moved
//! into the log first; then, on a node that dispatched before, the dispatcher's cursor is set at
//! the newest event, every event up to it having been dispatched by the old handler or here. A
//! node that never dispatched (no chain) gets its cursor when its dispatcher first runs.
//!
//! `down` removes the cursor; transitions committed after this migration and before the
//! downgrade are not dispatched by the code that `down` returns to.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::prelude::{ChronoDateTimeUtc, ChronoUtc, Uuid};
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, JsonValue, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The dispatcher's cursor's name.
const READER: &str = "partner-dispatch";

/// A certificate type's bit in an MRA's scope (the node's `scope_bit`, frozen here).
fn scope_bit(certificate_type: &str) -> i16 {
    match certificate_type {
        "SECURITY_AND_SAFETY" => 1,
        "CUSTOMS_SIMPLIFICATIONS" => 2,
        "FULL" => 4,
        _ => 0,
    }
}

/// The `max` column of `sql`'s one row (0 for none).
async fn max_i64(db: &SchemaManagerConnection<'_>, backend: DbBackend, sql: &str) -> Result<i64, DbErr> {
    Ok(match db.query_one_raw(Statement::from_string(backend, sql)).await? {
        Some(row) => row.try_get::<Option<i64>>("", "max")?.unwrap_or(0),
        None => 0,
    })
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// All of it or none, on SQLite too: work is moved, not copied.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let now: ChronoDateTimeUtc = ChronoUtc::now();

        let partners = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT country, scope FROM mra_partners WHERE state = 'ACTIVE' ORDER BY country",
            ))
            .await?;
        let mut partners: Vec<(String, i16, i64)> = {
            let mut numbered = Vec::new();
            for row in partners {
                let country: String = row.try_get("", "country")?;
                let scope: i16 = row.try_get("", "scope")?;
                numbered.push((country, scope, 0));
            }
            numbered
        };
        for (country, _, next) in &mut partners {
            let last = db
                .query_one_raw(Statement::from_sql_and_values(
                    backend,
                    match backend {
                        DbBackend::Postgres => "SELECT MAX(seq) AS max FROM partner_messages WHERE partner = $1",
                        _ => "SELECT MAX(seq) AS max FROM partner_messages WHERE partner = ?",
                    },
                    [country.clone().into()],
                ))
                .await?
                .map(|row| row.try_get::<Option<i64>>("", "max"))
                .transpose()?
                .flatten()
                .unwrap_or(0);
            *next = last + 1;
        }
        let mut next_event = max_i64(db, backend, "SELECT MAX(id) AS max FROM partner_events").await? + 1;

        // The old handler's work still waiting, in its order.
        let waiting = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT id, payload FROM outbox WHERE topic = 'partner.event' AND state = 'PENDING' ORDER BY id",
            ))
            .await?;
        for row in waiting {
            let id: i64 = row.try_get("", "id")?;
            let payload: String = row.try_get("", "payload")?;
            let work: JsonValue =
                payload.parse().map_err(|e| DbErr::Custom(format!("partner.event work {id} is not JSON: {e}")))?;
            let text = |key: &str| {
                work[key]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| DbErr::Custom(format!("partner.event work {id} has no {key}")))
            };
            let certification_id: Uuid = text("certificationId")?
                .parse()
                .map_err(|e| DbErr::Custom(format!("partner.event work {id}: certificationId: {e}")))?;
            let (credential_id, certificate_type) = (text("credentialId")?, text("certificateType")?);
            let event = work["event"].to_string();
            let is_grant = work["event"]["transition"] == "APPROVE";
            let record = Query::insert()
                .into_table(Alias::new("partner_events"))
                .columns(
                    ["id", "certification_id", "credential_id", "certificate_type", "event", "created_at"]
                        .map(Alias::new),
                )
                .values_panic([
                    next_event.into(),
                    certification_id.into(),
                    credential_id.into(),
                    certificate_type.clone().into(),
                    event.into(),
                    now.into(),
                ])
                .to_owned();
            db.execute_raw(backend.build(&record)).await?;
            let bit = scope_bit(&certificate_type);
            for (country, _, seq) in partners.iter_mut().filter(|(_, scope, _)| scope & bit != 0) {
                let message = Query::insert()
                    .into_table(Alias::new("partner_messages"))
                    .columns(["partner", "seq", "event_id", "needs_anchor", "created_at"].map(Alias::new))
                    .values_panic([
                        country.clone().into(),
                        (*seq).into(),
                        next_event.into(),
                        is_grant.into(),
                        now.into(),
                    ])
                    .to_owned();
                db.execute_raw(backend.build(&message)).await?;
                let mut delivery = JsonValue::Object(Default::default());
                delivery["partner"] = JsonValue::String(country.clone());
                delivery["seq"] = (*seq).into();
                let queued = Query::insert()
                    .into_table(Alias::new("outbox"))
                    .columns(
                        ["topic", "stream", "subject", "payload", "state", "attempts", "next_attempt_at", "created_at"]
                            .map(Alias::new),
                    )
                    .values_panic([
                        "partner.message".into(),
                        country.clone().into(),
                        format!("{country}/{seq}").into(),
                        delivery.to_string().into(),
                        "PENDING".into(),
                        0i32.into(),
                        now.into(),
                        now.into(),
                    ])
                    .to_owned();
                db.execute_raw(backend.build(&queued)).await?;
                *seq += 1;
            }
            let done = Query::update()
                .table(Alias::new("outbox"))
                .value(Alias::new("state"), "DONE")
                .value(Alias::new("done_at"), now)
                .and_where(Expr::col(Alias::new("id")).eq(id))
                .to_owned();
            db.execute_raw(backend.build(&done)).await?;
            next_event += 1;
        }

        if backend == DbBackend::Postgres {
            // Committed events still waiting for their cursors, numbered as the log's sequencer
            // does (under its lock: a replica not yet stopped may be numbering), so the
            // dispatcher's starting point is after every one of them.
            db.execute_unprepared("SELECT pg_advisory_xact_lock(109269947346529)").await?;
            db.execute_unprepared(
                "WITH moved AS (DELETE FROM certification_events_pending RETURNING id, event, committed_at), \
                 base AS (SELECT COALESCE(MAX(seq), 0) AS seq FROM certification_events) \
                 INSERT INTO certification_events (seq, event, committed_at) \
                 SELECT base.seq + ROW_NUMBER() OVER (ORDER BY moved.id), moved.event, moved.committed_at \
                 FROM moved, base",
            )
            .await?;
        }
        // A node that never dispatched (no chain) gets its cursor when its dispatcher first
        // runs, from then on.
        let dispatched = db
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT (EXISTS (SELECT 1 FROM outbox WHERE topic = 'partner.event') \
                 OR EXISTS (SELECT 1 FROM partner_events)) AS dispatched",
            ))
            .await?
            .map(|row| row.try_get::<bool>("", "dispatched"))
            .transpose()?
            .unwrap_or(false);
        if !dispatched {
            return Ok(());
        }
        let newest = max_i64(db, backend, "SELECT MAX(seq) AS max FROM certification_events").await?;
        let cursor = Query::insert()
            .into_table(Alias::new("event_cursors"))
            .columns(["name", "cursor"].map(Alias::new))
            .values_panic([READER.into(), newest.into()])
            .to_owned();
        db.execute_raw(backend.build(&cursor)).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let delete = Query::delete()
            .from_table(Alias::new("event_cursors"))
            .and_where(Expr::col(Alias::new("name")).eq(READER))
            .to_owned();
        let db = manager.get_connection();
        db.execute_raw(manager.get_database_backend().build(&delete)).await?;
        Ok(())
    }
}
