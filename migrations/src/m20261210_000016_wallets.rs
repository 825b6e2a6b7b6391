//! Wallets (OpenID4VCI and OpenID4VP): credential offers to a firm's wallet, with their
//! pre-authorised codes and access tokens kept only as SHA-256 hashes (`credential_offers`);
//! the one-time nonces a wallet's key proof answers (`wallet_nonces`); every credential issued
//! to a wallet, once per offer and format (`wallet_credentials`); the log of it all per
//! certification (`wallet_events`); and the presentation requests of VERIFIER accounts with
//! their single answer's report (`presentation_requests`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CredentialOffers {
    Table,
    Id,
    CertificationId,
    CodeHash,
    TxCodeHash,
    OfferedBy,
    CreatedAt,
    ExpiresAt,
    RedeemedAt,
    TokenHash,
    TokenExpiresAt,
}

#[derive(DeriveIden)]
enum WalletNonces {
    Table,
    Nonce,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum WalletCredentials {
    Table,
    Id,
    OfferId,
    CertificationId,
    Configuration,
    Holder,
    Digest,
    IssuedAt,
}

#[derive(DeriveIden)]
enum WalletEvents {
    Table,
    Id,
    CertificationId,
    OfferId,
    Event,
    Detail,
    At,
}

#[derive(DeriveIden)]
enum PresentationRequests {
    Table,
    Id,
    Verifier,
    Format,
    Claims,
    Nonce,
    State,
    CreatedAt,
    ExpiresAt,
    AnsweredAt,
    Verified,
    Presentation,
    Report,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use CredentialOffers as O;
        manager
            .create_table(
                Table::create()
                    .table(O::Table)
                    .col(ColumnDef::new(O::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(O::CertificationId).uuid().not_null())
                    .col(ColumnDef::new(O::CodeHash).string_len(64).not_null().unique_key())
                    .col(ColumnDef::new(O::TxCodeHash).string_len(64).not_null())
                    .col(ColumnDef::new(O::OfferedBy).string_len(64).not_null())
                    .col(ColumnDef::new(O::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(O::ExpiresAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(O::RedeemedAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(O::TokenHash).string_len(64).null().unique_key())
                    .col(ColumnDef::new(O::TokenExpiresAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        use WalletNonces as N;
        manager
            .create_table(
                Table::create()
                    .table(N::Table)
                    .col(ColumnDef::new(N::Nonce).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(N::ExpiresAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(N::UsedAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        use WalletCredentials as C;
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    .col(ColumnDef::new(C::Id).string_len(80).not_null().primary_key())
                    .col(ColumnDef::new(C::OfferId).uuid().not_null())
                    .col(ColumnDef::new(C::CertificationId).uuid().not_null())
                    .col(ColumnDef::new(C::Configuration).string_len(64).not_null())
                    .col(ColumnDef::new(C::Holder).string_len(256).not_null())
                    .col(ColumnDef::new(C::Digest).string_len(64).not_null())
                    .col(ColumnDef::new(C::IssuedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        // One credential per offer and format, whatever the wallet retries.
        manager
            .create_index(
                Index::create()
                    .name("ux_wallet_credentials_offer_configuration")
                    .table(C::Table)
                    .col(C::OfferId)
                    .col(C::Configuration)
                    .unique()
                    .to_owned(),
            )
            .await?;
        use WalletEvents as E;
        manager
            .create_table(
                Table::create()
                    .table(E::Table)
                    .col(ColumnDef::new(E::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(E::CertificationId).uuid().not_null())
                    .col(ColumnDef::new(E::OfferId).uuid().null())
                    .col(ColumnDef::new(E::Event).string_len(32).not_null())
                    .col(ColumnDef::new(E::Detail).text().null())
                    .col(ColumnDef::new(E::At).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_wallet_events_certification")
                    .table(E::Table)
                    .col(E::CertificationId)
                    .col(E::Id)
                    .to_owned(),
            )
            .await?;
        use PresentationRequests as P;
        manager
            .create_table(
                Table::create()
                    .table(P::Table)
                    .col(ColumnDef::new(P::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(P::Verifier).string_len(64).not_null())
                    .col(ColumnDef::new(P::Format).string_len(16).not_null())
                    .col(ColumnDef::new(P::Claims).text().not_null())
                    .col(ColumnDef::new(P::Nonce).string_len(64).not_null().unique_key())
                    .col(ColumnDef::new(P::State).string_len(64).not_null().unique_key())
                    .col(ColumnDef::new(P::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(P::ExpiresAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(P::AnsweredAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(P::Verified).boolean().null())
                    .col(ColumnDef::new(P::Presentation).text().null())
                    .col(ColumnDef::new(P::Report).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PresentationRequests::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(WalletEvents::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(WalletCredentials::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(WalletNonces::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(CredentialOffers::Table).to_owned()).await
    }
}
