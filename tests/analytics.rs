//! A simulated borough-year, published through the real platform, replayed
//! by an analyst over gRPC (pseudonymised) into the indicators and the
//! problem profile: the figures equal the ground truth the simulator built
//! in, exactly.

mod common;

use std::time::Duration;

use common::{TestPlatform, authorized};
use concord_analytics::{Indicators, PeriodParams, Population, Profile, TimeAxis};
use concord_core::pb;
use concord_core::pb::replay_service_client::ReplayServiceClient;
use concord_identity::{Purpose, Role};
use concord_simulator::{BoroughConfig, Simulator};
use futures::StreamExt;
use time::macros::{date, datetime};

/// Harrow's children aged 10-17, spread over the ages.
fn population(children: u32) -> Population {
    let mut csv = String::from("borough,age,gender,ethnicity,count\n");
    for (i, age) in (10..=17).enumerate() {
        let share = children / 8 + u32::from((i as u32) < children % 8);
        csv.push_str(&format!("Harrow,{age},*,*,{share}\n"));
    }
    Population::parse(&csv).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replayed_simulated_year_gives_the_simulators_ground_truth_exactly() {
    let config = BoroughConfig::harrow();
    let t = TestPlatform::start_for(config.agencies.clone()).await;
    let mut simulator = Simulator::new(config.clone(), 2026, datetime!(2025-10-01 0:00 UTC));
    let mut accepted = 0;
    for _ in 0..365 {
        for event in simulator.next_day() {
            let agency = concord_core::AgencyId::parse(&event.agency_id).unwrap();
            // Events relying on a consent not (yet) given are refused at the
            // node: never analysable, so not in the ground truth either.
            if t.platform.node(&agency).unwrap().publish(event, None).await.is_ok() {
                accepted += 1;
            }
        }
    }
    let truth = simulator.truth().clone();
    assert_eq!((truth.first_day.as_str(), truth.last_day.as_str()), ("2025-10-01", "2026-09-30"));
    t.wait_for_size_within(accepted, Duration::from_secs(120)).await;

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
    for (event_type, count) in &truth.events_by_type {
        assert_eq!(figures.by_type.get(event_type), Some(count), "{event_type}: {:?}", figures.by_type);
    }
    assert!(!figures.by_type.contains_key("camhs_contact"), "health data never reaches analysts");

    let year = PeriodParams {
        borough: Some("Harrow".into()),
        period_end: date!(2026 - 09 - 30),
        time_axis: TimeAxis::EventTime,
    };
    let fte = indicators.first_time_entrants(&year, &population).unwrap();
    assert_eq!(fte.numerator, truth.first_time_entrants);
    assert_eq!(fte.denominator, u64::from(truth.population_10_17));
    let expected = truth.first_time_entrants as f64 * 100_000.0 / f64::from(truth.population_10_17);
    assert_eq!(fte.value.map(|v| v.round()), Some(expected.round()));
    let custody = indicators.custody(&year, &population).unwrap();
    assert_eq!(custody.numerator, truth.custodial_sentences);
    assert!(truth.first_time_entrants >= 20 && truth.custodial_sentences >= 1, "{truth:?}");
}
