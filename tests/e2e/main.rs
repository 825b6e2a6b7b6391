//! End-to-end tests of cadena nodes over real HTTP, against SQLite and PostgreSQL both.
//! One test binary (fast to link, one place to look), one module per area.

/// Generates `<name>::sqlite` and `<name>::postgres` tests from `async fn <name>(Backend)`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(cadena_tests::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(cadena_tests::Backend::Postgres).await
            }
        }
    )*};
}

mod anchoring;
mod console;
mod console_browser;
mod credentials;
mod events;
mod exposure;
mod following;
mod gateway;
mod graphql_over_http;
mod in_force;
mod jose_interop;
mod lifecycle;
mod metrics;
mod outbox;
mod partners;
mod postgres_tls;
mod refused_input;
mod roles;
mod schema_drift;
mod served;
mod unissuable;
mod vc_api;
mod wallets;
mod websocket;
mod writes;
