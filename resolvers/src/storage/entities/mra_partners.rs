use sea_orm::entity::prelude::*;

/// An MRA of this node's authority with another, as the chain records it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mra_partners")]
pub struct Model {
    /// The partner's country.
    #[sea_orm(primary_key, auto_increment = false)]
    pub country: String,
    /// PROPOSED, ACTIVE, SUSPENDED or TERMINATED.
    pub state: String,
    /// Certificate types shared: 1 security and safety, 2 customs simplifications, 4 full.
    pub scope: i16,
    /// The partner authority's DID (from the authority registry).
    pub did: String,
    pub since_block: i64,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
