use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MraPartners {
    Table,
    Country,
    State,
    Scope,
    Did,
    SinceBlock,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PartnerEvents {
    Table,
    Id,
    CertificationId,
    CredentialId,
    CertificateType,
    Event,
    Dispatched,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PartnerOutbox {
    Table,
    Partner,
    Seq,
    EventId,
    NeedsAnchor,
    Attempts,
    LastError,
    NextAttemptAt,
    DeliveredAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PartnerInbox {
    Table,
    Partner,
    Seq,
    Digest,
    Outcome,
    Reason,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum PartnerCertifications {
    Table,
    CredentialId,
    Partner,
    CertificationId,
    LineageId,
    Version,
    IssuingCountry,
    Tin,
    OperatorName,
    CertificateType,
    Status,
    ValidFrom,
    ValidUntil,
    Credential,
    Verification,
    LastSeq,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    Url,
    Payload,
    Attempts,
    State,
    LastStatus,
    LastError,
    NextAttemptAt,
    DeliveredAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use MraPartners as M;
        manager
            .create_table(
                Table::create()
                    .table(M::Table)
                    // The partner's country: this node's view of the MRA, as the chain says it.
                    .col(ColumnDef::new(M::Country).string_len(2).not_null().primary_key())
                    .col(ColumnDef::new(M::State).string_len(12).not_null())
                    .col(ColumnDef::new(M::Scope).small_integer().not_null())
                    .col(ColumnDef::new(M::Did).string_len(255).not_null())
                    .col(ColumnDef::new(M::SinceBlock).big_integer().not_null())
                    .col(ColumnDef::new(M::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;

        use PartnerEvents as E;
        manager
            .create_table(
                Table::create()
                    .table(E::Table)
                    .col(ColumnDef::new(E::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(E::CertificationId).uuid().not_null())
                    .col(ColumnDef::new(E::CredentialId).string_len(64).not_null())
                    .col(ColumnDef::new(E::CertificateType).string_len(32).not_null())
                    // The transition as partners receive it (JSON).
                    .col(ColumnDef::new(E::Event).text().not_null())
                    // Written with the transition; set when the dispatcher queued it for every
                    // partner (a flag, not a high-water mark: ids need not commit in order).
                    .col(ColumnDef::new(E::Dispatched).boolean().not_null().default(false))
                    .col(ColumnDef::new(E::CreatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_partner_events_pending")
                    .table(E::Table)
                    .col(E::Dispatched)
                    .col(E::Id)
                    .to_owned(),
            )
            .await?;

        use PartnerOutbox as O;
        manager
            .create_table(
                Table::create()
                    .table(O::Table)
                    .col(ColumnDef::new(O::Partner).string_len(2).not_null())
                    // Per partner, from 1, without gaps: the partner detects what it missed.
                    .col(ColumnDef::new(O::Seq).big_integer().not_null())
                    .col(ColumnDef::new(O::EventId).big_integer().not_null())
                    // A grant waits for its credential's anchor, so the partner can verify it in full.
                    .col(ColumnDef::new(O::NeedsAnchor).boolean().not_null())
                    .col(ColumnDef::new(O::Attempts).integer().not_null().default(0))
                    .col(ColumnDef::new(O::LastError).text().null())
                    .col(ColumnDef::new(O::NextAttemptAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(O::DeliveredAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(O::CreatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(O::Partner).col(O::Seq))
                    .to_owned(),
            )
            .await?;

        use PartnerInbox as I;
        manager
            .create_table(
                Table::create()
                    .table(I::Table)
                    .col(ColumnDef::new(I::Partner).string_len(2).not_null())
                    .col(ColumnDef::new(I::Seq).big_integer().not_null())
                    // SHA-256 of what the message stands for: the same message again is
                    // acknowledged, a different one under a used number is a replay.
                    .col(ColumnDef::new(I::Digest).string_len(64).not_null())
                    // ACCEPTED or REFUSED (with the reason): either way the number is used.
                    .col(ColumnDef::new(I::Outcome).string_len(12).not_null())
                    .col(ColumnDef::new(I::Reason).text().null())
                    .col(ColumnDef::new(I::ReceivedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(I::Partner).col(I::Seq))
                    .to_owned(),
            )
            .await?;

        use PartnerCertifications as P;
        manager
            .create_table(
                Table::create()
                    .table(P::Table)
                    .col(ColumnDef::new(P::CredentialId).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(P::Partner).string_len(2).not_null())
                    .col(ColumnDef::new(P::CertificationId).uuid().not_null())
                    .col(ColumnDef::new(P::LineageId).uuid().not_null())
                    .col(ColumnDef::new(P::Version).integer().not_null())
                    .col(ColumnDef::new(P::IssuingCountry).string_len(2).not_null())
                    .col(ColumnDef::new(P::Tin).string_len(32).not_null())
                    .col(ColumnDef::new(P::OperatorName).string().not_null())
                    .col(ColumnDef::new(P::CertificateType).string_len(32).not_null())
                    .col(ColumnDef::new(P::Status).string_len(16).not_null())
                    .col(ColumnDef::new(P::ValidFrom).date().not_null())
                    .col(ColumnDef::new(P::ValidUntil).date().null())
                    .col(ColumnDef::new(P::Credential).text().not_null())
                    // The verification report of the credential when it arrived (JSON).
                    .col(ColumnDef::new(P::Verification).text().not_null())
                    .col(ColumnDef::new(P::LastSeq).big_integer().not_null())
                    .col(ColumnDef::new(P::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_partner_certifications_operator")
                    .table(P::Table)
                    .col(P::IssuingCountry)
                    .col(P::Tin)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_partner_certifications_certification")
                    .table(P::Table)
                    .col(P::CertificationId)
                    .to_owned(),
            )
            .await?;

        use WebhookDeliveries as W;
        manager
            .create_table(
                Table::create()
                    .table(W::Table)
                    .col(ColumnDef::new(W::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(W::Url).string().not_null())
                    .col(ColumnDef::new(W::Payload).text().not_null())
                    .col(ColumnDef::new(W::Attempts).integer().not_null().default(0))
                    // PENDING, DELIVERED or FAILED (gave up).
                    .col(ColumnDef::new(W::State).string_len(12).not_null())
                    .col(ColumnDef::new(W::LastStatus).integer().null())
                    .col(ColumnDef::new(W::LastError).text().null())
                    .col(ColumnDef::new(W::NextAttemptAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(W::DeliveredAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(W::CreatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_deliveries_due")
                    .table(W::Table)
                    .col(W::State)
                    .col(W::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(PartnerCertifications::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(PartnerInbox::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(PartnerOutbox::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(PartnerEvents::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(MraPartners::Table).to_owned()).await
    }
}
