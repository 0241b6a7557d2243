//! Whether an alert reaches anyone: a publisher whose event raises an
//! immediate alert that the sharing agreement lets none of the agencies it
//! concerns see is told so when it publishes, so it can share it another way.

use concord_core::{AgencyId, pb};
use concord_eventlog::consent_for;
use concord_identity::{Principal, Purpose, Role};
use concord_policy::{Decision, Facts};
use concord_read::Views;

use crate::rules::{Raised, raised_by};

/// The name of the stand-in for "an agency of this kind that the event does
/// not name" (any real one the event does name is asked as itself).
const UNNAMED: &str = "unnamed-agency";

/// Why the alert `event` raises reaches nobody, if it raises one that the
/// agreement (as in force now, with the subject's consent as it stands) lets
/// no practitioner or briefing lead of any agency it concerns see, for any
/// purpose. `None` when it raises no alert or someone gets it.
pub fn unheard(views: &Views, event: &pb::Event) -> Result<Option<String>, String> {
    let log = views.log();
    let Some(raised) = raised_by(views, event).map_err(|e| e.message().to_string())? else { return Ok(None) };
    let consent = consent_for(log, event, &[], Some(concord_core::now_millis())).map_err(|e| e.to_string())?;
    let readers = concerned(&raised, event, &consent.agency_ids);
    let policy = views.policy();
    let facts = [Facts { event, consent: &consent }];
    for agency in &readers {
        for role in [Role::Practitioner, Role::BriefingLead] {
            for purpose in Purpose::ALL {
                let reader = Principal {
                    sub: "alert-reach".into(),
                    agency: agency.clone(),
                    role,
                    purpose: *purpose,
                    token_id: None,
                    expires_at: 0,
                };
                if policy.decide(&reader, &facts).first() != Some(&Decision::Withhold) {
                    return Ok(None);
                }
            }
        }
    }
    let whom: Vec<&str> = raised
        .kinds
        .iter()
        .map(|k| concord_core::ids::agency_kind_name(*k))
        .chain(raised.agencies.iter().map(String::as_str))
        .collect();
    Ok(Some(format!(
        "this event raises the {} alert ({}), but the sharing agreement lets none of the agencies it concerns \
         ({}) see it, so nobody will be alerted: share it with them on a basis the agreement accepts, or tell them \
         another way",
        raised.rule,
        raised.reason,
        whom.join(", ")
    )))
}

/// Every agency the alert concerns that the agreement might treat apart:
/// those it names, those of a concerned kind that the event or its consent
/// names, and for each concerned kind one agency the event does not name.
fn concerned(raised: &Raised, event: &pb::Event, consented: &[String]) -> Vec<AgencyId> {
    let mut ids: Vec<String> = raised.agencies.iter().cloned().collect();
    let named = event.share_with.iter().chain(consented).filter_map(|a| AgencyId::parse(a).ok());
    ids.extend(named.filter(|a| raised.kinds.contains(&a.kind())).map(|a| a.to_string()));
    ids.extend(raised.kinds.iter().map(|k| format!("{}.{UNNAMED}", concord_core::ids::agency_kind_name(*k))));
    ids.iter().filter_map(|a| AgencyId::parse(a).ok()).collect()
}
