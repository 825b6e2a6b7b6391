use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AnchorOutbox {
    Table,
    Id,
    Kind,
    CredentialId,
    Digest,
    StatusCode,
    LineageId,
    HistorySeq,
    BatchSequence,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AnchorBatches {
    Table,
    Sequence,
    Kind,
    Root,
    Count,
    State,
    TxHash,
    BlockNumber,
    GasUsed,
    FormedAt,
    ConfirmedAt,
}

#[derive(DeriveIden)]
enum CredentialAnchors {
    Table,
    CredentialId,
    BatchSequence,
    LeafIndex,
    Proof,
}

#[derive(DeriveIden)]
enum ChainCheckpoints {
    Table,
    Name,
    Block,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use AnchorOutbox as O;
        manager
            .create_table(
                Table::create()
                    .table(O::Table)
                    .col(ColumnDef::new(O::Id).big_integer().not_null().auto_increment().primary_key())
                    // ANCHOR (a new credential's digest, for a Merkle batch) or STATUS (a status
                    // change, for a status batch). Written in the transaction that causes it.
                    .col(ColumnDef::new(O::Kind).string_len(8).not_null())
                    .col(ColumnDef::new(O::CredentialId).string_len(64).not_null())
                    .col(ColumnDef::new(O::Digest).string_len(64).not_null())
                    .col(ColumnDef::new(O::StatusCode).small_integer().null())
                    // The history entry the chain confirms (certificationHistory shows its block).
                    .col(ColumnDef::new(O::LineageId).uuid().null())
                    .col(ColumnDef::new(O::HistorySeq).big_integer().null())
                    // Null until a batch takes it; a batch takes each row once.
                    .col(ColumnDef::new(O::BatchSequence).big_integer().null())
                    .col(ColumnDef::new(O::CreatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_anchor_outbox_batch")
                    .table(O::Table)
                    .col(O::BatchSequence)
                    .col(O::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_anchor_outbox_history")
                    .table(O::Table)
                    .col(O::LineageId)
                    .col(O::HistorySeq)
                    .to_owned(),
            )
            .await?;

        use AnchorBatches as B;
        manager
            .create_table(
                Table::create()
                    .table(B::Table)
                    // The authority's on-chain sequence number: batches go out in this order,
                    // and the contract accepts each number once.
                    .col(ColumnDef::new(B::Sequence).big_integer().not_null().primary_key())
                    .col(ColumnDef::new(B::Kind).string_len(8).not_null())
                    .col(ColumnDef::new(B::Root).string_len(64).null())
                    .col(ColumnDef::new(B::Count).integer().not_null())
                    // FORMED (root and proofs stored, not known on chain) or CONFIRMED.
                    .col(ColumnDef::new(B::State).string_len(12).not_null())
                    .col(ColumnDef::new(B::TxHash).string_len(66).null())
                    .col(ColumnDef::new(B::BlockNumber).big_integer().null())
                    .col(ColumnDef::new(B::GasUsed).big_integer().null())
                    .col(ColumnDef::new(B::FormedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(B::ConfirmedAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;

        use CredentialAnchors as A;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(ColumnDef::new(A::CredentialId).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(A::BatchSequence).big_integer().not_null())
                    .col(ColumnDef::new(A::LeafIndex).integer().not_null())
                    // JSON array of hex sibling hashes, leaf to root.
                    .col(ColumnDef::new(A::Proof).text().not_null())
                    .to_owned(),
            )
            .await?;

        use ChainCheckpoints as C;
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    .col(ColumnDef::new(C::Name).string_len(32).not_null().primary_key())
                    // The last block whose events were indexed.
                    .col(ColumnDef::new(C::Block).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ChainCheckpoints::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(CredentialAnchors::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(AnchorBatches::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(AnchorOutbox::Table).to_owned()).await
    }
}
