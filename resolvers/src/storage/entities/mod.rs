//! sea-orm entities, one module per table created by `cadena-migrations`.

pub mod certification_history;
pub mod certifications;
pub mod officers;
