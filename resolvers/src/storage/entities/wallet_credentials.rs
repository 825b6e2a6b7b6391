use sea_orm::entity::prelude::*;

/// A credential issued to a wallet: once per offer and format, bound to the holder's key.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wallet_credentials")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub offer_id: Uuid,
    pub certification_id: Uuid,
    /// The credential configuration (format) issued.
    pub configuration: String,
    /// The holder, as the did:key of the key the credential is bound to.
    pub holder: String,
    /// The anchored digest (hex).
    pub digest: String,
    pub issued_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
