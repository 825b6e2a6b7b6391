//! How the node reaches PostgreSQL: without TLS on this host's loopback unless the URL asks
//! for TLS, and always as the URL asks.

use cadena_resolvers::storage::Storage;
use cadena_tests::{Backend, EmptyDatabase};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// Whether the storage's connection to the server is encrypted, as the server sees it.
async fn encrypted(storage: &Storage) -> bool {
    let row = storage
        .db()
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ))
        .await
        .unwrap()
        .expect("the server reports every connection in pg_stat_ssl");
    row.try_get::<bool>("", "ssl").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_is_reached_in_the_clear_unless_the_url_asks_for_tls() {
    let database = EmptyDatabase::create(Backend::Postgres).await;
    let host = database.url.split_once("://").unwrap().1.split(['/', '?']).next().unwrap();
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    let host = host.rsplit_once(':').map_or(host, |(host, _)| host);
    assert!(
        host == "localhost"
            || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|address| address.is_loopback()),
        "this test needs the PostgreSQL of this host, not {host}"
    );

    let plain = Storage::connect(&database.url).await.unwrap();
    assert!(!encrypted(&plain).await, "no TLS on loopback when the URL does not ask for it");
    let server_offers_tls = plain
        .db()
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SHOW ssl"))
        .await
        .unwrap()
        .unwrap()
        .try_get::<String>("", "ssl")
        .unwrap()
        == "on";
    plain.db().close_by_ref().await.unwrap();

    let separator = if database.url.contains('?') { '&' } else { '?' };
    if server_offers_tls {
        let asked = Storage::connect(&format!("{}{separator}sslmode=require", database.url)).await.unwrap();
        assert!(encrypted(&asked).await, "sslmode=require is honoured on loopback too");
        asked.db().close_by_ref().await.unwrap();
    }
    let refused = Storage::connect(&format!("{}{separator}sslmode=disable", database.url)).await.unwrap();
    assert!(!encrypted(&refused).await);
    refused.db().close_by_ref().await.unwrap();
}
