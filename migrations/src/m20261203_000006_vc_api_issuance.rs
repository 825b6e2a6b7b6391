//! VC API issuance kept apart from AEO certifications: status lists of their own, an audit trail
//! of who signed what, and the revocation of AEO-typed credentials that the VC API signed before
//! it refused them (AEO certifications come only from the certification lifecycle).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StatusLists {
    Table,
    Id,
    Kind,
    Version,
}

#[derive(DeriveIden)]
enum Credentials {
    Table,
    CertificationId,
    StatusList,
    Document,
    Revoked,
}

#[derive(DeriveIden)]
enum VcApiIssuances {
    Table,
    CredentialId,
    OfficerId,
    Username,
    IssuedAt,
    Types,
    Subjects,
    Digest,
}

/// Credentials the VC API signed (no certification) that call themselves AEO certifications.
fn side_door_credentials() -> SelectStatement {
    Query::select()
        .column(Credentials::StatusList)
        .from(Credentials::Table)
        .and_where(Expr::col(Credentials::CertificationId).is_null())
        .and_where(Expr::col(Credentials::Document).like("%\"AEOCertificationCredential\"%"))
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Which credentials a list holds: `AEO` (certifications, served as `revocation-<n>`) or
        // `VC_API` (served as `vc-api-revocation-<n>`); a list never holds both.
        manager
            .alter_table(
                Table::alter()
                    .table(StatusLists::Table)
                    .add_column(ColumnDef::new(StatusLists::Kind).string_len(16).not_null().default("AEO"))
                    .to_owned(),
            )
            .await?;

        use VcApiIssuances as V;
        manager
            .create_table(
                Table::create()
                    .table(V::Table)
                    .col(ColumnDef::new(V::CredentialId).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(V::OfficerId).uuid().not_null())
                    // As it was at issuance: an officer can be renamed later.
                    .col(ColumnDef::new(V::Username).string_len(255).not_null())
                    .col(ColumnDef::new(V::IssuedAt).timestamp_with_time_zone().not_null())
                    // JSON lists of the credential's types and subject ids.
                    .col(ColumnDef::new(V::Types).text().not_null())
                    .col(ColumnDef::new(V::Subjects).text().not_null())
                    .col(ColumnDef::new(V::Digest).string_len(64).not_null())
                    .to_owned(),
            )
            .await?;

        // Bump the lists first, while the credentials still select them.
        let bump = Query::update()
            .table(StatusLists::Table)
            .value(StatusLists::Version, Expr::col(StatusLists::Version).add(1))
            .and_where(Expr::col(StatusLists::Id).in_subquery(side_door_credentials()))
            .to_owned();
        manager.exec_stmt(bump).await?;
        let revoke = Query::update()
            .table(Credentials::Table)
            .value(Credentials::Revoked, true)
            .and_where(Expr::col(Credentials::CertificationId).is_null())
            .and_where(Expr::col(Credentials::Document).like("%\"AEOCertificationCredential\"%"))
            .to_owned();
        manager.exec_stmt(revoke).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(VcApiIssuances::Table).to_owned()).await?;
        manager.alter_table(Table::alter().table(StatusLists::Table).drop_column(StatusLists::Kind).to_owned()).await
    }
}
