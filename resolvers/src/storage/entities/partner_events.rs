use sea_orm::entity::prelude::*;

/// A transition partners may need to hear of, recorded when it is dispatched to them (backfill
/// and reconciliation read it again).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "partner_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub certification_id: Uuid,
    pub credential_id: String,
    pub certificate_type: String,
    /// The event as partners receive it (JSON).
    #[sea_orm(column_type = "Text")]
    pub event: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
