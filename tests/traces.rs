//! One trace from node to reader. An OTLP receiver built from the
//! OpenTelemetry protobuf definitions (opentelemetry-proto's generated gRPC
//! service, none of Concord's exporter code) collects what a node, the ledger
//! and a query replica export, each its own `concord` process over a real
//! nats-server. A publish and a later read sent in one trace come back as one
//! trace: the node's publish, the NATS hop, the ledger's append and the read
//! that released the event (its audit record names the event id), parented
//! across process boundaries; a refused read's span says why. No span
//! carries personal data, and the ledger's JSON log names a quarantined
//! message's reason and trace.

use crate::common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::nats::{NatsServer, free_port};
use common::process::Proc;
use common::{arrest, authorized, connect};
use concord_core::pb;
use concord_core::pb::publish_service_client::PublishServiceClient;
use concord_core::pb::query_service_client::QueryServiceClient;
use concord_identity::{Purpose, Role};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;

/// A span as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    attributes: HashMap<String, String>,
}

/// The OTLP trace receiver: keeps every span exported to it.
#[derive(Default, Clone)]
struct Receiver(Arc<Mutex<Vec<Received>>>);

fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut kept = self.0.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .map(|a| text(a.value.as_ref()))
                .unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                kept.push(Received {
                    service: service.clone(),
                    trace_id: hex::encode(&span.trace_id),
                    span_id: hex::encode(&span.span_id),
                    parent: hex::encode(&span.parent_span_id),
                    name: span.name.clone(),
                    attributes: span.attributes.iter().map(|a| (a.key.clone(), text(a.value.as_ref()))).collect(),
                });
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

impl Receiver {
    fn spans(&self) -> Vec<Received> {
        self.0.lock().unwrap().clone()
    }
}

/// The one span of `trace` from `service` named `name` (and matching `with`).
fn find<'a>(
    spans: &'a [Received],
    trace: &str,
    service: &str,
    name: &str,
    with: impl Fn(&Received) -> bool,
) -> Option<&'a Received> {
    spans.iter().find(|s| s.trace_id == trace && s.service == service && s.name == name && with(s))
}

fn traceparent(trace: &str, parent: &str) -> tonic::metadata::MetadataValue<tonic::metadata::Ascii> {
    format!("00-{trace}-{parent}-01").parse().unwrap()
}

#[test]
fn one_trace_shows_publish_nats_hop_ledger_append_and_the_read() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let receiver = Receiver::default();
    let otlp = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let service = TraceServiceServer::new(receiver.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        port
    });

    let nats = NatsServer::start_deploy();
    let work = tempfile::tempdir().unwrap();
    let keys_home = work.path().join("partnership");
    let made = Command::new(env!("CARGO_BIN_EXE_concord")).arg("keys").arg("--data").arg(&keys_home).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let keys = keys_home.join("keys").display().to_string();
    let dir = |name: &str| work.path().join(name).display().to_string();
    let s = |x: &str| x.to_string();
    let env =
        [("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://127.0.0.1:{otlp}")), ("OTEL_BSP_SCHEDULE_DELAY", s("100"))];
    let police = "police.met.nw";
    let (node_port, serve_port) = (free_port(), free_port());
    let ledger = Proc::spawn_with_env(
        "ledger",
        work.path(),
        &[
            s("--log-json"),
            s("ledger"),
            s("--data"),
            dir("ledger"),
            s("--keys"),
            keys.clone(),
            s("--nats"),
            nats.url_as("ledger"),
        ],
        "info",
        &env,
    );
    let serve = Proc::spawn_with_env(
        "serve",
        work.path(),
        &[
            s("serve"),
            s("--data"),
            dir("serve"),
            s("--keys"),
            keys.clone(),
            s("--nats"),
            nats.url_as("serve-1"),
            s("--grpc"),
            format!("127.0.0.1:{serve_port}"),
            s("--replica"),
            s("serve-1"),
        ],
        "warn",
        &env,
    );
    let node = Proc::spawn_with_env(
        police,
        work.path(),
        &[
            s("node"),
            s("--data"),
            dir(police),
            s("--keys"),
            keys.clone(),
            s("--agency"),
            s(police),
            s("--nats"),
            nats.url_as(police),
            s("--grpc"),
            format!("127.0.0.1:{node_port}"),
        ],
        "warn",
        &env,
    );

    // The caller's trace: a publish, then a read, as one piece of work.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let (publish_parent, read_parent, refused_parent) = ("00f067aa0ba902b7", "53995c3f42cd8ad8", "1a2b3c4d5e6f7081");
    let notes = "seen near the canal with an older male";
    let token = concord::layout::Layout::new(&keys_home)
        .issuer()
        .unwrap()
        .mint("t", &common::agency(police), Role::Practitioner, Purpose::CrimePrevention, Duration::from_secs(600))
        .unwrap();
    let event_id = rt.block_on(async {
        let mut publish = PublishServiceClient::new(connect(node_port).await);
        let request = pb::PublishRequest { event: Some(arrest("P-trace001", notes)), wait_for_ledger: true };
        let mut request = authorized(request, &token);
        request.metadata_mut().insert("traceparent", traceparent(trace, publish_parent));
        let published = publish.publish(request).await.unwrap().into_inner();
        let mut query = QueryServiceClient::new(connect(serve_port).await);
        let started = Instant::now();
        loop {
            let mut request = authorized(pb::GetEventRequest { event_id: published.event_id.clone() }, &token);
            request.metadata_mut().insert("traceparent", traceparent(trace, read_parent));
            match query.get_event(request).await {
                Ok(view) => {
                    assert!(view.into_inner().event.is_some());
                    break;
                }
                Err(status) if status.code() == tonic::Code::NotFound => {
                    assert!(started.elapsed() < Duration::from_secs(30), "the replica never had the event");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(status) => panic!("{status:?}\n{}", serve.output()),
            }
        }
        // A read with a forged token, in the same trace: refused, and the
        // trace says why.
        let mut request = authorized(pb::GetEventRequest { event_id: published.event_id.clone() }, "forged.token.x");
        request.metadata_mut().insert("traceparent", traceparent(trace, refused_parent));
        let refused = query.get_event(request).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        published.event_id
    });

    // Garbage on the police subject, in a trace of its own.
    let garbage_trace = "0af7651916cd43dd8448eb211c80319c";
    rt.block_on(async {
        let client = concord_bus::nats::connect_client(&nats.url_as(police), "garbage").await.unwrap();
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("traceparent", format!("00-{garbage_trace}-b7ad6b7169203331-01").as_str());
        headers.insert("Nats-Msg-Id", "garbage-traced");
        let subject = concord_bus::event_subject(&common::agency(police), concord_core::EventType::Arrest);
        let jetstream = async_nats::jetstream::new(client);
        let ack = jetstream.publish_with_headers(subject, headers, b"\xff not an event".to_vec().into()).await.unwrap();
        ack.await.unwrap();
    });

    // Every part exports within a second or so of the work ending.
    let started = Instant::now();
    let expected = |spans: &[Received]| {
        let has_id = |s: &Received| s.attributes.get("event_id") == Some(&event_id);
        let node_call = find(spans, trace, "concord-node", "/concord.v1.PublishService/Publish", |_| true)?;
        let publish = find(spans, trace, "concord-node", "node.publish", has_id)?;
        let hop = find(spans, trace, "concord-node", "bus.publish", has_id)?;
        let append = find(spans, trace, "concord-ledger", "ledger.append", has_id)?;
        let read = find(spans, trace, "concord-serve", "/concord.v1.QueryService/GetEvent", |s| {
            s.parent == read_parent && s.attributes.get("outcome").map(String::as_str) == Some("ok")
        })?;
        let refused = find(spans, trace, "concord-serve", "/concord.v1.QueryService/GetEvent", |s| {
            s.parent == refused_parent && s.attributes.get("outcome").map(String::as_str) == Some("Unauthenticated")
        })?;
        let audit = find(spans, trace, "concord-serve", "audit.record", |s| {
            s.parent == read.span_id && s.attributes.get("event_ids").is_some_and(|ids| ids.contains(&event_id))
        })?;
        let quarantined = find(spans, garbage_trace, "concord-ledger", "ledger.append", |s| {
            s.attributes.get("outcome").map(String::as_str) == Some("quarantined")
        })?;
        Some([node_call, publish, hop, append, read, audit, refused, quarantined].map(Clone::clone))
    };
    let [node_call, publish, hop, append, _read, _audit, _refused, _quarantined] = loop {
        if let Some(found) = expected(&receiver.spans()) {
            break found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the trace is incomplete: {:#?}\n--- node ---\n{}\n--- ledger ---\n{}",
            receiver.spans(),
            node.output(),
            ledger.output()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // Parent to child, across the gRPC call, the node's outbox and NATS.
    assert_eq!(node_call.parent, publish_parent, "the node continues the caller's trace");
    assert_eq!(publish.parent, node_call.span_id);
    assert_eq!(hop.parent, publish.span_id);
    assert_eq!(append.parent, hop.span_id, "the ledger's append is the NATS hop's child");
    assert_eq!(append.attributes.get("outcome").map(String::as_str), Some("appended"));

    // Ids, types and outcomes only: no personal field anywhere.
    for span in receiver.spans() {
        for value in span.attributes.values() {
            assert!(!value.contains("P-trace001") && !value.contains("canal"), "personal data in {span:?}");
        }
    }

    // The ledger's JSON log: one line for the quarantined message, with its
    // reason and the trace it came in.
    let log = ledger.output();
    let line = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "quarantined a message")
        .unwrap_or_else(|| panic!("no JSON line for the quarantined message:\n{log}"));
    assert!(!line["fields"]["reason"].as_str().unwrap_or_default().is_empty(), "{line}");
    assert!(line.to_string().contains(&format!("\"trace_id\":\"{garbage_trace}\"")), "{line}");
}
