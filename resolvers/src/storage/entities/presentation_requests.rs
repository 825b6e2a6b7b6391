use sea_orm::entity::prelude::*;

/// A VERIFIER account's OpenID4VP request, and the report of its one answer.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "presentation_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub verifier: String,
    /// `dc+sd-jwt` or `ldp_vc`.
    pub format: String,
    /// JSON array of the claim names asked for.
    pub claims: String,
    pub nonce: String,
    pub state: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub answered_at: Option<DateTimeUtc>,
    pub verified: Option<bool>,
    /// The answer as the wallet sent it (the presentation), kept so it can be checked again.
    pub presentation: Option<String>,
    /// The verification report (JSON) of the answer.
    pub report: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
