//! What VERIFIER accounts (insurers, banks) were told, for auditors: each status change
//! delivered to an account, by subscription or webhook (`follower_deliveries`); how far the
//! reader that queues the accounts' webhooks has read the event log (`event_cursors`: its
//! cursor saved with the work it queued, so nothing is missed or queued twice); and the reason
//! an ADMIN gave for an entry configured for a regulated body (`consent_log.reason`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EventCursors {
    Table,
    Name,
    Cursor,
}

#[derive(DeriveIden)]
enum FollowerDeliveries {
    Table,
    Id,
    Verifier,
    Country,
    Tin,
    Cursor,
    Status,
    Channel,
    At,
}

#[derive(DeriveIden)]
enum ConsentLog {
    Table,
    Reason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EventCursors::Table)
                    .col(ColumnDef::new(EventCursors::Name).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(EventCursors::Cursor).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        use FollowerDeliveries as D;
        manager
            .create_table(
                Table::create()
                    .table(D::Table)
                    .col(ColumnDef::new(D::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(D::Verifier).string_len(64).not_null())
                    .col(ColumnDef::new(D::Country).string_len(2).not_null())
                    .col(ColumnDef::new(D::Tin).string_len(32).not_null())
                    .col(ColumnDef::new(D::Cursor).big_integer().not_null())
                    .col(ColumnDef::new(D::Status).string_len(16).not_null())
                    .col(ColumnDef::new(D::Channel).string_len(16).not_null())
                    .col(ColumnDef::new(D::At).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        // An auditor reads one account's deliveries, newest first.
        manager
            .create_index(
                Index::create()
                    .name("ix_follower_deliveries_verifier")
                    .table(D::Table)
                    .col(D::Verifier)
                    .col(D::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ConsentLog::Table)
                    .add_column(ColumnDef::new(ConsentLog::Reason).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(ConsentLog::Table).drop_column(ConsentLog::Reason).to_owned()).await?;
        manager.drop_table(Table::drop().table(FollowerDeliveries::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(EventCursors::Table).to_owned()).await
    }
}
