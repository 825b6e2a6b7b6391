//! Logs and traces of the `cadena` binary.
//!
//! **Logs** go to stderr, human-readable by default, JSON with `CADENA_LOG_FORMAT=json`,
//! filtered by `RUST_LOG` (default `info`). In JSON, a line logged while serving a request or
//! doing its deferred work lists its spans, the outermost with the request's `trace_id`.
//!
//! **Traces** are exported over OTLP (HTTP/protobuf) when the standard OpenTelemetry
//! variables name a collector: `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` is appended) or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` and
//! `OTEL_BSP_*` as the specification says. The service is `cadena-node` (with `cadena.country`
//! and `service.instance.id`, its public URL) or `cadena-gateway`. Every HTTP request's span
//! continues the W3C trace context (`traceparent`) it arrived with; the gateway's subgraph
//! requests, a node's partner messages and webhooks send theirs, and the outbox and anchor
//! batches carry it to the work done later ([`cadena_resolvers::trace_context`]).

use axum::extract::MatchedPath;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Who is tracing: the resource its spans are exported with.
#[derive(Debug, Clone)]
pub enum Service {
    /// A customs node.
    Node {
        /// Its country (`cadena.country`).
        country: String,
        /// Its public URL (`service.instance.id`).
        public_url: String,
    },
    /// The federation gateway.
    Gateway,
    /// The dev network (its nodes and gateway in one process) and the admin commands.
    Tool,
}

/// The process's tracing, flushed when dropped (at the end of `main`).
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            // Spans still queued leave now; a collector that is gone costs the export timeout.
            let _ = provider.shutdown();
        }
    }
}

fn otlp_configured() -> bool {
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()))
}

fn tracer_provider(service: &Service) -> anyhow::Result<SdkTracerProvider> {
    use opentelemetry::KeyValue;
    use opentelemetry_otlp::{Protocol, WithExportConfig as _};
    use opentelemetry_sdk::runtime::TokioCurrentThread;
    use opentelemetry_sdk::trace::BatchConfigBuilder;
    use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;

    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
        .map_err(|e| anyhow::anyhow!("OTLP exporter: {e}"))?;
    // The exporter's HTTP client is async: its batches leave from a runtime of their own, so
    // exporting never waits on (or for) the node's workers.
    let processor = BatchSpanProcessor::builder(exporter, TokioCurrentThread)
        .with_batch_config(BatchConfigBuilder::default().build())
        .build();
    let (name, attributes) = match service {
        Service::Node { country, public_url } => (
            "cadena-node",
            vec![
                KeyValue::new("cadena.country", country.clone()),
                KeyValue::new("service.instance.id", public_url.clone()),
            ],
        ),
        Service::Gateway => ("cadena-gateway", Vec::new()),
        Service::Tool => ("cadena", Vec::new()),
    };
    let mut resource = opentelemetry_sdk::Resource::builder().with_attributes(attributes);
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name(name);
    }
    Ok(SdkTracerProvider::builder().with_span_processor(processor).with_resource(resource.build()).build())
}

/// Installs the global subscriber once; later calls do nothing (tests call it repeatedly).
/// Exports traces when OTLP is configured (see the module docs); a collector that cannot be
/// set up is logged, and the process runs untraced.
pub fn init(service: Service) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let json = std::env::var("CADENA_LOG_FORMAT").is_ok_and(|v| v == "json");
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if json { fmt.json().with_current_span(false).boxed() } else { fmt.boxed() };
    let (provider, failure) = if otlp_configured() {
        match tracer_provider(&service) {
            Ok(provider) => (Some(provider), None),
            Err(error) => (None, Some(error)),
        }
    } else {
        (None, None)
    };
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer("cadena")).with_tracked_inactivity(false)
    });
    let installed = tracing_subscriber::registry().with(filter).with(fmt).with(traces).try_init().is_ok();
    if let Some(error) = failure {
        tracing::warn!(%error, "traces are not exported");
    }
    if !installed {
        return Telemetry::default();
    }
    if provider.is_some() {
        opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    }
    Telemetry { provider }
}

/// The span of one HTTP request served (node or gateway): named by its route, continuing the
/// trace its `traceparent` header carries.
pub fn request_span<B>(request: &http::Request<B>) -> tracing::Span {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |path| path.as_str());
    let span = tracing::info_span!(
        "request",
        otel.name = format!("{} {route}", request.method()),
        otel.kind = "server",
        http.request.method = %request.method(),
        http.route = route,
        url.path = request.uri().path(),
        http.response.status_code = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    cadena_resolvers::trace_context::continue_request(&span, request.headers());
    cadena_resolvers::trace_context::record_trace_id(&span);
    span
}

/// Records the response's status on the request's span.
pub fn record_status<B>(response: &http::Response<B>, _latency: std::time::Duration, span: &tracing::Span) {
    span.record("http.response.status_code", response.status().as_u16());
}

/// The trace layer of a router, node's or gateway's: each request in its [`request_span`],
/// with its status.
pub type TraceLayer = tower_http::trace::TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    fn(&http::Request<axum::body::Body>) -> tracing::Span,
    tower_http::trace::DefaultOnRequest,
    fn(&http::Response<axum::body::Body>, std::time::Duration, &tracing::Span),
>;

/// See [`TraceLayer`].
pub fn trace_layer() -> TraceLayer {
    tower_http::trace::TraceLayer::new_for_http()
        .make_span_with(request_span as fn(&http::Request<axum::body::Body>) -> tracing::Span)
        .on_response(record_status as fn(&http::Response<axum::body::Body>, std::time::Duration, &tracing::Span))
}
