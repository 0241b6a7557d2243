//! The default agreement (`deploy/policy/`) decides as domain.md's sharing
//! rules say, for every combination of reader and event attributes (and the
//! bodies whose content matters, in rotation), checked
//! against a table written here independently of the Cedar text; and a
//! broken agreement is refused with the file and line at fault.

#[path = "../../../tests/common/sharing.rs"]
mod sharing;

use concord_core::AgencyId;
use concord_core::consent::{Consent, ConsentStatus};
use concord_core::pb::{self, AgencyKind, Classification, LawfulBasis};
use concord_identity::{Principal, Purpose, Role};
use concord_policy::{CedarAgreement, Decision, Facts, Policy, PolicyError};
use sharing::{BASIS_SETS, KINDS, agency_of, consent_scope, expected};

fn principal(kind: AgencyKind, role: Role, purpose: Purpose) -> Principal {
    Principal {
        sub: "reader-1".into(),
        agency: AgencyId::parse(&agency_of(kind)).unwrap(),
        role,
        purpose,
        token_id: None,
        expires_at: 0,
    }
}

fn event(
    publisher: AgencyKind,
    classification: Classification,
    bases: &[LawfulBasis],
    share_with: &[String],
) -> pb::Event {
    with_body(publisher, classification, bases, share_with, pb::event::Body::Arrest(pb::Arrest::default()))
}

fn with_body(
    publisher: AgencyKind,
    classification: Classification,
    bases: &[LawfulBasis],
    share_with: &[String],
    body: pb::event::Body,
) -> pb::Event {
    pb::Event {
        agency_id: agency_of(publisher),
        agency_kind: publisher as i32,
        classification: classification as i32,
        lawful_basis: bases.iter().map(|b| *b as i32).collect(),
        consent_ref: if bases.contains(&LawfulBasis::Consent) { "C-1".into() } else { String::new() },
        share_with: share_with.to_vec(),
        body: Some(body),
        ..Default::default()
    }
}

/// Bodies whose content the agreement looks at: health by content, adults
/// at risk, and the event types the later agency kinds' clauses name.
fn bodies() -> Vec<pb::event::Body> {
    use pb::event::Body;
    let mash =
        |reason: pb::MashReason| Body::MashReferral(pb::MashReferral { reason: reason as i32, ..Default::default() });
    let concern = |t: pb::ExploitationType, adult| {
        Body::ExploitationConcern(pb::ExploitationConcern { exploitation_type: t as i32, risk: 3, adult })
    };
    vec![
        Body::Arrest(pb::Arrest::default()),
        mash(pb::MashReason::MentalHealth),
        mash(pb::MashReason::Drugs),
        concern(pb::ExploitationType::Cuckooing, false),
        concern(pb::ExploitationType::ModernSlavery, true),
        concern(pb::ExploitationType::Criminal, false),
        Body::NrmReferral(pb::NrmReferral {
            exploitation_type: pb::ExploitationType::ModernSlavery as i32,
            minor: false,
        }),
        Body::MissingEpisode(pb::MissingEpisode::default()),
        Body::AssetPlusRating(pb::AssetPlusRating::default()),
        Body::NrmReferral(pb::NrmReferral { exploitation_type: pb::ExploitationType::Criminal as i32, minor: true }),
        Body::CamhsContact(pb::CamhsContact::default()),
        item(AgencyKind::Vcs),
        item(AgencyKind::Education),
    ]
}

/// A briefing item with one action, owned by an agency of `owner`'s kind.
fn item(owner: AgencyKind) -> pb::event::Body {
    pb::event::Body::VveBriefingItem(pb::VveBriefingItem {
        item_id: "VVE-1".into(),
        actions: vec![pb::BriefingAction {
            action_id: "A-1".into(),
            owner_agency_id: agency_of(owner),
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn no_consent() -> &'static Consent {
    static NONE: std::sync::OnceLock<Consent> = std::sync::OnceLock::new();
    NONE.get_or_init(Consent::none)
}

fn facts(e: &pb::Event) -> Facts<'_> {
    Facts { event: e, consent: no_consent() }
}

#[test]
fn the_default_agreement_matches_the_sharing_rules_in_every_case() {
    let agreement = CedarAgreement::builtin().unwrap();
    // Official and official-sensitive are alike to the agreement.
    let classifications = [Classification::OfficialSensitive, Classification::SpecialCategory];
    let bodies = bodies();
    assert_eq!(bodies.len(), 13);
    let consents: Vec<Consent> =
        [ConsentStatus::None, ConsentStatus::Given, ConsentStatus::Withdrawn, ConsentStatus::Expired]
            .into_iter()
            .map(consent_scope)
            .collect();
    let mut cases = Vec::new();
    for publisher in KINDS {
        for classification in classifications {
            for bases in BASIS_SETS {
                for shared in [vec![], vec![agency_of(AgencyKind::Vcs)], vec![agency_of(AgencyKind::Education)]] {
                    for consent in &consents {
                        if !bases.contains(&LawfulBasis::Consent) && consent.status != ConsentStatus::None {
                            continue;
                        }
                        // Each combination takes the next body: their number is prime to
                        // every dimension's, so each body meets every value of each.
                        let body = bodies[cases.len() % bodies.len()].clone();
                        cases.push((with_body(publisher, classification, bases, &shared, body), consent));
                    }
                }
            }
        }
    }
    let batch: Vec<Facts<'_>> = cases.iter().map(|(event, consent)| Facts { event, consent }).collect();
    let reversed: Vec<Facts<'_>> = batch.iter().rev().copied().collect();
    let mut checked = 0;
    let mut counts = std::collections::HashMap::new();
    for reader_kind in KINDS {
        for role in Role::ALL {
            for purpose in Purpose::ALL {
                let reader = principal(reader_kind, *role, *purpose);
                let decisions = agreement.decide(&reader, &batch);
                assert_eq!(decisions.len(), cases.len());
                // Asked again (now from the agreement's memo of answers), in
                // another order, the answers are the same.
                let mut again = agreement.decide(&reader, &reversed);
                again.reverse();
                assert_eq!(again, decisions, "{reader:?}: answers from the memo");
                for ((e, consent), got) in cases.iter().zip(decisions) {
                    let want = expected(&reader, e, consent);
                    assert_eq!(got, want, "{reader:?} reading {e:?} with consent {consent:?}");
                    *counts.entry(got).or_insert(0) += 1;
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 250_000, "{checked}");
    // The table exercises every outcome, so a policy that always says one thing fails.
    for d in [Decision::Show, Decision::ShowRedacted, Decision::Withhold] {
        assert!(counts.get(&d).copied().unwrap_or(0) > 100, "{d:?}: {counts:?}");
    }
}

#[test]
fn explain_names_the_rules_that_decided() {
    let agreement = CedarAgreement::builtin().unwrap();
    let camhs_contact = event(AgencyKind::Camhs, Classification::SpecialCategory, &[LawfulBasis::Safeguarding], &[]);
    let mash = principal(AgencyKind::ChildrensServices, Role::Practitioner, Purpose::Safeguarding);
    let why = agreement.explain(&mash, facts(&camhs_contact));
    assert_eq!(why.decision, Decision::Show);
    assert!(why.see_detail.contains(&"health-to-mash-for-safeguarding".to_string()), "{why:?}");

    let police = principal(AgencyKind::Police, Role::Practitioner, Purpose::Safeguarding);
    let why = agreement.explain(&police, facts(&camhs_contact));
    assert_eq!(why.decision, Decision::ShowRedacted);
    assert_eq!(why.see, vec!["health-contact-exists".to_string()]);

    let analyst = principal(AgencyKind::Police, Role::Analyst, Purpose::Analysis);
    let why = agreement.explain(&analyst, facts(&camhs_contact));
    assert_eq!(why.decision, Decision::Withhold);
    assert!(why.forbidden_by.contains(&"analysts-no-health-data".to_string()), "{why:?}");
    assert!(why.see.is_empty() && why.see_detail.is_empty(), "{why:?}");

    // Consent: shown while given, withheld once withdrawn.
    let engagement = event(AgencyKind::Vcs, Classification::Official, &[LawfulBasis::Consent], &[]);
    let yot = principal(AgencyKind::Yot, Role::Practitioner, Purpose::CaseManagement);
    let given = consent_scope(ConsentStatus::Given);
    let why = agreement.explain(&yot, Facts { event: &engagement, consent: &given });
    assert_eq!((why.decision, why.see_detail.clone()), (Decision::Show, vec!["with-consent".to_string()]));
    let withdrawn = consent_scope(ConsentStatus::Withdrawn);
    let why = agreement.explain(&yot, Facts { event: &engagement, consent: &withdrawn });
    assert_eq!(why.decision, Decision::Withhold, "{why:?}");
    assert_eq!(why.policy_hash, agreement.policy_hash());
}

#[test]
fn health_by_content_roles_and_the_later_agency_kinds() {
    use pb::event::Body;
    let agreement = CedarAgreement::builtin().unwrap();
    let basis = [LawfulBasis::Safeguarding];
    let mental_health =
        Body::MashReferral(pb::MashReferral { reason: pb::MashReason::MentalHealth as i32, ..Default::default() });
    let police = principal(AgencyKind::Police, Role::Practitioner, Purpose::Safeguarding);
    // A MASH referral for mental health is health data whatever the publisher
    // classified it, and so is anything CAMHS publishes.
    for (publisher, classification, body) in [
        (AgencyKind::Yot, Classification::Official, mental_health.clone()),
        (AgencyKind::Camhs, Classification::SpecialCategory, mental_health.clone()),
        (AgencyKind::Camhs, Classification::Official, Body::MashReferral(pb::MashReferral::default())),
    ] {
        let e = with_body(publisher, classification, &basis, &[], body);
        let why = agreement.explain(&police, facts(&e));
        assert_eq!(why.decision, Decision::ShowRedacted, "{e:?}: {why:?}");
        assert_eq!(why.see, vec!["health-contact-exists".to_string()]);
    }
    // Admins and auditors read no content, not even their own agency's.
    let own = event(AgencyKind::Police, Classification::Official, &basis, &[]);
    for role in [Role::Admin, Role::Auditor] {
        for purpose in Purpose::ALL {
            let why = agreement.explain(&principal(AgencyKind::Police, role, *purpose), facts(&own));
            assert_eq!(why.decision, Decision::Withhold, "{role:?} {purpose:?}");
            assert!(why.forbidden_by.contains(&"auditors-and-admins-no-content".to_string()), "{why:?}");
        }
    }
    // A practitioner reads for casework only.
    let why = agreement.explain(&principal(AgencyKind::Police, Role::Practitioner, Purpose::Audit), facts(&own));
    assert_eq!(why.decision, Decision::Withhold);
    // Adult safeguarding gets cuckooing and modern slavery of adults, not a child's exploitation.
    let adults = principal(AgencyKind::AdultSafeguarding, Role::Practitioner, Purpose::Safeguarding);
    let concern = |t: pb::ExploitationType, adult| {
        let body = Body::ExploitationConcern(pb::ExploitationConcern { exploitation_type: t as i32, risk: 3, adult });
        with_body(AgencyKind::Police, Classification::OfficialSensitive, &basis, &[], body)
    };
    for (e, want) in [
        (concern(pb::ExploitationType::Cuckooing, false), Decision::Show),
        (concern(pb::ExploitationType::ModernSlavery, true), Decision::Show),
        (concern(pb::ExploitationType::ModernSlavery, false), Decision::Withhold),
        (concern(pb::ExploitationType::Criminal, false), Decision::Withhold),
    ] {
        let why = agreement.explain(&adults, facts(&e));
        assert_eq!(why.decision, want, "{e:?}: {why:?}");
        if want == Decision::Show {
            assert_eq!(why.see_detail, vec!["adults-at-risk-to-adult-safeguarding".to_string()]);
        }
    }
    // Housing hears of cuckooing; a school of a child's exploitation.
    let housing = principal(AgencyKind::Housing, Role::Practitioner, Purpose::Safeguarding);
    let why = agreement.explain(&housing, facts(&concern(pb::ExploitationType::Cuckooing, false)));
    assert_eq!(why.see_detail, vec!["cuckooing-to-housing".to_string()]);
    let school = principal(AgencyKind::Education, Role::Practitioner, Purpose::Safeguarding);
    let why = agreement.explain(&school, facts(&concern(pb::ExploitationType::Criminal, false)));
    assert_eq!(why.see_detail, vec!["missing-and-exploited-children-to-education".to_string()]);
}

fn schema() -> &'static str {
    include_str!("../../../deploy/policy/concord.cedarschema")
}

#[test]
fn a_policy_with_a_syntax_error_is_refused_naming_the_line() {
    let text = "// ok\npermit (principal, action, resource);\n\npermit (principal, action resource);\n";
    let Err(PolicyError::Invalid { file, line, message, .. }) =
        CedarAgreement::from_texts(("agreement.cedar", text), ("concord.cedarschema", schema()))
    else {
        panic!("a broken policy was accepted");
    };
    assert_eq!((file.as_str(), line), ("agreement.cedar", 4), "{message}");
}

#[test]
fn a_policy_that_breaks_the_schema_is_refused_naming_the_line() {
    let text = "permit (principal, action, resource)\nwhen { principal.agency_id == resource.agency_id };\n\n\
                permit (principal, action, resource)\nwhen { principal.favourite_colour == \"blue\" };\n";
    let Err(PolicyError::Invalid { line, message, .. }) =
        CedarAgreement::from_texts(("agreement.cedar", text), ("concord.cedarschema", schema()))
    else {
        panic!("a policy naming an unknown attribute was accepted");
    };
    assert!((4..=5).contains(&line), "line {line}: {message}");
    assert!(message.contains("favourite_colour"), "{message}");
}

#[test]
fn a_broken_schema_is_refused_naming_the_file() {
    let Err(PolicyError::Invalid { file, .. }) = CedarAgreement::from_texts(
        ("agreement.cedar", "forbid (principal, action, resource);"),
        ("bad.cedarschema", "namespace {"),
    ) else {
        panic!("a broken schema was accepted");
    };
    assert_eq!(file, "bad.cedarschema");
}

#[test]
fn the_hash_identifies_the_exact_text() {
    let a = CedarAgreement::builtin().unwrap();
    let b = CedarAgreement::builtin().unwrap();
    assert_eq!(a.policy_hash(), b.policy_hash());
    let other = CedarAgreement::from_texts(("x", "forbid (principal, action, resource);"), ("s", schema())).unwrap();
    assert_ne!(a.policy_hash(), other.policy_hash());
    // Default deny: a policy with no permit shows nothing.
    let reader = principal(AgencyKind::Police, Role::Practitioner, Purpose::Safeguarding);
    let own = event(AgencyKind::Police, Classification::Official, &[LawfulBasis::Safeguarding], &[]);
    assert_eq!(other.decide(&reader, &[facts(&own)]), vec![Decision::Withhold]);
}
