//! Traces and logs: every span carries W3C trace context, which crosses NATS
//! (a `traceparent` message header) and gRPC (`traceparent` metadata), so the
//! publish at a node, the bus hop, the ledger's append and a later read that
//! returned the event are one trace. Spans are exported over OTLP/gRPC when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and nowhere otherwise. Logs go to
//! stderr as text or JSON; a JSON line names its trace in `trace_id`.
//!
//! Spans carry ids, types, agencies and outcomes only: never a person's name,
//! date of birth, notes or any other personal field.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, Layer};

/// The environment variable that turns OTLP export on (standard OpenTelemetry
/// configuration; `OTEL_SERVICE_NAME` and `OTEL_BSP_*` are honoured too).
pub const ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// The W3C header (NATS) and metadata key (gRPC) that carries trace context.
pub const TRACEPARENT: &str = "traceparent";

/// Why tracing could not start.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The OTLP exporter could not be built from the environment.
    #[error("OTLP export to {ENDPOINT_VAR} cannot start: {0}")]
    Exporter(String),
}

/// Tracing for this process; dropping it sends the spans still buffered.
pub struct Tracing {
    provider: SdkTracerProvider,
    exporting: bool,
}

impl Tracing {
    /// Whether spans are being exported over OTLP.
    pub fn exporting(&self) -> bool {
        self.exporting
    }
}

impl Drop for Tracing {
    fn drop(&mut self) {
        if !self.exporting {
            return;
        }
        // The batch exporter runs on the Tokio runtime: wait for it without
        // holding up the runtime's other work.
        let flavor = tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor());
        let result = match flavor {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(|| self.provider.shutdown()),
            Ok(_) => Ok(()),
            Err(_) => self.provider.shutdown(),
        };
        if let Err(e) = result {
            eprintln!("warning: spans still buffered could not be exported: {e}");
        }
    }
}

/// What is logged when `RUST_LOG` is unset: Concord at `info`; the fjall storage
/// engine only when something is wrong (it reports every store it opens at `info`).
const DEFAULT_FILTER: &str = "info,fjall=warn,lsm_tree=warn";

/// Starts logging to stderr (text, or JSON lines with `json`), filtered by
/// `RUST_LOG` (default [`DEFAULT_FILTER`]), and tracing: spans get W3C trace ids always,
/// and are exported over OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
/// `service` names this process in exported traces unless
/// `OTEL_SERVICE_NAME` does. Call it once, inside the Tokio runtime.
pub fn init(service: &str, json: bool) -> Result<Tracing, TraceError> {
    let mut builder = SdkTracerProvider::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        builder = builder
            .with_resource(opentelemetry_sdk::Resource::builder().with_service_name(service.to_string()).build());
    }
    let exporting = std::env::var_os(ENDPOINT_VAR).is_some_and(|v| !v.is_empty());
    if exporting {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .map_err(|e| TraceError::Exporter(e.to_string()))?;
        let processor = opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build();
        builder = builder.with_span_processor(processor);
    }
    let provider = builder.build();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("concord")).with_filter(LevelFilter::INFO);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if json { fmt.json().with_span_list(true).boxed() } else { fmt.boxed() };
    let _ = tracing_subscriber::registry().with(otel).with(fmt.with_filter(filter)).try_init();
    Ok(Tracing { provider, exporting })
}

/// Makes `span` a child of the remote span that `traceparent` (a W3C header
/// value) names; without a valid one, `span` stays where it is (under the
/// current span, or the root of a new trace). Then records the trace's id in
/// the span's `trace_id` field (declare it `tracing::field::Empty`) so log
/// lines within it say which trace they belong to.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(value) = traceparent {
        let carrier = HashMap::from([(TRACEPARENT.to_string(), value.to_string())]);
        let parent = TraceContextPropagator::new().extract(&carrier);
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
    }
    if let Some(id) = trace_id(span) {
        span.record("trace_id", id.as_str());
    }
}

/// The trace id of `span` (32 hex digits), if tracing is on for it.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| span_context.trace_id().to_string())
}

/// The trace id of the span the caller is in, if any.
pub fn current_trace_id() -> Option<String> {
    trace_id(&tracing::Span::current())
}

/// The W3C `traceparent` value that makes a receiver's work a child of
/// `span`, to send with a message or call.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// The span of one inbound gRPC call (for tonic's `Server::trace_fn`): named
/// by its method path, continuing the caller's trace if its metadata carries
/// `traceparent`. Every span of the call's work is a child of it; its
/// `outcome` (`ok`, or the status code, e.g. `PermissionDenied`) is recorded
/// where the call is audited.
pub fn grpc_server_span(request: &http::Request<()>) -> tracing::Span {
    let method = request.uri().path();
    let span = tracing::info_span!(
        "grpc",
        "otel.name" = method,
        "otel.kind" = "server",
        "rpc.system" = "grpc",
        "rpc.method" = method,
        outcome = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    let traceparent = request.headers().get(TRACEPARENT).and_then(|v| v.to_str().ok());
    continue_trace(&span, traceparent);
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscriber() -> impl tracing::Subscriber + Send + Sync {
        let provider = SdkTracerProvider::builder().build();
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
    }

    #[test]
    fn a_span_continues_the_trace_its_traceparent_names() {
        tracing::subscriber::with_default(subscriber(), || {
            let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
            let span = tracing::info_span!("step", trace_id = tracing::field::Empty);
            continue_trace(&span, Some(parent));
            assert_eq!(trace_id(&span).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
            let child = traceparent(&span).expect("a traceparent for the span");
            assert!(child.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{child}");
            assert!(!child.contains("00f067aa0ba902b7"), "the child names its own span, not the parent: {child}");
        });
    }

    #[test]
    fn a_missing_or_malformed_traceparent_starts_a_new_trace() {
        tracing::subscriber::with_default(subscriber(), || {
            for given in
                [None, Some("not a traceparent"), Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01")]
            {
                let span = tracing::info_span!("step", trace_id = tracing::field::Empty);
                continue_trace(&span, given);
                let id = trace_id(&span).expect("a new trace");
                assert_eq!(id.len(), 32);
                assert_ne!(id, "00000000000000000000000000000000");
            }
        });
    }

    #[test]
    fn grpc_calls_continue_the_callers_trace() {
        tracing::subscriber::with_default(subscriber(), || {
            let request = http::Request::builder()
                .uri("/concord.v1.QueryService/GetEvent")
                .header(TRACEPARENT, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
                .body(())
                .expect("a request");
            let span = grpc_server_span(&request);
            let _in = span.enter();
            assert_eq!(current_trace_id().as_deref(), Some("0af7651916cd43dd8448eb211c80319c"));
        });
    }
}
