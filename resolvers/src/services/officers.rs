//! Officer accounts: login, authentication of session tokens, and administration.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use crate::auth::roles::authorize;
use crate::auth::{Operation, Principal, Role, RoleSet, TokenKeys, passwords};
use crate::errors::ServiceError;
use crate::storage::entities::officers;
use crate::storage::{Storage, is_unique_violation};

/// What a successful login returns.
#[derive(Clone, Debug)]
pub struct LoginOutcome {
    /// The bearer token.
    pub token: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// The officer who logged in.
    pub officer: officers::Model,
}

/// Officer accounts over storage.
#[derive(Clone, Debug)]
pub struct OfficerService {
    storage: Storage,
    keys: TokenKeys,
}

fn parse_username(field: &str, value: &str) -> Result<String, ServiceError> {
    let value = value.trim().to_lowercase();
    let ok_len = (3..=64).contains(&value.len());
    let ok_chars = value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !ok_len || !ok_chars {
        return Err(ServiceError::field(field, "must be 3 to 64 characters of a-z, 0-9, '.', '_' or '-'"));
    }
    Ok(value)
}

fn parse_roles(field: &str, roles: &[Role]) -> Result<RoleSet, ServiceError> {
    if roles.is_empty() {
        return Err(ServiceError::field(field, "must name at least one role"));
    }
    Ok(RoleSet::new(roles.iter().copied()))
}

/// Hashing runs on the blocking pool: Argon2 takes tens of milliseconds of CPU by design.
async fn hash_password(password: String) -> Result<String, ServiceError> {
    tokio::task::spawn_blocking(move || passwords::hash(&password)).await.map_err(ServiceError::internal)?
}

impl OfficerService {
    /// Officers in `storage`, sessions signed with `keys`.
    pub fn new(storage: Storage, keys: TokenKeys) -> OfficerService {
        OfficerService { storage, keys }
    }

    /// Checks a username and password and opens a session. A failed attempt is logged with a
    /// pseudonym of the name tried ([`TokenKeys::pseudonym`]), never the name itself.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, username: &str, password: &str) -> Result<LoginOutcome, ServiceError> {
        let username = username.trim().to_lowercase();
        let officer =
            officers::Entity::find().filter(officers::Column::Username.eq(&username)).one(self.storage.db()).await?;
        let stored = officer
            .as_ref()
            .filter(|o| !o.disabled)
            .map(|o| o.password_hash.clone())
            .unwrap_or_else(|| passwords::decoy_hash().to_owned());
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || passwords::verify(&password, &stored))
            .await
            .map_err(ServiceError::internal)?;
        match officer {
            Some(officer) if matches && !officer.disabled => {
                let (token, expires_at) = self.keys.issue(officer.id, &officer.username)?;
                tracing::info!(officer = %officer.username, "login");
                Ok(LoginOutcome { token, expires_at, officer })
            }
            _ => {
                tracing::warn!(username = %self.keys.pseudonym(&username), "failed login");
                Err(ServiceError::BadCredentials)
            }
        }
    }

    /// Turns a bearer token into a principal with the officer's current roles.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, ServiceError> {
        let claims = self.keys.verify(token)?;
        let officer = officers::Entity::find_by_id(claims.sub)
            .one(self.storage.db())
            .await?
            .filter(|o| !o.disabled)
            .ok_or(ServiceError::Unauthenticated("this officer account is disabled or gone"))?;
        Ok(Principal {
            officer_id: officer.id,
            username: officer.username,
            roles: RoleSet::from_stored(&officer.roles),
        })
    }

    /// Every officer (ADMIN).
    pub async fn list(&self, principal: Option<&Principal>) -> Result<Vec<officers::Model>, ServiceError> {
        authorize(principal, Operation::ManageOfficers)?;
        Ok(officers::Entity::find().order_by_asc(officers::Column::Username).all(self.storage.db()).await?)
    }

    /// Creates an officer (ADMIN).
    #[tracing::instrument(skip(self, principal, password))]
    pub async fn create(
        &self,
        principal: Option<&Principal>,
        username: &str,
        password: &str,
        roles: &[Role],
    ) -> Result<officers::Model, ServiceError> {
        authorize(principal, Operation::ManageOfficers)?;
        let username = parse_username("input.username", username)?;
        passwords::check_policy("input.password", password)?;
        let roles = parse_roles("input.roles", roles)?;
        let hash = hash_password(password.to_owned()).await?;
        let _gate = self.storage.write_gate().await;
        if self.find(&username).await?.is_some() {
            return Err(ServiceError::Conflict(format!("an officer named {username} already exists")));
        }
        self.insert(username, hash, &roles).await
    }

    /// Replaces an officer's roles (ADMIN). An admin cannot take ADMIN away from themselves, so
    /// a node is never left without anyone able to manage accounts by accident.
    pub async fn set_roles(
        &self,
        principal: Option<&Principal>,
        username: &str,
        roles: &[Role],
    ) -> Result<officers::Model, ServiceError> {
        let (admin, _) = authorize(principal, Operation::ManageOfficers)?;
        let roles = parse_roles("roles", roles)?;
        if admin.username == username && !roles.contains(Role::Admin) {
            return Err(ServiceError::field("roles", "you cannot remove ADMIN from your own account"));
        }
        self.update(username, |o| o.roles = Set(roles.to_stored())).await
    }

    /// Disables or re-enables an officer (ADMIN); a disabled officer's sessions stop at once.
    pub async fn set_disabled(
        &self,
        principal: Option<&Principal>,
        username: &str,
        disabled: bool,
    ) -> Result<officers::Model, ServiceError> {
        let (admin, _) = authorize(principal, Operation::ManageOfficers)?;
        if admin.username == username && disabled {
            return Err(ServiceError::field("username", "you cannot disable your own account"));
        }
        self.update(username, |o| o.disabled = Set(disabled)).await
    }

    /// Sets a new password (ADMIN).
    pub async fn reset_password(
        &self,
        principal: Option<&Principal>,
        username: &str,
        password: &str,
    ) -> Result<officers::Model, ServiceError> {
        authorize(principal, Operation::ManageOfficers)?;
        passwords::check_policy("password", password)?;
        let hash = hash_password(password.to_owned()).await?;
        self.update(username, |o| o.password_hash = Set(hash)).await
    }

    /// Creates or updates an officer without a principal: for `cadena dev` seeding and the
    /// first admin of a new node, never reachable from GraphQL.
    pub async fn ensure(
        &self,
        username: &str,
        password: &str,
        roles: &[Role],
    ) -> Result<officers::Model, ServiceError> {
        let username = parse_username("username", username)?;
        passwords::check_policy("password", password)?;
        let roles = parse_roles("roles", roles)?;
        if let Some(existing) = self.find(&username).await? {
            if passwords::verify(password, &existing.password_hash) && existing.roles == roles.to_stored() {
                return Ok(existing);
            }
            let hash = hash_password(password.to_owned()).await?;
            let stored = roles.to_stored();
            return self
                .update(&username, |o| {
                    o.password_hash = Set(hash);
                    o.roles = Set(stored);
                    o.disabled = Set(false);
                })
                .await;
        }
        let hash = hash_password(password.to_owned()).await?;
        let _gate = self.storage.write_gate().await;
        self.insert(username, hash, &roles).await
    }

    /// Inserts a new officer; the caller holds the write gate.
    async fn insert(&self, username: String, hash: String, roles: &RoleSet) -> Result<officers::Model, ServiceError> {
        let now = Utc::now();
        let officer = officers::ActiveModel {
            id: Set(Uuid::now_v7()),
            username: Set(username),
            password_hash: Set(hash),
            roles: Set(roles.to_stored()),
            disabled: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
        };
        officer.insert(self.storage.db()).await.map_err(|e| {
            if is_unique_violation(&e) {
                ServiceError::Conflict("an officer with that username already exists".into())
            } else {
                e.into()
            }
        })
    }

    async fn find(&self, username: &str) -> Result<Option<officers::Model>, ServiceError> {
        Ok(officers::Entity::find().filter(officers::Column::Username.eq(username)).one(self.storage.db()).await?)
    }

    async fn update(
        &self,
        username: &str,
        change: impl FnOnce(&mut officers::ActiveModel),
    ) -> Result<officers::Model, ServiceError> {
        let _gate = self.storage.write_gate().await;
        let officer =
            self.find(username).await?.ok_or_else(|| ServiceError::NotFound(format!("officer {username}")))?;
        let mut active: officers::ActiveModel = officer.into();
        change(&mut active);
        active.updated_at = Set(Utc::now());
        Ok(active.update(self.storage.db()).await?)
    }
}

impl OfficerService {
    /// The account of the authenticated officer (any role).
    pub async fn current(&self, principal: &Principal) -> Result<officers::Model, ServiceError> {
        officers::Entity::find_by_id(principal.officer_id)
            .one(self.storage.db())
            .await?
            .ok_or_else(|| ServiceError::NotFound("officer".into()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    /// Everything logged, as text.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_failed_login_logs_a_pseudonym_not_the_username() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("node.sqlite").display());
        let storage = Storage::connect_and_migrate(&url).await.unwrap();
        let keys = TokenKeys::new(&[3; 32], "MX", Duration::from_secs(60));
        let officers = OfficerService::new(storage, keys.clone());
        officers.ensure("ana.lopez", "the right password", &[Role::Auditor]).await.unwrap();
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        let _default = tracing::subscriber::set_default(subscriber);
        // A password typed into the username field is the classic leak.
        for (username, password) in [("ana.lopez", "wrong"), ("the right password", "ana.lopez")] {
            assert!(matches!(officers.login(username, password).await, Err(ServiceError::BadCredentials)));
        }
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(log.matches("failed login").count(), 2, "{log}");
        assert!(!log.contains("ana.lopez") && !log.contains("right password"), "{log}");
        assert!(log.contains(&keys.pseudonym("ana.lopez")), "the same account is recognisable: {log}");
    }
}
