//! Fewer pages written per certification, on the one writer issuance waits for.
//!
//! - A credential's Merkle proof is computed when asked for, from its batch's entries, instead
//!   of being written with the batch: forming a batch of 4,096 credentials wrote a
//!   `credential_anchors` row (leaf index and a JSON proof of twelve hashes) beside each
//!   `anchor_batch_entries` row, some 4 MB. The entries, in batch order, are the tree's leaves; a
//!   digest finds its entry through the new index.
//! - `ix_outbox_subject` gives way to `ix_outbox_partner_deliveries`, which holds only partner
//!   messages' rows, the only ones looked up by subject
//!   (a delivery's `partner/seq`): every grant's `anchor` and `partner.event` rows no longer add
//!   an entry to it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AnchorBatchEntries {
    Table,
    Digest,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Topic,
    Subject,
}

#[derive(DeriveIden)]
enum CredentialAnchors {
    Table,
    CredentialId,
    BatchSequence,
    LeafIndex,
    Proof,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_anchor_batch_entries_digest")
                    .table(AnchorBatchEntries::Table)
                    .col(AnchorBatchEntries::Digest)
                    .to_owned(),
            )
            .await?;
        // Every batch's entries were written in the same transaction as these rows: nothing
        // they held is lost.
        manager.drop_table(Table::drop().table(CredentialAnchors::Table).to_owned()).await?;
        // A partial index (PostgreSQL and SQLite alike); the query names the topic literally so
        // SQLite's planner can use it.
        manager.drop_index(Index::drop().name("ix_outbox_subject").table(Outbox::Table).to_owned()).await?;
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_outbox_partner_deliveries ON outbox (subject) WHERE topic = 'partner.message'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("ix_outbox_partner_deliveries").table(Outbox::Table).to_owned()).await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_outbox_subject")
                    .table(Outbox::Table)
                    .col(Outbox::Topic)
                    .col(Outbox::Subject)
                    .to_owned(),
            )
            .await?;
        // The proofs are not written back: the version before this one finds none for batches
        // formed since, and reports their credentials' anchors as pending.
        use CredentialAnchors as A;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(ColumnDef::new(A::CredentialId).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(A::BatchSequence).big_integer().not_null())
                    .col(ColumnDef::new(A::LeafIndex).integer().not_null())
                    .col(ColumnDef::new(A::Proof).text().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop().name("ix_anchor_batch_entries_digest").table(AnchorBatchEntries::Table).to_owned(),
            )
            .await
    }
}
