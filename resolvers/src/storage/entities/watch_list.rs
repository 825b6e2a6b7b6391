use sea_orm::entity::prelude::*;

/// An operator a VERIFIER account follows, with the firm's consent.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "watch_list")]
pub struct Model {
    /// The VERIFIER account's username.
    #[sea_orm(primary_key, auto_increment = false)]
    pub verifier: String,
    /// The operator's issuing country.
    #[sea_orm(primary_key, auto_increment = false)]
    pub country: String,
    /// The operator's trader ID (normalised).
    #[sea_orm(primary_key, auto_increment = false)]
    pub tin: String,
    pub consented_at: DateTimeUtc,
    /// The last day the firm consented to.
    pub consented_until: Date,
    /// The credential the firm presented.
    pub credential_id: String,
    /// The firm's DID, which signed the presentation.
    pub holder: String,
    /// Set when the firm withdrew its consent.
    pub withdrawn_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
