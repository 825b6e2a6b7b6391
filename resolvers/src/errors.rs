//! Errors of the node's services, and how they reach a GraphQL client.
//!
//! Policy:
//! - A caller's mistake (bad input, a forbidden or illegal operation, something missing) is a
//!   [`ServiceError`] variant of its own, with a message written for the officer who made it and,
//!   where one field is at fault, that field's input path. Nothing is written when one occurs:
//!   every check runs before the transaction commits.
//! - A fault of ours or of the infrastructure (the database is down) is [`ServiceError::Internal`]:
//!   logged in full with `tracing`, shown to the client only as "internal error" so no SQL or
//!   path leaks out.
//! - In GraphQL every error carries `extensions.code` (a stable machine-readable name, listed in
//!   [`ServiceError::code`]) and, for input errors, `extensions.fields`.

use async_graphql::ErrorExtensions;
use cadena_credentials::FieldError;
use cadena_credentials::lifecycle::TransitionError;

/// What can go wrong in a service call.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// One or more input fields are not acceptable; each is named.
    #[error("invalid input: {}", join(.0))]
    InvalidInput(Vec<FieldError>),
    /// No (valid) credentials came with the request.
    #[error("authentication required: {0}")]
    Unauthenticated(&'static str),
    /// The officer is authenticated but none of their roles allows the operation.
    #[error("{operation} requires one of the roles {required}; you have {held}")]
    Forbidden {
        /// The operation refused.
        operation: &'static str,
        /// Roles that would allow it.
        required: String,
        /// Roles the officer holds.
        held: String,
    },
    /// The lifecycle does not allow this transition from the current status.
    #[error(transparent)]
    IllegalTransition(#[from] TransitionError),
    /// Four eyes: the officer who submitted a certification cannot approve it.
    #[error("four-eyes rule: {0} submitted this certification and cannot also approve it; another approver must")]
    FourEyes(String),
    /// The thing asked for does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The change collides with existing data (a duplicate, or a concurrent change).
    #[error("{0}")]
    Conflict(String),
    /// A capability this node's configuration leaves off.
    #[error("{0} is disabled on this node")]
    Disabled(&'static str),
    /// The certification cannot be granted as it stands: its validity ended, or its credential
    /// cannot be signed within the limits every verifier applies. Nothing is written; it stays
    /// SUBMITTED, so it can still be rejected (or approved once the cause is fixed).
    #[error("cannot grant: {0}")]
    NotIssuable(String),
    /// Another node (an MRA partner) this call needs did not answer or could not be used; the
    /// call may succeed later.
    #[error("a partner is unavailable: {0}")]
    PartnerUnavailable(String),
    /// The caller asked too often; it may ask again after `retry_after_secs`.
    #[error("too many requests: {limit}; retry in {retry_after_secs} s")]
    RateLimited {
        /// The limit, in words.
        limit: String,
        /// Seconds until the next request is admitted.
        retry_after_secs: u64,
    },
    /// Wrong username or password (deliberately not saying which).
    #[error("invalid username or password")]
    BadCredentials,
    /// A fault that is not the caller's.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

fn join(errors: &[FieldError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl ServiceError {
    /// A single-field input error.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ServiceError::InvalidInput(vec![FieldError::new(field, message)])
    }

    /// Wraps an internal fault.
    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        ServiceError::Internal(Box::new(error))
    }

    /// The stable code put in `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::InvalidInput(_) => "BAD_USER_INPUT",
            ServiceError::Unauthenticated(_) => "UNAUTHENTICATED",
            ServiceError::Forbidden { .. } => "FORBIDDEN",
            ServiceError::IllegalTransition(_) => "ILLEGAL_TRANSITION",
            ServiceError::FourEyes(_) => "FOUR_EYES",
            ServiceError::NotFound(_) => "NOT_FOUND",
            ServiceError::Conflict(_) => "CONFLICT",
            ServiceError::Disabled(_) => "DISABLED",
            ServiceError::NotIssuable(_) => "NOT_ISSUABLE",
            ServiceError::PartnerUnavailable(_) => "PARTNER_UNAVAILABLE",
            ServiceError::RateLimited { .. } => "RATE_LIMITED",
            ServiceError::BadCredentials => "BAD_CREDENTIALS",
            ServiceError::Internal(_) => "INTERNAL",
        }
    }
}

impl From<sea_orm::DbErr> for ServiceError {
    fn from(error: sea_orm::DbErr) -> Self {
        ServiceError::internal(error)
    }
}

/// A write that found its data moved is a conflict the caller can retry; any other failure
/// of the database is internal.
impl From<crate::storage::ApplyError> for ServiceError {
    fn from(error: crate::storage::ApplyError) -> Self {
        match error {
            crate::storage::ApplyError::Conflict(c) => ServiceError::Conflict(c.into()),
            crate::storage::ApplyError::Db(db) => db.into(),
        }
    }
}

impl ErrorExtensions for ServiceError {
    fn extend(&self) -> async_graphql::Error {
        if let ServiceError::Internal(source) = self {
            tracing::error!(error = %source, "internal error");
        }
        async_graphql::Error::new(self.to_string()).extend_with(|_, ext| {
            ext.set("code", self.code());
            if let ServiceError::InvalidInput(fields) = self {
                let list: Vec<async_graphql::Value> = fields
                    .iter()
                    .map(|f| {
                        let mut m = async_graphql::indexmap::IndexMap::new();
                        m.insert(async_graphql::Name::new("field"), async_graphql::Value::from(f.field.clone()));
                        m.insert(async_graphql::Name::new("message"), async_graphql::Value::from(f.message.clone()));
                        async_graphql::Value::Object(m)
                    })
                    .collect();
                ext.set("fields", async_graphql::Value::List(list));
            }
        })
    }
}

/// Converts a service result for a resolver, keeping `extensions.code` and `fields`.
///
/// async-graphql turns any `Display` error into a bare message through `?`, which would drop
/// the extensions; resolvers therefore call `.gql()?` instead of a plain `?`.
pub trait GqlResult<T> {
    /// The result with its error extended.
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> GqlResult<T> for Result<T, ServiceError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| e.extend())
    }
}
