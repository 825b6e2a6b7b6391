use sea_orm::entity::prelude::*;

/// One status change told to a VERIFIER account, kept for auditors.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "follower_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub verifier: String,
    pub country: String,
    pub tin: String,
    /// The event's cursor in the node's log.
    pub cursor: i64,
    /// The status told.
    pub status: String,
    /// SUBSCRIPTION (sent to a subscriber) or WEBHOOK (queued for the account's receiver).
    pub channel: String,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
