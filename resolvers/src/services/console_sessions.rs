//! Sessions of the officer console: a browser that logged in holds a random secret in an
//! HttpOnly cookie; the database holds only the secret's SHA-256, the officer and the session's
//! CSRF token. A session ends after [`IDLE`] without a request, after [`ABSOLUTE`] whatever
//! happens, at logout, and at once when the officer's account is disabled (every request looks
//! the officer up again, roles included: the console follows the same policy as the API).

use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryTrait, Set};

use crate::auth::{Principal, RoleSet};
use crate::errors::ServiceError;
use crate::storage::entities::{console_sessions, officers};
use crate::storage::{Storage, WriteBatch};

/// A session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// No session lasts longer.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 3600);
/// How often a session's last use is written (not on every request).
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// A session that is open.
#[derive(Clone, Debug)]
pub struct OpenSession {
    /// Its officer, with the roles stored now.
    pub principal: Principal,
    /// The token its forms must carry.
    pub csrf: String,
}

/// Opens, resumes and closes console sessions.
#[derive(Clone, Debug)]
pub struct ConsoleSessions {
    storage: Storage,
}

pub use crate::services::secrets::random_token;
use crate::services::secrets::token_hash;

impl ConsoleSessions {
    /// Sessions in `storage`.
    pub fn new(storage: Storage) -> ConsoleSessions {
        ConsoleSessions { storage }
    }

    async fn apply(&self, statement: sea_orm::Statement) -> Result<(), ServiceError> {
        let mut batch = WriteBatch::default();
        batch.push(statement);
        Ok(self.storage.apply_alone(batch).await?)
    }

    /// Opens a session for `officer` (who just logged in); returns the cookie's secret.
    pub async fn open(&self, officer: &officers::Model) -> Result<String, ServiceError> {
        let secret = random_token();
        let now = Utc::now();
        let row = console_sessions::ActiveModel {
            id: Set(token_hash(&secret)),
            officer_id: Set(officer.id),
            csrf: Set(random_token()),
            created_at: Set(now),
            last_seen_at: Set(now),
        };
        self.apply(console_sessions::Entity::insert(row).build(self.storage.backend())).await?;
        Ok(secret)
    }

    /// The open session whose cookie holds `secret`, if any: not timed out, its officer still
    /// enabled. A session found ended is deleted.
    pub async fn resume(&self, secret: &str) -> Result<Option<OpenSession>, ServiceError> {
        let db = self.storage.db();
        let id = token_hash(secret);
        let Some(session) = console_sessions::Entity::find_by_id(id.clone()).one(db).await? else { return Ok(None) };
        let now = Utc::now();
        let elapsed = |since: chrono::DateTime<Utc>| (now - since).to_std().unwrap_or_default();
        let officer = officers::Entity::find_by_id(session.officer_id).one(db).await?.filter(|o| !o.disabled);
        let Some(officer) =
            officer.filter(|_| elapsed(session.last_seen_at) < IDLE && elapsed(session.created_at) < ABSOLUTE)
        else {
            self.close(secret).await?;
            return Ok(None);
        };
        if elapsed(session.last_seen_at) >= TOUCH_EVERY {
            let touch = console_sessions::Entity::update_many()
                .col_expr(console_sessions::Column::LastSeenAt, Expr::value(now))
                .filter(console_sessions::Column::Id.eq(id));
            self.apply(touch.build(self.storage.backend())).await?;
        }
        Ok(Some(OpenSession {
            principal: Principal {
                officer_id: officer.id,
                username: officer.username,
                roles: RoleSet::from_stored(&officer.roles),
            },
            csrf: session.csrf,
        }))
    }

    /// Ends the session whose cookie holds `secret` (logout).
    pub async fn close(&self, secret: &str) -> Result<(), ServiceError> {
        let delete =
            console_sessions::Entity::delete_many().filter(console_sessions::Column::Id.eq(token_hash(secret)));
        self.apply(delete.build(self.storage.backend())).await
    }
}
