//! The ledger's answer to nodes asking where a consent stands.

use std::sync::Arc;

use concord_core::consent;
use concord_core::pb;
use concord_eventlog::consent_history as history;
use concord_log::log::Log;

/// The ledger's answer to nodes asking where a consent stands (see
/// [`concord_bus::EventBus::answer_consent`]): as the log records it now,
/// expiry included. The node refuses an event whose only basis is a consent
/// that is not given; the ledger checks again on the way in.
pub fn answerer(log: Arc<Log>) -> concord_bus::ConsentAnswerer {
    Arc::new(move |asking: &concord_core::AgencyId, query: pb::ConsentQuery| {
        let events = match history(&log, &query.consent_id) {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read consent from the log");
                // Unknown is not "none": answer nothing the node could refuse on.
                return pb::ConsentAnswer::default();
            }
        };
        let now = Some(concord_core::now_millis());
        let consent = consent::fold(&events, &query.consent_id, &query.subjects, now);
        let owner = consent::owner(&events, &query.consent_id);
        let recorded_by_other = owner.is_some_and(|o| o != asking.as_str());
        // Of another agency's consent the asker learns only whether it is
        // given, never that it was withdrawn or has lapsed.
        let status = match consent.status {
            consent::ConsentStatus::Given => consent::ConsentStatus::Given,
            _ if recorded_by_other => consent::ConsentStatus::None,
            other => other,
        };
        pb::ConsentAnswer { state: status.as_str().to_string(), given_by: consent.given_by as i32, recorded_by_other }
    })
}
