use sea_orm::entity::prelude::*;

/// One step of a certification's delivery to wallets: OFFERED, TOKEN_ISSUED,
/// CREDENTIAL_ISSUED or REFUSED, with what it concerned.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wallet_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub certification_id: Uuid,
    pub offer_id: Option<Uuid>,
    pub event: String,
    pub detail: Option<String>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
