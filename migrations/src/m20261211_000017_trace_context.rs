//! The W3C trace context (`traceparent`) of the request that queued a piece of deferred work
//! (`outbox.trace_context`) and of the outbox round that formed an anchor batch
//! (`anchor_batches.trace_context`): work done later, perhaps by another replica, continues
//! the trace of what called for it. Empty when the node records no traces.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    TraceContext,
}

#[derive(DeriveIden)]
enum AnchorBatches {
    Table,
    TraceContext,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Outbox::Table)
                    .add_column(ColumnDef::new(Outbox::TraceContext).string_len(64).null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AnchorBatches::Table)
                    .add_column(ColumnDef::new(AnchorBatches::TraceContext).string_len(64).null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(AnchorBatches::Table).drop_column(AnchorBatches::TraceContext).to_owned())
            .await?;
        manager.alter_table(Table::alter().table(Outbox::Table).drop_column(Outbox::TraceContext).to_owned()).await
    }
}
