//! The simulated borough is deterministic, valid, and sized like domain.md's.

use std::collections::{BTreeMap, HashMap, HashSet};

use concord_core::pb;
use concord_core::validate::{Stage, check};
use concord_simulator::{BoroughConfig, Simulator};

fn start() -> time::OffsetDateTime {
    time::macros::datetime!(2025-10-01 00:00 UTC)
}

fn run(days: u32, seed: u64) -> Vec<pb::Event> {
    let mut sim = Simulator::new(BoroughConfig::harrow(), seed, start());
    (0..days).flat_map(|_| sim.next_day()).collect()
}

#[test]
fn same_seed_same_events_other_seed_other_events() {
    assert_eq!(run(20, 7), run(20, 7));
    assert_ne!(run(20, 7), run(20, 8));
}

#[test]
fn every_event_passes_validation_and_ids_are_unique() {
    let events = run(60, 1);
    let mut ids = HashSet::new();
    for e in &events {
        check(e, Stage::Submission).unwrap_or_else(|err| panic!("{err}: {e:?}"));
        assert!(ids.insert(e.event_id.clone()), "duplicate id {}", e.event_id);
    }
}

#[test]
fn a_year_has_the_volumes_of_a_borough() {
    let events = run(365, 3);
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    let mut fte = 0;
    let mut custody = 0;
    for e in &events {
        let body = e.body.as_ref().unwrap();
        *by_type.entry(concord_core::EventType::of(body).as_str()).or_default() += 1;
        if let pb::event::Body::YouthJusticeOutcome(y) = body {
            fte += usize::from(y.first_time_entrant);
            custody += usize::from(y.disposal == pb::Disposal::Custody as i32);
        }
    }
    let within = |t: &str, lo: usize, hi: usize| {
        let n = by_type.get(t).copied().unwrap_or(0);
        assert!((lo..=hi).contains(&n), "{t}: {n} not in {lo}..={hi} ({by_type:?})");
    };
    within("mash_referral", 1_000, 1_400);
    within("arrest", 330, 520);
    within("missing_episode", 360, 560);
    within("nrm_referral", 5, 32);
    within("youth_justice_outcome", 110, 190);
    within("vve_briefing_item", 1_300, 3_600);
    assert!((30..=90).contains(&fte), "first-time entrants {fte}");
    assert!((2..=20).contains(&custody), "custody {custody}");
    assert!(by_type.len() == 14, "every event type appears: {by_type:?}");
}

#[test]
fn children_are_known_to_several_agencies() {
    let events = run(120, 5);
    let mut kinds: HashMap<String, HashSet<i32>> = HashMap::new();
    for e in &events {
        for s in &e.subjects {
            kinds.entry(s.key.clone()).or_default().insert(e.agency_kind);
        }
    }
    let multi = kinds.values().filter(|k| k.len() >= 3).count();
    assert!(multi >= 20, "only {multi} children known to 3+ agency kinds");
}
