//! A simulated borough-year, published through the real platform, replayed
//! by an analyst over gRPC (pseudonymised) into the indicators and the
//! problem profile: the figures equal the ground truth the simulator built
//! in, exactly.

use crate::common;

use std::time::Duration;

use common::{TestPlatform, authorized};
use concord_analytics::{
    CohortPeriod, Indicators, PeriodParams, Population, Profile, ReoffendingParams, TimeAxis, Zone,
};
use concord_core::pb::replay_service_client::ReplayServiceClient;
use concord_core::{consent, pb};
use concord_identity::{Purpose, Role};
use concord_simulator::{BoroughConfig, Simulator};
use futures::StreamExt;
use jiff::civil::date;

/// The population the simulation assumed.
fn population(children: u32) -> Population {
    Population::parse(&concord::cmd::simulate::population_csv("Harrow", children)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replayed_simulated_year_gives_the_simulators_ground_truth_exactly() {
    let config = BoroughConfig::harrow();
    let t = TestPlatform::start_for(config.agencies.clone()).await;
    let mut simulator = Simulator::new(config.clone(), 2026, date(2025, 10, 1));
    // A year is published in seconds, so events hours apart in the
    // simulation leave different agencies' nodes microseconds apart, and
    // each node's outbox sends on its own: a consent's withdrawal could reach
    // the ledger before another agency's event relying on that consent,
    // published just before it (the ledger, going by the log's order, then
    // rightly refuses the event), and an event could rely on another
    // agency's consent not yet in the log. Hours apart, as in a partnership,
    // each is in the log long before the next. So, as `concord publish`
    // does, an event recording, withdrawing or relying on a consent waits
    // for the ledger's receipt before anything later is published.
    let mut published = 0;
    for _ in 0..365 {
        for event in simulator.next_day() {
            let agency = concord_core::AgencyId::parse(&event.agency_id).unwrap();
            let receipt = consent::touches_consent(&event).then_some(Duration::from_secs(60));
            if let Err(e) = t.platform.node(&agency).unwrap().publish(event, receipt).await {
                panic!("a simulated event was refused: {e}");
            }
            published += 1;
        }
    }
    let truth = simulator.truth().clone();
    assert_eq!((truth.first_day.as_str(), truth.last_day.as_str()), ("2025-10-01", "2026-09-30"));
    t.wait_for_size_within(published, Duration::from_secs(120)).await;

    let analyst = t.token("childrens_services.harrow", Role::Analyst, Purpose::Analysis);
    let mut client = ReplayServiceClient::new(t.channel().await);
    let request = pb::ReplayRequest { analysis_id: "year-2026".into(), batch_size: 5000, ..Default::default() };
    let mut stream = client.replay(authorized(request, &analyst)).await.unwrap().into_inner();
    let (mut indicators, mut profile) = (Indicators::default(), Profile::default());
    let mut replayed = 0;
    while let Some(batch) = stream.next().await {
        for event in batch.unwrap().events {
            indicators.apply(&event);
            profile.apply(&event);
            replayed += 1;
        }
    }
    assert!(replayed > 3000, "a borough-year: {replayed} events");

    let population = population(truth.population_10_17);
    let figures = profile.figures(&population);
    assert!(truth.events_by_type.len() >= 8, "{truth:?}");
    assert_eq!(figures.by_type, truth.events_by_type);
    assert!(!figures.by_type.contains_key("camhs_contact"), "health data never reaches analysts");
    assert_eq!(figures.by_ward, truth.events_by_ward);
    assert_eq!(figures.by_month, truth.events_by_month);
    // Replayed offence categories are codes; the simulator writes only words
    // of the vocabulary, so none is coded `other`.
    let offences: Vec<&String> =
        figures.by_category.keys().filter(|c| c.starts_with("arrest: ") || c.starts_with("reoffence: ")).collect();
    assert!(offences.len() >= 8 && offences.iter().all(|c| !c.ends_with(": other")), "{offences:?}");
    for (measured, built_in) in
        [(&figures.repeat_missing, truth.repeat_missing()), (&figures.repeat_victims, truth.repeat_victims())]
    {
        let measured = (measured.events, measured.people, measured.repeat_people, measured.repeat_events);
        let built_in = (built_in.events, built_in.children, built_in.repeat_children, built_in.repeat_events);
        assert_eq!(measured, built_in);
    }
    assert!(truth.repeat_missing().repeat_children > 5 && truth.repeat_victims().events > 50, "{truth:?}");

    let year = PeriodParams {
        borough: Some("Harrow".into()),
        period_end: date(2026, 9, 30),
        time_axis: TimeAxis::EventTime,
        zone: Zone::default(),
    };
    let fte = indicators.first_time_entrants(&year, &population).unwrap();
    assert_eq!(fte.numerator, truth.first_time_entrants);
    assert_eq!(fte.denominator, u64::from(truth.population_10_17));
    let expected = truth.first_time_entrants as f64 * 100_000.0 / f64::from(truth.population_10_17);
    assert_eq!(fte.value.map(|v| v.round()), Some(expected.round()));
    let custody = indicators.custody(&year, &population).unwrap();
    assert_eq!(custody.numerator, truth.custodial_sentences);
    assert!(truth.first_time_entrants >= 20 && truth.custodial_sentences >= 1, "{truth:?}");

    // Reoffending for the cohort of the simulation's first three months
    // (followed up as far as the simulated year goes: the same in both).
    let cohort = ReoffendingParams {
        borough: Some("Harrow".into()),
        cohort: CohortPeriod::ThreeMonths,
        cohort_end: date(2025, 12, 31),
        zone: Zone::default(),
    };
    let measured = indicators.reoffending(&cohort);
    let built_in = simulator.truth().reoffending(date(2025, 10, 1), date(2025, 12, 31));
    assert_eq!(
        (measured.cohort, measured.reoffenders, measured.reoffences),
        (built_in.cohort, built_in.reoffenders, built_in.reoffences)
    );
    assert!(built_in.cohort >= 10 && built_in.reoffenders >= 1, "{built_in:?}");
}

#[test]
fn simulate_publish_and_profile_from_the_command_line_write_a_report_without_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let (data, sim, out) = (dir.path().join("data"), dir.path().join("sim"), dir.path().join("profile"));
    let concord = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_concord")).args(args).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "concord {args:?} failed:\n{text}");
        text
    };
    let path = |p: &std::path::Path| p.display().to_string();
    concord(&["simulate", "--out", &path(&sim), "--days", "45", "--seed", "7"]);
    let events = std::fs::read_to_string(sim.join("events.jsonl")).unwrap();
    let events: Vec<pb::Event> = events.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut secrets: std::collections::BTreeSet<String> =
        events.iter().flat_map(|e| &e.personal).flat_map(|p| &p.identities).map(|i| i.name.clone()).collect();
    assert!(secrets.len() > 20);
    secrets.extend(events.iter().flat_map(|e| &e.subjects).map(|s| s.key.clone()));

    let port = common::nats::free_port();
    let addr = format!("http://127.0.0.1:{port}");
    let s = |v: &str| v.to_string();
    let up = common::process::Proc::spawn_logging(
        "up",
        dir.path(),
        &[s("up"), s("--no-simulate"), s("--data"), path(&data), s("--grpc"), format!("127.0.0.1:{port}")],
        "info",
    );
    up.wait_for_output("concord up is ready", 120);
    concord(&["publish", &path(&sim.join("events.jsonl")), "--addr", &addr, "--data", &path(&data)]);
    let token = concord(&[
        "token",
        "--data",
        &path(&data),
        "--agency",
        "childrens_services.harrow",
        "--role",
        "analyst",
        "--purpose",
        "analysis",
    ]);
    let said = concord(&[
        "profile",
        "--addr",
        &addr,
        "--token",
        token.trim(),
        "--population",
        &path(&sim.join("population.csv")),
        "--from",
        "2025-10-01",
        "--to",
        "2025-11-14",
        "--out",
        &path(&out),
    ]);
    assert!(said.contains("report.html"), "{said}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let csv = std::fs::read_to_string(out.join("report.csv")).unwrap();
    let json = std::fs::read_to_string(out.join("report.json")).unwrap();
    assert!(html.contains("<svg") && html.contains("<table"), "charts and tables");
    assert!(csv.lines().count() > 20 && csv.contains("fte_rate"), "every figure with its definition");
    for text in [&html, &csv, &json] {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "`{secret}` (a name or subject key) in the report");
        }
    }
    assert!(!out.join("checkpoint.json").exists(), "a finished profile leaves no checkpoint");
}
