use sea_orm::entity::prelude::*;

/// One certification event in the node's log, by its cursor.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "certification_events")]
pub struct Model {
    /// The cursor: increasing in commit order, from 1.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    /// The event as JSON ([`crate::events::CertificationEvent`]).
    #[sea_orm(column_type = "Text")]
    pub event: String,
    pub committed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
