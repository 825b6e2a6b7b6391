use sea_orm::entity::prelude::*;

/// One piece of deferred work, written in the transaction of the state change that calls for
/// it, and handled by the handler of its topic (see `services::outbox`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Which handler takes it (`anchor`, `partner.message`, `webhook`).
    pub topic: String,
    /// Rows of one stream are handled in order (a partner's messages; an anchor batch kind).
    pub stream: Option<String>,
    /// What the row is about, to find it by (`CO/17`, a webhook's URL).
    pub subject: Option<String>,
    /// The handler's input (JSON, or the body a webhook sends).
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    /// PENDING, DONE or FAILED (given up).
    pub state: String,
    pub attempts: i32,
    /// The far side's last answer (an HTTP status).
    pub last_status: Option<i32>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub next_attempt_at: DateTimeUtc,
    pub done_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// The W3C `traceparent` of what queued it, when traces are recorded.
    pub trace_context: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
