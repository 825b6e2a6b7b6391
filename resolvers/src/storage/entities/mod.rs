//! sea-orm entities, one module per table created by `cadena-migrations`.

pub mod certification_history;
pub mod certifications;
pub mod credentials;
pub mod officers;
pub mod presentation_challenges;
pub mod status_lists;
