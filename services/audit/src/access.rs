//! Access records: what each RPC returned to (or took from) whom, made
//! durable before the answer is released (fail closed).

use concord_core::{EventType, metric, pb};
use concord_identity::Principal;
use serde::Serialize;
use tonic::{Request, Status};

/// What is known about a call before it is answered.
#[derive(Debug, Clone)]
pub struct Access {
    rpc: &'static str,
    parameters: String,
    peer: String,
    trace_id: String,
    about: Vec<pb::SubjectRef>,
    /// When the call arrived, and whether it has been counted and timed.
    started: std::time::Instant,
    measured: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// What the agreement withheld from an answer, and which agreement decided.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Events withheld.
    pub withheld: usize,
    /// The agreement's hash.
    pub policy_hash: String,
}

impl Tally {
    /// Adds a decided batch: `withheld` events, decided by `policy_hash`.
    pub fn add(&mut self, withheld: usize, policy_hash: &str) {
        self.withheld += withheld;
        policy_hash.clone_into(&mut self.policy_hash);
    }
}

impl Access {
    /// The call `rpc` (the full method path) with `request`'s parameters.
    pub fn of<T: Serialize>(rpc: &'static str, request: &Request<T>) -> Access {
        Self::with_parameters(rpc, request, serde_json::to_string(request.get_ref()).unwrap_or_default())
    }

    /// The call `rpc` with the given parameters (JSON), for requests whose
    /// content must not be recorded (a publish carries personal data).
    pub fn with_parameters<T>(rpc: &'static str, request: &Request<T>, parameters: String) -> Access {
        // The call's trace (which continues the caller's, if it sent one).
        let trace_id = concord_telemetry::trace::current_trace_id()
            .or_else(|| {
                let traceparent = request.metadata().get(concord_telemetry::trace::TRACEPARENT)?;
                Some(traceparent.to_str().ok()?.split('-').nth(1)?.to_string())
            })
            .unwrap_or_default();
        Access {
            rpc,
            parameters,
            peer: request.remote_addr().map(|a| a.to_string()).unwrap_or_default(),
            trace_id,
            about: Vec::new(),
            started: std::time::Instant::now(),
            measured: Default::default(),
        }
    }

    /// Counts the call and its latency, once: at its first record (the
    /// answer, or a stream's opening), not at each delivery of a stream.
    fn measure(&self, error: Option<&Status>) {
        use std::sync::atomic::Ordering;
        if self.measured.swap(true, Ordering::Relaxed) {
            return;
        }
        let outcome = error.map_or_else(|| "ok".to_string(), |s| format!("{:?}", s.code()));
        // On the call's span, so a trace shows why a read was refused.
        tracing::Span::current().record("outcome", outcome.as_str());
        metrics::counter!(metric::RPCS, "rpc" => self.rpc, "outcome" => outcome).increment(1);
        metrics::histogram!(metric::RPC_SECONDS, "rpc" => self.rpc).record(self.started.elapsed().as_secs_f64());
    }

    /// The call's full method path, e.g. `/concord.v1.QueryService/Subscribe`.
    pub fn rpc(&self) -> &'static str {
        self.rpc
    }

    /// The same call, asking about `subject` by name: its records name the
    /// subject even when nothing about them is shown.
    pub fn about(mut self, subject: Option<&pb::SubjectRef>) -> Access {
        self.about.extend(subject.cloned());
        self
    }

    /// The record of this call by `principal` (`None`: not authenticated),
    /// which returned `shown` or failed with `error`.
    pub fn record(
        &self,
        principal: Option<&Principal>,
        shown: Vec<pb::ShownEvent>,
        tally: &Tally,
        error: Option<&Status>,
    ) -> pb::AccessRecord {
        self.measure(error);
        let (sub, agency, role, purpose) = match principal {
            Some(p) => (p.sub.clone(), p.agency.to_string(), p.role.to_string(), p.purpose.to_string()),
            None => Default::default(),
        };
        pb::AccessRecord {
            principal: sub,
            agency_id: agency,
            role,
            purpose,
            rpc: self.rpc.to_string(),
            parameters: self.parameters.clone(),
            shown,
            withheld: u32::try_from(tally.withheld).unwrap_or(u32::MAX),
            policy_hash: tally.policy_hash.clone(),
            outcome: error.map_or_else(|| "ok".to_string(), |s| format!("{:?}: {}", s.code(), s.message())),
            peer: self.peer.clone(),
            trace_id: self.trace_id.clone(),
            asked_about: self.about.clone(),
            ..Default::default()
        }
    }
}

/// An event as an access record lists it: its id, type and subjects (never
/// its content), and how much of it was shown.
pub fn listed(event: &pb::Event, visibility: i32) -> pb::ShownEvent {
    pb::ShownEvent {
        event_id: event.event_id.clone(),
        visibility,
        event_type: event.body.as_ref().map(|b| EventType::of(b).to_string()).unwrap_or_default(),
        subjects: event.subjects.clone(),
    }
}

/// The events an access record lists for one view: the event, and the event
/// it corrects when its changes (from → to) were shown with it.
pub fn shown(view: &pb::EventView) -> Vec<pb::ShownEvent> {
    let Some(event) = view.event.as_ref() else {
        return vec![pb::ShownEvent { visibility: view.visibility, ..Default::default() }];
    };
    let mut out = vec![listed(event, view.visibility)];
    if !view.changes.is_empty() {
        out.push(pb::ShownEvent { event_id: event.corrects.clone(), ..listed(event, view.visibility) });
    }
    out
}

/// The status a read fails with when its access record cannot be written.
pub fn audit_unavailable(e: impl std::fmt::Display) -> Status {
    tracing::error!(error = %e, "an access record could not be written; the read is refused");
    Status::unavailable(format!("the audit log cannot be written, so nothing is returned: {e}"))
}
