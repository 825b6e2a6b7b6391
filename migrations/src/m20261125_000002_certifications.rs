use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Certifications {
    Table,
    Id,
    LineageId,
    Version,
    PreviousVersionId,
    CertificateNumber,
    IssuingCountry,
    IssuingAuthority,
    OperatorName,
    Street,
    City,
    SubEntity,
    Postcode,
    AddressCountry,
    Tin,
    TinScheme,
    PartnerIdentifiers,
    CertificateType,
    Roles,
    AuthorisationDate,
    ValidFrom,
    ValidUntil,
    LastValidationDate,
    Status,
    SubmittedBy,
    ApprovedBy,
    CreatedAt,
    StatusChangedAt,
    HistorySeq,
    HistoryHead,
}

#[derive(DeriveIden)]
enum CertificationHistory {
    Table,
    Id,
    LineageId,
    Seq,
    CertificationId,
    Version,
    Transition,
    FromStatus,
    ToStatus,
    Actor,
    ActorRole,
    At,
    Reason,
    PrevHash,
    Hash,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Certifications as C;
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    .col(ColumnDef::new(C::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(C::LineageId).uuid().not_null())
                    .col(ColumnDef::new(C::Version).integer().not_null())
                    .col(ColumnDef::new(C::PreviousVersionId).uuid().null())
                    .col(ColumnDef::new(C::CertificateNumber).string_len(64).not_null())
                    .col(ColumnDef::new(C::IssuingCountry).string_len(2).not_null())
                    .col(ColumnDef::new(C::IssuingAuthority).string().not_null())
                    .col(ColumnDef::new(C::OperatorName).string().not_null())
                    .col(ColumnDef::new(C::Street).string().not_null())
                    .col(ColumnDef::new(C::City).string().not_null())
                    .col(ColumnDef::new(C::SubEntity).string().null())
                    .col(ColumnDef::new(C::Postcode).string().null())
                    .col(ColumnDef::new(C::AddressCountry).string_len(2).not_null())
                    .col(ColumnDef::new(C::Tin).string_len(32).not_null())
                    .col(ColumnDef::new(C::TinScheme).string_len(32).not_null())
                    .col(ColumnDef::new(C::PartnerIdentifiers).json().not_null())
                    .col(ColumnDef::new(C::CertificateType).string_len(32).not_null())
                    // ",IMPORTER,EXPORTER,": delimited on both sides so `LIKE '%,X,%'` filters
                    // by role the same way on SQLite and PostgreSQL.
                    .col(ColumnDef::new(C::Roles).string().not_null())
                    .col(ColumnDef::new(C::AuthorisationDate).date().not_null())
                    .col(ColumnDef::new(C::ValidFrom).date().not_null())
                    .col(ColumnDef::new(C::ValidUntil).date().null())
                    .col(ColumnDef::new(C::LastValidationDate).date().null())
                    .col(ColumnDef::new(C::Status).string_len(16).not_null())
                    .col(ColumnDef::new(C::SubmittedBy).string_len(64).not_null())
                    .col(ColumnDef::new(C::ApprovedBy).string_len(64).null())
                    .col(ColumnDef::new(C::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(C::StatusChangedAt).timestamp_with_time_zone().not_null())
                    // The lineage's history chain head, kept on every version's row so a
                    // transition reads one row, not the history, to link its entry.
                    .col(ColumnDef::new(C::HistorySeq).big_integer().not_null())
                    .col(ColumnDef::new(C::HistoryHead).string_len(64).not_null())
                    .to_owned(),
            )
            .await?;
        // Lookup by trader: the hot path of partners and risk systems.
        manager
            .create_index(
                Index::create()
                    .name("ix_certifications_country_tin")
                    .table(C::Table)
                    .col(C::IssuingCountry)
                    .col(C::Tin)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("ix_certifications_status").table(C::Table).col(C::Status).to_owned())
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_certifications_lineage")
                    .table(C::Table)
                    .col(C::LineageId)
                    .col(C::Version)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // One certificate number per country and version: a second lineage cannot reuse it.
        manager
            .create_index(
                Index::create()
                    .name("ux_certifications_number")
                    .table(C::Table)
                    .col(C::IssuingCountry)
                    .col(C::CertificateNumber)
                    .col(C::Version)
                    .unique()
                    .to_owned(),
            )
            .await?;

        use CertificationHistory as H;
        manager
            .create_table(
                Table::create()
                    .table(H::Table)
                    .col(ColumnDef::new(H::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(H::LineageId).uuid().not_null())
                    .col(ColumnDef::new(H::Seq).big_integer().not_null())
                    .col(ColumnDef::new(H::CertificationId).uuid().not_null())
                    .col(ColumnDef::new(H::Version).integer().not_null())
                    .col(ColumnDef::new(H::Transition).string_len(16).not_null())
                    .col(ColumnDef::new(H::FromStatus).string_len(16).null())
                    .col(ColumnDef::new(H::ToStatus).string_len(16).not_null())
                    .col(ColumnDef::new(H::Actor).string_len(64).not_null())
                    .col(ColumnDef::new(H::ActorRole).string_len(16).not_null())
                    .col(ColumnDef::new(H::At).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(H::Reason).text().null())
                    .col(ColumnDef::new(H::PrevHash).string_len(64).not_null())
                    .col(ColumnDef::new(H::Hash).string_len(64).not_null())
                    .to_owned(),
            )
            .await?;
        // The chain's order, and the guard against two writers appending the same position.
        manager
            .create_index(
                Index::create()
                    .name("ux_certification_history_chain")
                    .table(H::Table)
                    .col(H::LineageId)
                    .col(H::Seq)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(CertificationHistory::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Certifications::Table).to_owned()).await
    }
}
