//! `concord simulate`: a deterministic borough-period of events for all five
//! agency kinds, written with the ground truth it built in and the
//! population it assumed, for demos, benchmarks and checking analytics.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use concord_simulator::{BoroughConfig, Simulator};
use jiff::ToSpan;
use jiff::civil::Date;

/// Arguments of `concord simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Where events.jsonl, ground-truth.json and population.csv go.
    #[arg(long, default_value = "./simulated")]
    pub out: PathBuf,
    /// The seed: the same seed and options always give the same events.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// The first day (YYYY-MM-DD), in the borough's time zone (Europe/London).
    #[arg(long, default_value = "2025-10-01", value_parser = parse_day)]
    pub start: Date,
    /// How many days.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Volume multiplier: 1.0 gives domain.md's yearly volumes for one borough.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
}

fn parse_day(s: &str) -> Result<Date, String> {
    s.parse().map_err(|e| format!("`{s}` is not a date like 2025-10-01: {e}"))
}

/// The population file the simulation assumes: the borough's children aged
/// 10-17, spread evenly over the ages.
pub fn population_csv(borough: &str, children: u32) -> String {
    let mut csv = String::from("borough,age,gender,ethnicity,count\n");
    for (i, age) in (10..=17u32).enumerate() {
        let share = children / 8 + u32::from((i as u32) < children % 8);
        csv.push_str(&format!("{borough},{age},*,*,{share}\n"));
    }
    csv
}

/// Writes the simulation.
pub fn run(args: SimulateArgs) -> Result<ExitCode> {
    let config = BoroughConfig { scale: args.scale, ..BoroughConfig::harrow() };
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let events_path = args.out.join("events.jsonl");
    let file = std::fs::File::create(&events_path).with_context(|| format!("creating {}", events_path.display()))?;
    let mut events = BufWriter::new(file);
    let mut simulator = Simulator::new(config.clone(), args.seed, args.start);
    let mut written = 0u64;
    for _ in 0..args.days {
        for event in simulator.next_day() {
            serde_json::to_writer(&mut events, &event)?;
            events.write_all(b"\n")?;
            written += 1;
        }
    }
    events.flush()?;
    // Reoffending for the cohort of the first three months (tracked as far
    // as the simulation goes).
    let cohort_to = args.start.saturating_add(3.months()).yesterday().unwrap_or(args.start);
    let reoffending = simulator.truth().reoffending(args.start, cohort_to);
    let built_in = simulator.truth();
    let mut truth = serde_json::to_value(built_in)?;
    // The indicator values it built in, over the simulated period (a year by
    // default) and its population.
    let per = |count: u64, per: f64| count as f64 * per / f64::from(built_in.population_10_17.max(1));
    truth["first_time_entrants_per_100000"] = serde_json::json!(per(built_in.first_time_entrants, 100_000.0));
    truth["custody_per_1000"] = serde_json::json!(per(built_in.custodial_sentences, 1_000.0));
    truth["repeat_missing"] = serde_json::to_value(built_in.repeat_missing())?;
    truth["repeat_victims"] = serde_json::to_value(built_in.repeat_victims())?;
    truth["reoffending"] = serde_json::json!({
        "cohort_from": args.start.to_string(),
        "cohort_to": cohort_to.to_string(),
        "cohort": reoffending.cohort,
        "reoffenders": reoffending.reoffenders,
        "reoffences": reoffending.reoffences,
        "binary_rate_percent": 100.0 * reoffending.reoffenders as f64 / (reoffending.cohort.max(1) as f64),
        "frequency": reoffending.reoffences as f64 / (reoffending.reoffenders.max(1) as f64),
    });
    std::fs::write(args.out.join("ground-truth.json"), serde_json::to_string_pretty(&truth)? + "\n")?;
    std::fs::write(args.out.join("population.csv"), population_csv(&config.borough, config.children))?;
    let out = args.out.display();
    println!("wrote {written} events of {} days in {} to {out}/events.jsonl", args.days, config.borough);
    println!("  {out}/ground-truth.json: what the simulation built in (what analysts should find)");
    println!("  {out}/population.csv: the population it assumed (for concord profile --population)");
    println!("Publish them into a running Concord with: concord publish {out}/events.jsonl");
    Ok(ExitCode::SUCCESS)
}
