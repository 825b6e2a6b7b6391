//! What insurers and banks follow: each VERIFIER account's watch list of operators (country and
//! trader ID), an entry existing only while the firm's consent holds (it presented its AEO
//! credential over a consent challenge naming the account and the period), and the log of every
//! consent and withdrawal, for auditors.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WatchList {
    Table,
    Verifier,
    Country,
    Tin,
    ConsentedAt,
    ConsentedUntil,
    CredentialId,
    Holder,
    WithdrawnAt,
}

#[derive(DeriveIden)]
enum ConsentLog {
    Table,
    Id,
    Verifier,
    Country,
    Tin,
    Action,
    Until,
    CredentialId,
    Holder,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use WatchList as W;
        manager
            .create_table(
                Table::create()
                    .table(W::Table)
                    .col(ColumnDef::new(W::Verifier).string_len(64).not_null())
                    .col(ColumnDef::new(W::Country).string_len(2).not_null())
                    .col(ColumnDef::new(W::Tin).string_len(32).not_null())
                    .col(ColumnDef::new(W::ConsentedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(W::ConsentedUntil).date().not_null())
                    .col(ColumnDef::new(W::CredentialId).string_len(255).not_null())
                    .col(ColumnDef::new(W::Holder).string_len(255).not_null())
                    .col(ColumnDef::new(W::WithdrawnAt).timestamp_with_time_zone().null())
                    .primary_key(Index::create().col(W::Verifier).col(W::Country).col(W::Tin))
                    .to_owned(),
            )
            .await?;
        // Who follows an operator, asked at each of its status changes.
        manager
            .create_index(
                Index::create().name("ix_watch_list_operator").table(W::Table).col(W::Country).col(W::Tin).to_owned(),
            )
            .await?;
        use ConsentLog as L;
        manager
            .create_table(
                Table::create()
                    .table(L::Table)
                    .col(ColumnDef::new(L::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(L::Verifier).string_len(64).not_null())
                    .col(ColumnDef::new(L::Country).string_len(2).not_null())
                    .col(ColumnDef::new(L::Tin).string_len(32).not_null())
                    .col(ColumnDef::new(L::Action).string_len(16).not_null())
                    .col(ColumnDef::new(L::Until).date().null())
                    .col(ColumnDef::new(L::CredentialId).string_len(255).null())
                    .col(ColumnDef::new(L::Holder).string_len(255).null())
                    .col(ColumnDef::new(L::At).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ConsentLog::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(WatchList::Table).to_owned()).await
    }
}
