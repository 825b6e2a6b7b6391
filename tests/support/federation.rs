//! Federation fixtures: an external risk-system subgraph that adds `riskScore` to `Operator`,
//! and a running `cadena gateway` over chosen subgraphs.

use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};
use cadena_gateway::federated_gateway::{Gateway, GatewayConfig, GatewayLimits, GatewayRedisConfig, SubgraphConfig};
use tokio::sync::oneshot;

/// `Operator` as the risk system sees it: the key, and its score.
#[derive(SimpleObject)]
#[graphql(name = "Operator")]
struct RiskOperator {
    country: String,
    tin: String,
    risk_score: i32,
}

struct RiskQuery;

#[Object(name = "Query")]
impl RiskQuery {
    /// The risk model in use (a subgraph's `Query` cannot be empty).
    async fn risk_model(&self) -> &'static str {
        "aduana-riesgo-v3"
    }

    #[graphql(entity)]
    async fn find_operator(&self, country: String, tin: String) -> RiskOperator {
        // Deterministic, so a test can recompute it.
        let risk_score = (tin.bytes().map(u32::from).sum::<u32>() % 100) as i32;
        RiskOperator { country, tin, risk_score }
    }
}

/// Serves the risk subgraph on a free port for the rest of the process; returns its GraphQL URL.
pub async fn spawn_risk_subgraph() -> String {
    let schema = Schema::build(RiskQuery, EmptyMutation, EmptySubscription).enable_federation().finish();
    let app = axum::Router::new().route(
        "/graphql",
        axum::routing::post(move |axum::Json(request): axum::Json<async_graphql::Request>| {
            let schema = schema.clone();
            async move { axum::Json(schema.execute(request).await) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}/graphql", listener.local_addr().expect("bound"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("the risk subgraph serves") });
    url
}

/// A gateway serving until this is dropped.
#[derive(Debug)]
pub struct RunningGateway {
    /// Its GraphQL endpoint.
    pub url: String,
    _stop: oneshot::Sender<()>,
}

/// Starts `cadena gateway` in-process on a free port over `subgraphs` (`(name, url)`).
pub async fn spawn_gateway(subgraphs: &[(&str, &str)], limits: GatewayLimits) -> RunningGateway {
    let subgraphs = subgraphs
        .iter()
        .map(|(name, url)| SubgraphConfig { name: (*name).to_owned(), url: (*url).to_owned(), sdl_file: None })
        .collect();
    spawn_gateway_over(subgraphs, limits, None).await
}

/// Starts `cadena gateway` in-process on a free port over `subgraphs` as configured, sharing
/// client rates with the other gateways of `redis`'s namespace if given.
pub async fn spawn_gateway_over(
    subgraphs: Vec<SubgraphConfig>,
    limits: GatewayLimits,
    redis: Option<GatewayRedisConfig>,
) -> RunningGateway {
    spawn_gateway_with(GatewayConfig {
        listen: "127.0.0.1:0".parse().expect("an address"),
        subgraphs,
        supergraph_file: None,
        trusted_documents: None,
        limits,
        redis,
    })
    .await
}

/// Starts `cadena gateway` in-process from `config`, on a free port whatever it says.
pub async fn spawn_gateway_with(mut config: GatewayConfig) -> RunningGateway {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    config.listen = listener.local_addr().expect("bound");
    let gateway = Gateway::start(&config).await.expect("the gateway composes and starts");
    let url = format!("http://{}/graphql", config.listen);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(gateway.serve(listener, 1, async {
        let _ = stopped.await;
    }));
    RunningGateway { url, _stop: stop }
}
