//! Leases of the background workers: on PostgreSQL several replicas of a node run, and each
//! kind of worker (anchoring, partner delivery, webhooks) works on one of them at a time, the
//! one holding its lease; a killed replica's lease expires and another takes the work over.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WorkerLeases {
    Table,
    Name,
    Holder,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use WorkerLeases as L;
        manager
            .create_table(
                Table::create()
                    .table(L::Table)
                    .col(ColumnDef::new(L::Name).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(L::Holder).string_len(64).not_null())
                    .col(ColumnDef::new(L::ExpiresAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(WorkerLeases::Table).to_owned()).await
    }
}
