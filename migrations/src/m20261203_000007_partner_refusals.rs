//! A partner's refusal, kept by the sender: a message a partner refused for good is delivered
//! (its number is spent) but not taken, and the sender's officers see why.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PartnerOutbox {
    Table,
    Refusal,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PartnerOutbox::Table)
                    .add_column(ColumnDef::new(PartnerOutbox::Refusal).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(PartnerOutbox::Table).drop_column(PartnerOutbox::Refusal).to_owned())
            .await
    }
}
