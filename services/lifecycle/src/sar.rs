//! A subject access report as a document a person can read (Markdown), and
//! as JSON for systems.

use std::fmt::Write;

use concord_core::{SubjectId, pb};

/// Dates as `2026-11-23 14:05 UTC`.
fn when(ts: Option<&pbjson_types::Timestamp>) -> String {
    let Some(ts) = ts else { return "unknown".into() };
    jiff::Timestamp::from_second(ts.seconds)
        .map_or_else(|_| "unknown".into(), |t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
}

/// Markdown table cells: no pipes or line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn subject_name(subject: Option<&pb::SubjectRef>) -> String {
    subject.and_then(|s| SubjectId::from_ref(s).ok()).map_or_else(|| "unknown subject".into(), |s| s.to_string())
}

fn visibility(v: i32) -> &'static str {
    match pb::Visibility::try_from(v) {
        Ok(pb::Visibility::Show) => "in full",
        Ok(pb::Visibility::ShowRedacted) => "redacted",
        Ok(pb::Visibility::Pseudonymised) => "pseudonymised",
        _ => "listed",
    }
}

/// What happened in an access record, in words.
fn action(record: &pb::AccessRecord) -> String {
    let method = record.rpc.rsplit('/').next().unwrap_or(&record.rpc);
    if !record.erased.is_empty() {
        return format!("{method}: erased the personal data");
    }
    if !record.added.is_empty() {
        return format!(
            "{method}: added {}",
            record.added.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    if let Some(positions) = &record.shown_positions {
        let count = concord_audit::positions::shown(positions).count();
        return format!(
            "{method}: saw {count} events ({}), among them this subject's, of event log positions {}–{}",
            visibility(positions.visibility),
            positions.after + 1,
            positions.through
        );
    }
    if record.shown.is_empty() {
        return format!("{method}: nothing shown");
    }
    let shown: Vec<String> = record
        .shown
        .iter()
        .map(|e| format!("{} {} ({})", e.event_type, e.event_id, visibility(e.visibility)))
        .collect();
    format!("{method}: saw {}", shown.join("; "))
}

/// The report as Markdown: what is held, then who has seen it.
pub fn markdown(report: &pb::SubjectAccessReport) -> String {
    let subject = subject_name(report.subject.as_ref());
    let mut out = String::new();
    let _ = writeln!(out, "# Subject access report: {subject}\n");
    let _ = writeln!(out, "Produced {} for {}.\n", when(report.produced_at.as_ref()), cell(&report.requested_by));
    if report.erased {
        out.push_str(
            "**This subject's personal data has been erased.** Their events remain in the log as redacted \
             records: names, dates of birth, addresses and free text can no longer be read by anyone.\n\n",
        );
    }
    let _ = writeln!(out, "## What is held ({} events)\n", report.events.len());
    if report.withheld > 0 {
        let _ = writeln!(
            out,
            "{} further events about this subject are held but the sharing agreement does not let the requester \
             see them; they must be requested from the agencies that hold them.\n",
            report.withheld
        );
    }
    for view in &report.events {
        let Some(event) = &view.event else { continue };
        let kind = event.body.as_ref().map(|b| concord_core::EventType::of(b).to_string()).unwrap_or_default();
        let _ = writeln!(out, "### {} — {kind}, from {}\n", when(event.occurred_at.as_ref()), event.agency_id);
        let _ = writeln!(out, "- Event `{}`, shown {}", event.event_id, visibility(view.visibility));
        if !event.ward.is_empty() || !event.borough.is_empty() {
            let _ = writeln!(out, "- Where: {}, {}", cell(&event.ward), cell(&event.borough));
        }
        if let Some(personal) = &event.personal {
            for identity in &personal.identities {
                let _ = writeln!(
                    out,
                    "- Identity ({}): {}; born {}; {}",
                    identity.subject_key,
                    cell(&identity.name),
                    cell(&identity.date_of_birth),
                    cell(&identity.address)
                );
            }
            for (field, text) in &personal.text {
                let _ = writeln!(out, "- {field}: {}", cell(text));
            }
        }
        if view.erased > 0 {
            let _ = writeln!(out, "- Personal data erased: {} sealed record(s) can no longer be read", view.erased);
        }
        if event.body.is_some() {
            // The typed body alone, in the event's JSON form.
            let body_only = pb::Event { body: event.body.clone(), ..Default::default() };
            let details = serde_json::to_string(&body_only).unwrap_or_default();
            let _ = writeln!(out, "- Details: `{}`", details.replace('`', "'"));
        }
        for change in &view.changes {
            let _ = writeln!(out, "- Corrected {}: {} → {}", change.field, cell(&change.from), cell(&change.to));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Who has seen it ({} access records)\n", report.accesses.len());
    out.push_str("| When | Who | Agency | Role | Purpose | What | Outcome |\n|---|---|---|---|---|---|---|\n");
    for record in &report.accesses {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            when(record.at.as_ref()),
            cell(&record.principal),
            cell(&record.agency_id),
            cell(&record.role),
            cell(&record.purpose),
            cell(&action(record)),
            cell(&record.outcome)
        );
    }
    let _ = writeln!(
        out,
        "\nEvery row is an access record in Concord's tamper-evident audit log (policy {}).",
        report.policy_hash
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_events_and_accesses() {
        let report = pb::SubjectAccessReport {
            subject: Some(pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: "P-1".into() }),
            requested_by: "dpo".into(),
            events: vec![pb::EventView {
                event: Some(pb::Event {
                    event_id: "e1".into(),
                    agency_id: "police.met.nw".into(),
                    personal: Some(pb::Personal {
                        identities: vec![pb::Identity {
                            subject_key: "P-1".into(),
                            name: "A | B".into(),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                    body: Some(pb::event::Body::Arrest(pb::Arrest::default())),
                    ..Default::default()
                }),
                visibility: pb::Visibility::Show as i32,
                ..Default::default()
            }],
            withheld: 2,
            accesses: vec![
                pb::AccessRecord {
                    principal: "pc-1".into(),
                    rpc: "/concord.v1.QueryService/GetEvent".into(),
                    shown: vec![pb::ShownEvent {
                        event_id: "e1".into(),
                        event_type: "arrest".into(),
                        visibility: pb::Visibility::Show as i32,
                        ..Default::default()
                    }],
                    outcome: "ok".into(),
                    ..Default::default()
                },
                pb::AccessRecord {
                    principal: "analyst-1".into(),
                    rpc: "/concord.v1.ReplayService/Replay".into(),
                    shown_positions: Some(concord_audit::positions::shown_positions(
                        100,
                        600,
                        &[101, 350, 600],
                        pb::Visibility::Pseudonymised,
                        ["arrest".to_string()],
                    )),
                    outcome: "ok".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let doc = markdown(&report);
        assert!(doc.contains("# Subject access report: person/P-1"), "{doc}");
        assert!(doc.contains("A \\| B"), "pipes in names are escaped: {doc}");
        assert!(doc.contains("2 further events"), "{doc}");
        assert!(doc.contains("| pc-1 |") && doc.contains("GetEvent: saw arrest e1 (in full)"), "{doc}");
        assert!(
            doc.contains(
                "Replay: saw 3 events (pseudonymised), among them this subject's, of event log positions 101–600"
            ),
            "{doc}"
        );
    }
}
