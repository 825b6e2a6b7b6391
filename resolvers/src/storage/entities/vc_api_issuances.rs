use sea_orm::entity::prelude::*;

/// The audit trail of the VC API: who signed which credential, written in the transaction
/// that stores it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "vc_api_issuances")]
pub struct Model {
    /// The credential's `id`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub credential_id: String,
    /// The ISSUER who asked for it.
    pub officer_id: Uuid,
    /// Their username at the time.
    pub username: String,
    pub issued_at: DateTimeUtc,
    /// The credential's types (JSON list).
    #[sea_orm(column_type = "Text")]
    pub types: String,
    /// Its subjects' ids (JSON list; a subject without one is left out).
    #[sea_orm(column_type = "Text")]
    pub subjects: String,
    /// Hex SHA-256 of its canonical JSON, as anchored.
    pub digest: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
