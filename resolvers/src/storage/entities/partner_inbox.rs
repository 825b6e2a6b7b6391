use sea_orm::entity::prelude::*;

/// A message received from a partner, by its number.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "partner_inbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub partner: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    /// Hex SHA-256 of what the message stands for (sender, recipient, number, event, credential).
    pub digest: String,
    /// ACCEPTED or REFUSED.
    pub outcome: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub reason: Option<String>,
    pub received_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
