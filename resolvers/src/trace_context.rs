//! W3C trace context where a trace crosses something other than a function call.
//!
//! A certification's trace runs from the officer's request through signing and the commit,
//! then on in work done later, perhaps by another replica: the events and outbox rows the commit
//! wrote, the anchor batch formed from them and its chain transaction, the partner message and
//! the partner's verification of it. Each of those boundaries carries the `traceparent` of the
//! span that crossed it: stored with the event, the outbox row and the anchor batch, sent as an
//! HTTP header to partners and webhooks. The side that picks the work up continues that trace.
//!
//! Everything here goes through the process's text-map propagator (set by the binary when it
//! exports traces): without one, nothing is captured and nothing is continued, at the cost of
//! one empty map.

use std::collections::HashMap;

use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

const TRACEPARENT: &str = "traceparent";

/// The current span's `traceparent`, to store with work it queues; None when no trace is
/// recorded.
pub fn traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|propagator| propagator.inject_context(&context, &mut carrier));
    carrier.remove(TRACEPARENT)
}

/// The current span's trace context as HTTP headers, for a request it makes (empty when no
/// trace is recorded).
pub fn headers() -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    let context = tracing::Span::current().context();
    if context.span().span_context().is_valid() {
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&context, &mut HeaderInjector(&mut headers));
        });
    }
    headers
}

fn context_of(traceparent: &str) -> opentelemetry::Context {
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&carrier))
}

/// Makes `span` continue the trace of a stored `traceparent` (nothing when it is malformed).
pub fn continue_stored(span: &tracing::Span, traceparent: &str) {
    let context = context_of(traceparent);
    if context.span().span_context().is_valid() {
        let _ = span.set_parent(context);
    }
}

/// Links `span` to the trace of a stored `traceparent`: one batch done for several traces
/// belongs to the first and points at the others.
pub fn link_stored(span: &tracing::Span, traceparent: &str) {
    let context = context_of(traceparent);
    let linked = context.span().span_context().clone();
    if linked.is_valid() {
        span.add_link(linked);
    }
}

/// Makes `span` continue the trace a request's headers carry (`traceparent`, `tracestate`).
pub fn continue_request(span: &tracing::Span, headers: &reqwest::header::HeaderMap) {
    if !headers.contains_key(TRACEPARENT) {
        return;
    }
    let context =
        opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)));
    if context.span().span_context().is_valid() {
        let _ = span.set_parent(context);
    }
}

/// The trace id of `span` (32 hex digits); None when no trace is recorded.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| span_context.trace_id().to_string())
}

/// Records `span`'s trace id in its `trace_id` field (declared empty), so that logs written
/// within it name their trace. Call it once the span's parent is set.
pub fn record_trace_id(span: &tracing::Span) {
    if let Some(id) = trace_id(span) {
        span.record("trace_id", id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_propagator_nothing_is_captured_or_continued() {
        let span = tracing::info_span!("work");
        let _entered = span.enter();
        assert_eq!(traceparent(), None);
        assert!(headers().is_empty());
        continue_stored(&span, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert_eq!(trace_id(&span), None);
    }
}
