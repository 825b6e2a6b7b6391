use sea_orm::entity::prelude::*;

/// A logged-in browser of the officer console.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "console_sessions")]
pub struct Model {
    /// Hex SHA-256 of the secret in the session's cookie.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub officer_id: Uuid,
    /// The token every form of the session carries.
    pub csrf: String,
    pub created_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
