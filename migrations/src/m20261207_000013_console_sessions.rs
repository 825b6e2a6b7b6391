//! Sessions of the officer console (`/console`): one row per logged-in browser, found by the
//! SHA-256 of the secret its cookie holds (a copy of this table opens no session), with the
//! session's CSRF token and the times that bound it (idle and absolute timeouts).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ConsoleSessions {
    Table,
    Id,
    OfficerId,
    Csrf,
    CreatedAt,
    LastSeenAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ConsoleSessions as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .col(ColumnDef::new(S::Id).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(S::OfficerId).uuid().not_null())
                    .col(ColumnDef::new(S::Csrf).string_len(64).not_null())
                    .col(ColumnDef::new(S::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(S::LastSeenAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ix_console_sessions_officer").table(S::Table).col(S::OfficerId).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ConsoleSessions::Table).to_owned()).await
    }
}
