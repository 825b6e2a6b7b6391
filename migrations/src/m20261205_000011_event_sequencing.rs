//! PostgreSQL: events wait in `certification_events_pending` until the log's sequencer numbers
//! them.
//!
//! A cursor must follow commit order (a reader that saw cursor n has seen every cursor below).
//! Numbering inside the writing transaction needs the writers serialised from the number to the
//! commit, and on PostgreSQL that held every transition's commit (its WAL flush) behind the
//! previous one. Instead each transition appends its events here, in its own transaction and
//! without a lock, and the sequencer moves committed pending events into `certification_events`
//! under the next cursors, one sequencing transaction at a time (see
//! `cadena_resolvers::event_log`). SQLite has one writer: it numbers in the writing transaction
//! and has no such table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CertificationEventsPending {
    Table,
    Id,
    Event,
    CommittedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        use CertificationEventsPending as P;
        manager
            .create_table(
                Table::create()
                    .table(P::Table)
                    // The order in which events are numbered when several are pending.
                    .col(ColumnDef::new(P::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(P::Event).text().not_null())
                    .col(ColumnDef::new(P::CommittedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.drop_table(Table::drop().table(CertificationEventsPending::Table).to_owned()).await
    }
}
