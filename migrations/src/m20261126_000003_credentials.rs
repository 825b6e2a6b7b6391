use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Credentials {
    Table,
    Id,
    CertificationId,
    StatusList,
    StatusIndex,
    Document,
    Digest,
    IssuedAt,
    Revoked,
    Suspended,
}

#[derive(DeriveIden)]
enum StatusLists {
    Table,
    Id,
    Capacity,
    NextIndex,
    Version,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PresentationChallenges {
    Table,
    Challenge,
    Domain,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Certifications {
    Table,
    OperatorDid,
    CredentialId,
}

/// Bits per status list: the Bitstring Status List minimum (16 KiB), for herd privacy.
const LIST_CAPACITY: i32 = 131_072;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Credentials as C;
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    // `urn:uuid:…`, the credential's own `id`.
                    .col(ColumnDef::new(C::Id).string_len(64).not_null().primary_key())
                    // Null for credentials issued through the VC API rather than a certification.
                    .col(ColumnDef::new(C::CertificationId).uuid().null())
                    .col(ColumnDef::new(C::StatusList).integer().not_null())
                    .col(ColumnDef::new(C::StatusIndex).integer().not_null())
                    // The signed credential exactly as issued: its digest is over these bytes' JSON.
                    .col(ColumnDef::new(C::Document).text().not_null())
                    .col(ColumnDef::new(C::Digest).string_len(64).not_null())
                    .col(ColumnDef::new(C::IssuedAt).timestamp_with_time_zone().not_null())
                    // The status list bits: lists are built from these columns, which change in
                    // the same transaction as the lifecycle transition.
                    .col(ColumnDef::new(C::Revoked).boolean().not_null().default(false))
                    .col(ColumnDef::new(C::Suspended).boolean().not_null().default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_credentials_status_slot")
                    .table(C::Table)
                    .col(C::StatusList)
                    .col(C::StatusIndex)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ix_credentials_certification").table(C::Table).col(C::CertificationId).to_owned(),
            )
            .await?;

        use StatusLists as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    // List k is served as revocation-k and suspension-k; a credential holds the
                    // same index in both.
                    .col(ColumnDef::new(S::Id).integer().not_null().primary_key())
                    .col(ColumnDef::new(S::Capacity).integer().not_null())
                    .col(ColumnDef::new(S::NextIndex).integer().not_null())
                    // Bumped with every bit change, so a signed list is re-issued only when stale.
                    .col(ColumnDef::new(S::Version).big_integer().not_null())
                    .col(ColumnDef::new(S::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        let first = Query::insert()
            .into_table(S::Table)
            .columns([S::Id, S::Capacity, S::NextIndex, S::Version, S::UpdatedAt])
            .values_panic([1.into(), LIST_CAPACITY.into(), 0.into(), 0i64.into(), Expr::current_timestamp()])
            .to_owned();
        manager.exec_stmt(first).await?;

        use PresentationChallenges as P;
        manager
            .create_table(
                Table::create()
                    .table(P::Table)
                    .col(ColumnDef::new(P::Challenge).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(P::Domain).string_len(255).null())
                    .col(ColumnDef::new(P::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(P::ExpiresAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(P::UsedAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(Certifications::Table)
                    .add_column(ColumnDef::new(Certifications::OperatorDid).string_len(255).null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Certifications::Table)
                    .add_column(ColumnDef::new(Certifications::CredentialId).string_len(64).null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Certifications::CredentialId, Certifications::OperatorDid] {
            manager.alter_table(Table::alter().table(Certifications::Table).drop_column(column).to_owned()).await?;
        }
        manager.drop_table(Table::drop().table(PresentationChallenges::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(StatusLists::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Credentials::Table).to_owned()).await
    }
}
