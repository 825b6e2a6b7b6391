use sea_orm::entity::prelude::*;

/// A credential offer to a firm's wallet (OpenID4VCI, pre-authorised code flow). Codes and
/// tokens are kept as SHA-256 hex only: a copy of the database cannot redeem them.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "credential_offers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub certification_id: Uuid,
    pub code_hash: String,
    pub tx_code_hash: String,
    pub offered_by: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// When the code was exchanged for a token (it is single use).
    pub redeemed_at: Option<DateTimeUtc>,
    pub token_hash: Option<String>,
    pub token_expires_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
