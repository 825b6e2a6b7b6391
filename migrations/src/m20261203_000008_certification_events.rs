//! The node's event log: every certification event (its own transitions and what partners
//! sent) under a cursor assigned in commit order, written in the transaction that causes the
//! event. Subscribers resume from a cursor, and every replica of a node reads the same log.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CertificationEvents {
    Table,
    Seq,
    Event,
    CommittedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use CertificationEvents as E;
        manager
            .create_table(
                Table::create()
                    .table(E::Table)
                    // Assigned as MAX + 1 inside the writing transaction (serialised), so the
                    // order of cursors is the order of commits.
                    .col(ColumnDef::new(E::Seq).big_integer().not_null().primary_key())
                    .col(ColumnDef::new(E::Event).text().not_null())
                    .col(ColumnDef::new(E::CommittedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(CertificationEvents::Table).to_owned()).await
    }
}
