use sea_orm::entity::prelude::*;

/// One message this node numbered for one partner (per partner, from 1, without gaps), and
/// what became of it; its delivery is an `outbox` row of topic `partner.message`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "partner_messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub partner: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub event_id: i64,
    /// Held back until the credential's anchor is confirmed.
    pub needs_anchor: bool,
    pub delivered_at: Option<DateTimeUtc>,
    /// The partner's reason when it refused the message for good (it was delivered, and not
    /// taken).
    #[sea_orm(column_type = "Text", nullable)]
    pub refusal: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
