//! The daily publication: each configured agency's briefing, published at
//! the briefing time as the platform itself, audited like any other read.

use std::sync::Arc;
use std::time::Duration;

use concord_core::{AgencyId, now_millis, pb, timestamp};
use concord_identity::{Principal, Purpose, Role};
use tonic::{Request, Status};

use crate::service::BriefingApi;
use crate::window::BriefingTime;

/// How soon a briefing that failed to publish is tried again.
pub const RETRY: Duration = Duration::from_secs(300);

/// Who the schedule's access records name.
pub const SCHEDULE_PRINCIPAL: &str = "concord/briefing-schedule";

/// The schedule acting for `agency`: a briefing lead of that agency, for
/// the purpose of the briefing, so the agreement decides for it exactly as
/// for that agency's briefing leads.
pub fn schedule_principal(agency: &AgencyId) -> Principal {
    Principal {
        sub: SCHEDULE_PRINCIPAL.to_string(),
        agency: agency.clone(),
        role: Role::BriefingLead,
        purpose: Purpose::Briefing,
        token_id: None,
        expires_at: 0,
    }
}

/// Publishes, for each of `agencies`, the briefing of the window ending at
/// the latest briefing time at or before `now`, unless the schedule has
/// already published it (a restart does not publish it twice; a lead's own
/// publication for the same window does not stand in for it). Returns each agency's outcome: the briefing, `None`
/// if it was already there, or why it failed.
pub async fn publish_due(
    api: &BriefingApi,
    agencies: &[AgencyId],
    time: &BriefingTime,
    now: i64,
) -> Vec<(AgencyId, Result<Option<pb::Briefing>, Status>)> {
    let mut out = Vec::new();
    let window = match time.latest_at_or_before(now).and_then(|to| Ok((time.day_before(to)?, to))) {
        Ok(window) => window,
        Err(e) => {
            let status = Status::internal(format!("no briefing window at {now}: {e}"));
            return agencies.iter().map(|a| (a.clone(), Err(status.clone()))).collect();
        }
    };
    for agency in agencies {
        let (store, who, to) = (api.store().clone(), agency.to_string(), window.1);
        let published =
            tokio::task::spawn_blocking(move || store.has_window_ending(&who, to, SCHEDULE_PRINCIPAL)).await;
        let outcome = match published {
            Ok(Ok(true)) => Ok(None),
            Ok(Ok(false)) => {
                let request = Request::new(pb::GenerateBriefingRequest {
                    from: Some(timestamp(window.0)),
                    to: Some(timestamp(window.1)),
                    publish: true,
                    ..Default::default()
                });
                api.generate_as(&schedule_principal(agency), &request).await.map(Some)
            }
            Ok(Err(e)) => Err(Status::unavailable(e.to_string())),
            Err(e) => Err(Status::internal(format!("briefing task failed: {e}"))),
        };
        out.push((agency.clone(), outcome));
    }
    out
}

/// Publishes each of `agencies`' briefings every day at `at` (in its time
/// zone), until the process ends. A briefing missed while the platform was
/// down is published when it starts; one that failed is tried again every
/// [`RETRY`] until the next briefing time.
pub async fn generate_every_day(api: Arc<BriefingApi>, agencies: Vec<AgencyId>, at: BriefingTime) {
    loop {
        let mut failed = false;
        for (agency, outcome) in publish_due(&api, &agencies, &at, now_millis()).await {
            match outcome {
                Ok(Some(b)) => {
                    tracing::info!(%agency, briefing = %b.briefing_id, groups = b.groups.len(), "briefing published");
                }
                Ok(None) => tracing::debug!(%agency, "briefing already published"),
                Err(status) => {
                    failed = true;
                    tracing::error!(%agency, error = %status.message(), "briefing not published; trying again");
                }
            }
        }
        let now = now_millis();
        let wait = match at.next_after(now) {
            Ok(next) => Duration::from_millis(u64::try_from(next - now).unwrap_or(0)),
            Err(e) => {
                tracing::error!(error = %e, "no next briefing time");
                RETRY
            }
        };
        tokio::time::sleep(if failed { wait.min(RETRY) } else { wait }).await;
    }
}
