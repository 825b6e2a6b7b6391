//! Who may do what: officers' roles, password hashing, signed session tokens.

pub mod passwords;
pub mod roles;
pub mod tokens;

pub use roles::{Operation, Principal, Role, RoleSet};
pub use tokens::{SessionClaims, TokenKeys};
