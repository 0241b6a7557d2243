//! What an event's content says about how it may be shared: whether it is
//! special category (health) data, which of its fields are health detail,
//! and whether it concerns an adult at risk. The sharing agreement, the
//! redaction of a read and the alert rules all decide from these, so they
//! agree with each other.

use crate::pb;
use crate::pb::event::Body;

/// Whether `event` is special category data: classified so by its
/// publisher, or health content by rule, whatever classification the
/// publisher set: anything CAMHS or a health agency publishes, and a MASH
/// referral whose reason is mental health.
pub fn is_special_category(event: &pb::Event) -> bool {
    event.classification == pb::Classification::SpecialCategory as i32
        || [pb::AgencyKind::Camhs as i32, pb::AgencyKind::Health as i32].contains(&event.agency_kind)
        || matches!(&event.body, Some(Body::MashReferral(m)) if m.reason == pb::MashReason::MentalHealth as i32)
}

/// Whether `event` is about an adult at risk, which adult safeguarding
/// leads on: a cuckooing concern (an adult's home taken over), an
/// exploitation concern its publisher marked as about an adult, or an NRM
/// referral for an adult.
pub fn concerns_adult_at_risk(event: &pb::Event) -> bool {
    match &event.body {
        Some(Body::ExploitationConcern(c)) => c.adult || c.exploitation_type == pb::ExploitationType::Cuckooing as i32,
        Some(Body::NrmReferral(n)) => !n.minor,
        _ => false,
    }
}

/// Removes health detail from `event`'s body, for a view that withholds it.
///
/// Health detail, per event type:
/// - a CAMHS contact: all of it (its stage and outcome);
/// - a MASH referral: its reason, when that is mental health or the event
///   is special category;
/// - in any special category event, every free-string field (offence,
///   programme, area, found ward), where a publisher's health detail would
///   be written, and a VCS engagement's outcome;
/// - no other field names health: exploitation and NRM types, missing
///   episodes' times and risk, disposals, ratings and consents are enums,
///   numbers and times without a health value.
///
/// Free text and direct identifiers are in `Personal`, which a redacted view
/// drops whole (`seal::redact`).
pub fn withhold_health_detail(event: &mut pb::Event) {
    let special = is_special_category(event);
    let Some(body) = &mut event.body else { return };
    match body {
        Body::CamhsContact(contact) => *contact = pb::CamhsContact::default(),
        Body::MashReferral(referral) => {
            if special || referral.reason == pb::MashReason::MentalHealth as i32 {
                referral.reason = pb::MashReason::Unspecified as i32;
            }
        }
        Body::Arrest(arrest) if special => arrest.offence_category.clear(),
        Body::Reoffence(reoffence) if special => reoffence.offence_category.clear(),
        Body::YouthJusticeOutcome(outcome) if special => outcome.main_offence.clear(),
        Body::VveBriefingItem(item) if special => item.area.clear(),
        Body::MissingEpisode(episode) if special => episode.found_ward.clear(),
        Body::VcsEngagement(engagement) if special => {
            engagement.programme.clear();
            engagement.outcome = pb::EngagementOutcome::Unspecified as i32;
        }
        Body::Arrest(_)
        | Body::Reoffence(_)
        | Body::YouthJusticeOutcome(_)
        | Body::VveBriefingItem(_)
        | Body::MissingEpisode(_)
        | Body::VcsEngagement(_)
        | Body::StopAndSearch(_)
        | Body::ExploitationConcern(_)
        | Body::NrmReferral(_)
        | Body::AssetPlusRating(_)
        | Body::ConsentRecorded(_)
        | Body::ConsentWithdrawn(_)
        | Body::ReleaseFromCustody(_)
        | Body::SubjectIdentified(_)
        | Body::SubjectsMerged(_)
        | Body::SubjectsUnmerged(_)
        | Body::CohortChanged(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: pb::AgencyKind, classification: pb::Classification, body: Body) -> pb::Event {
        pb::Event {
            agency_kind: kind as i32,
            classification: classification as i32,
            body: Some(body),
            ..Default::default()
        }
    }

    fn mash(reason: pb::MashReason) -> Body {
        Body::MashReferral(pb::MashReferral {
            referrer_agency_id: "camhs.nwl".into(),
            reason: reason as i32,
            decision: pb::ThresholdDecision::EarlyHelp as i32,
            decided_at: None,
        })
    }

    #[test]
    fn health_content_is_special_category_whatever_the_publisher_says() {
        use pb::{AgencyKind as K, Classification as C};
        let official = |kind, body| is_special_category(&event(kind, C::Official, body));
        assert!(official(K::Camhs, Body::CamhsContact(Default::default())));
        assert!(official(K::Camhs, mash(pb::MashReason::Drugs)));
        assert!(official(K::Health, mash(pb::MashReason::Neglect)));
        assert!(official(K::Police, mash(pb::MashReason::MentalHealth)));
        assert!(!official(K::Police, mash(pb::MashReason::Drugs)));
        assert!(!official(K::Police, Body::Arrest(Default::default())));
        assert!(is_special_category(&event(K::Police, C::SpecialCategory, Body::Arrest(Default::default()))));
    }

    #[test]
    fn redaction_withholds_the_health_detail_of_every_event_type() {
        use pb::{AgencyKind as K, Classification as C};
        // A mental health referral loses its reason, not its decision.
        let mut e = event(K::Police, C::Official, mash(pb::MashReason::MentalHealth));
        withhold_health_detail(&mut e);
        let Some(Body::MashReferral(m)) = &e.body else { panic!() };
        assert_eq!((m.reason, m.decision), (0, pb::ThresholdDecision::EarlyHelp as i32));
        // Any reason of a special category referral; none of an ordinary one.
        let mut e = event(K::Police, C::SpecialCategory, mash(pb::MashReason::Drugs));
        withhold_health_detail(&mut e);
        assert!(matches!(&e.body, Some(Body::MashReferral(m)) if m.reason == 0));
        let mut e = event(K::Police, C::Official, mash(pb::MashReason::Drugs));
        withhold_health_detail(&mut e);
        assert!(matches!(&e.body, Some(Body::MashReferral(m)) if m.reason == pb::MashReason::Drugs as i32));
        // A CAMHS contact: nothing but that it exists.
        let contact = pb::CamhsContact { stage: 3, outcome: 1 };
        let mut e = event(K::Camhs, C::Official, Body::CamhsContact(contact));
        withhold_health_detail(&mut e);
        assert_eq!(e.body, Some(Body::CamhsContact(Default::default())));
        // Free strings of a special category event; kept in an ordinary one.
        let programme =
            || Body::VcsEngagement(pb::VcsEngagement { programme: "substance_misuse".into(), sessions: 4, outcome: 1 });
        let mut e = event(K::Vcs, C::SpecialCategory, programme());
        withhold_health_detail(&mut e);
        assert_eq!(e.body, Some(Body::VcsEngagement(pb::VcsEngagement { sessions: 4, ..Default::default() })));
        let mut e = event(K::Vcs, C::Official, programme());
        withhold_health_detail(&mut e);
        assert_eq!(e.body, Some(programme()));
        let arrest =
            pb::Arrest { offence_category: "s136_place_of_safety".into(), gravity_score: 2, ..Default::default() };
        let mut e = event(K::Police, C::SpecialCategory, Body::Arrest(arrest));
        withhold_health_detail(&mut e);
        assert!(matches!(&e.body, Some(Body::Arrest(a)) if a.offence_category.is_empty() && a.gravity_score == 2));
    }

    #[test]
    fn adults_at_risk_are_recognised_by_content() {
        use pb::{AgencyKind as K, Classification as C, ExploitationType as X};
        let concern = |t: X, adult| {
            event(
                K::Police,
                C::Official,
                Body::ExploitationConcern(pb::ExploitationConcern { exploitation_type: t as i32, risk: 3, adult }),
            )
        };
        assert!(concerns_adult_at_risk(&concern(X::Cuckooing, false)));
        assert!(concerns_adult_at_risk(&concern(X::ModernSlavery, true)));
        assert!(!concerns_adult_at_risk(&concern(X::ModernSlavery, false)));
        assert!(!concerns_adult_at_risk(&concern(X::Criminal, false)));
        let nrm =
            |minor| event(K::Police, C::Official, Body::NrmReferral(pb::NrmReferral { exploitation_type: 4, minor }));
        assert!(concerns_adult_at_risk(&nrm(false)));
        assert!(!concerns_adult_at_risk(&nrm(true)));
        assert!(!concerns_adult_at_risk(&event(K::Police, C::Official, Body::Arrest(Default::default()))));
    }
}
