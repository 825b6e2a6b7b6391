use sea_orm::entity::prelude::*;

/// A verifiable credential this node issued, and its status bits.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "credentials")]
pub struct Model {
    /// The credential's `id` (`urn:uuid:…`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The certification version it states; None for VC API issuance.
    pub certification_id: Option<Uuid>,
    /// Status list number (`revocation-<n>`, `suspension-<n>`).
    pub status_list: i32,
    /// Index in both lists.
    pub status_index: i32,
    /// The signed credential (JSON).
    #[sea_orm(column_type = "Text")]
    pub document: String,
    /// Hex SHA-256 of its RFC 8785 canonical JSON.
    pub digest: String,
    pub issued_at: DateTimeUtc,
    pub revoked: bool,
    pub suspended: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
