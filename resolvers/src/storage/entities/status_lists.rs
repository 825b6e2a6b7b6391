use sea_orm::entity::prelude::*;

/// A pair of status lists (revocation and suspension) sharing index allocation.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "status_lists")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    /// Bits per list.
    pub capacity: i32,
    /// The next index to hand out.
    pub next_index: i32,
    /// Increases with every bit change.
    pub version: i64,
    pub updated_at: DateTimeUtc,
    /// `AEO` (certifications) or `VC_API`: a list holds one kind of credential only.
    pub kind: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
