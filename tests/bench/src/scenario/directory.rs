//! Scenario 7: the partnership directory. `--directory-subjects` people,
//! each identified by an agency (`subject_identified`: a name, a date of
//! birth, a record number), are loaded into `concord up` with `concord
//! publish`; then concurrent clients search by name and date of birth
//! (some misspelled, some with day and month swapped) through
//! `DirectoryService.Find`, each search authenticated, decided by the
//! agreement and recorded in the audit log before it is answered. Reports
//! the latencies and the directory store's bytes per subject.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use concord::layout::Layout;
use concord_core::pb::directory_service_client::DirectoryServiceClient;
use concord_core::{AgencyId, pb};
use concord_identity::{Purpose, Role};
use concord_log::kv::Engine;

use super::{Ctx, footprint, in_runtime};
use crate::report::{Better, Results};
use crate::setup::disk_bytes;
use crate::stats::percentile;

/// Unrecorded warm-up before the runs.
const WARM_UP: f64 = 2.0;
/// How long the load and the first search (which indexes everything) may take.
const STUCK: Duration = Duration::from_secs(4 * 3600);

const FIRST: &[&str] = &[
    "Jayden", "Amara", "Kwabena", "Tomasz", "Aisha", "Oliver", "Priya", "Mohammed", "Chloe", "Daniel", "Fatima",
    "Liam", "Zara", "Ethan", "Grace", "Yusuf", "Maya", "Reuben", "Imani", "Kacper",
];
const LAST: &[&str] = &[
    "Okafor",
    "Nwachukwu",
    "Whitfield",
    "Wierzbicki",
    "Patel",
    "Khan",
    "Smith",
    "O'Brien",
    "Mensah",
    "Kowalski",
    "Ahmed",
    "Jones",
    "Campbell",
    "Hussain",
    "Taylor",
    "Adeyemi",
    "Novak",
    "Williams",
    "Begum",
    "Clarke",
];

/// Days of birth the people are spread over: 2004-01-01 to 2021-12-31,
/// children aged 0 to 17 when the bench was written.
const DAYS: usize = 6_575;

/// A well-mixed number from `i` and `salt` (splitmix64), so each part of a
/// person is drawn on its own.
fn mix(i: usize, salt: u64) -> usize {
    let mut z = (i as u64).wrapping_add(salt.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) as usize
}

/// The `i`th person: a name, a date of birth and a record number. First
/// name, surnames and day of birth are drawn apart, so names repeat (as
/// they do: each part is shared by a twentieth of everyone) and dates of
/// birth are as common as in a population of children (one day of 6,575),
/// while name and date together rarely repeat.
fn person(i: usize) -> (String, String, String) {
    let (f, middle, l) = (FIRST[mix(i, 1) % FIRST.len()], LAST[mix(i, 2) % LAST.len()], LAST[mix(i, 3) % LAST.len()]);
    let name = format!("{f} {middle}-{l}");
    let first_day = time::Date::from_calendar_date(2004, time::Month::January, 1).expect("a valid date");
    let born = first_day + time::Duration::days((mix(i, 4) % DAYS) as i64);
    let (year, month, day) = (born.year(), u8::from(born.month()), born.day());
    (name, format!("{year:04}-{month:02}-{day:02}"), format!("01/{i:08}"))
}

/// The search clients make for person `i`: exact, misspelled (the
/// surname's last two letters swapped) or with day and month swapped.
fn search(i: usize) -> pb::FindRequest {
    let (name, dob, _) = person(i);
    let (name, dob) = match i % 3 {
        0 => (name, dob),
        1 => {
            let mut chars: Vec<char> = name.chars().collect();
            let n = chars.len();
            chars.swap(n - 1, n - 2);
            (chars.into_iter().collect(), dob)
        }
        // Day and month swapped where the day can be a month.
        _ => {
            let parts: Vec<&str> = dob.split('-').collect();
            match parts[2].parse::<u32>() {
                Ok(day) if day <= 12 => (name, format!("{}-{}-{}", parts[0], parts[2], parts[1])),
                _ => (name, dob),
            }
        }
    };
    pb::FindRequest { name, date_of_birth: dob, ..Default::default() }
}

/// Writes `n` identifications as JSON Lines; the file's size.
fn write_lines(path: &Path, n: usize) -> Result<u64> {
    use std::io::Write;
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for i in 0..n {
        let (name, date_of_birth, crn) = person(i);
        let key = format!("P-dir{i:08}");
        let event = pb::Event {
            agency_id: "police.met.nw".into(),
            agency_kind: pb::AgencyKind::Police as i32,
            subjects: vec![pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: key.clone() }],
            occurred_at: Some(concord_core::timestamp(1_790_000_000_000)),
            borough: "Harrow".into(),
            ward: "Wealdstone".into(),
            classification: pb::Classification::OfficialSensitive as i32,
            lawful_basis: vec![pb::LawfulBasis::Safeguarding as i32],
            schema_version: 1,
            personal: Some(pb::Personal {
                identities: vec![pb::Identity {
                    subject_key: key,
                    name,
                    date_of_birth,
                    identifiers: vec![pb::AgencyIdentifier { scheme: "police.met.nw/crn".into(), value: crn }],
                    ..Default::default()
                }],
                ..Default::default()
            }),
            body: Some(pb::event::Body::SubjectIdentified(pb::SubjectIdentified {})),
            ..Default::default()
        };
        serde_json::to_writer(&mut out, &event)?;
        out.write_all(b"\n")?;
    }
    out.flush().with_context(|| format!("writing {}", path.display()))?;
    Ok(std::fs::metadata(path)?.len())
}

/// Runs the scenario, adding its figures to `results`.
pub fn run(ctx: &Ctx, results: &mut Results, subjects: usize) -> Result<()> {
    let s = &ctx.settings;
    let dir = ctx.dir("directory")?;
    let (file, data) = (dir.join("identified.jsonl"), dir.join("data"));
    ctx.say(format!("directory: {subjects} people identified, as JSON Lines"));
    write_lines(&file, subjects)?;
    let (mut up, addr) = in_runtime(async {
        let (mut up, addr, _) = footprint::start_up(ctx, &data, Engine::Redb).await?;
        up.settle(Duration::from_secs(60)).await?;
        Ok((up, addr))
    })?;
    let addr = format!("http://{addr}");
    ctx.say("directory: loading them with concord publish");
    let status = Command::new(&ctx.concord)
        .arg("publish")
        .arg(&file)
        .args(["--restart", "--addr", &addr, "--data"])
        .arg(&data)
        .stdout(Stdio::from(std::fs::File::create(dir.join("publish.out"))?))
        .stderr(Stdio::from(std::fs::File::create(dir.join("publish.err"))?))
        .status()
        .context("running concord publish")?;
    if !status.success() {
        bail!("concord publish failed ({status}); see {}", dir.join("publish.err").display());
    }
    let issuer = Layout::new(&data).issuer()?;
    let cs = AgencyId::parse("childrens_services.harrow").map_err(|e| anyhow!("{e}"))?;
    let token = issuer.mint("bench-practitioner", &cs, Role::Practitioner, Purpose::Safeguarding, STUCK)?;
    let searches = in_runtime(async {
        let mut client = DirectoryServiceClient::new(concord::client::connect(&addr).await?);
        ctx.say("directory: first search (indexes what the log holds)");
        let started = Instant::now();
        let first = client.find(concord::client::authorized(search(0), &token)?).await?.into_inner();
        if first.hits.is_empty() {
            bail!("the first search found no one");
        }
        ctx.say(format!("directory: indexed in {:.0} s", started.elapsed().as_secs_f64()));
        let mut runs = Vec::new();
        load(&addr, &token, subjects, s.clients, WARM_UP).await?;
        for run in 1..=s.runs {
            ctx.say(format!("directory run {run}/{}: {} clients, {} s", s.runs, s.clients, s.query_secs));
            runs.push(load(&addr, &token, subjects, s.clients, s.query_secs).await?);
        }
        Ok(runs)
    })?;
    up.check_running()?;
    up.stop();
    for (latencies, secs, found) in &searches {
        let label = format!("name and date of birth search, {subjects} subjects, {} clients", s.clients);
        results.add(
            "directory.find.p50",
            "directory",
            &format!("{label}: p50"),
            "ms",
            Better::Lower,
            percentile(latencies, 50.0),
        );
        results.add(
            "directory.find.p99",
            "directory",
            &format!("{label}: p99"),
            "ms",
            Better::Lower,
            percentile(latencies, 99.0),
        );
        results.add(
            "directory.find.rate",
            "directory",
            &format!("{label}: searches/s"),
            "1/s",
            Better::Higher,
            latencies.len() as f64 / secs,
        );
        results.add(
            "directory.found",
            "directory",
            "searches that found the person looked for",
            "%",
            Better::Higher,
            100.0 * *found as f64 / latencies.len().max(1) as f64,
        );
    }
    let store = Layout::new(&data).store("directory");
    results.add(
        "directory.bytes",
        "directory",
        &format!("directory store per subject ({subjects} subjects, one identity each)"),
        "B",
        Better::Lower,
        disk_bytes(&store) as f64 / subjects as f64,
    );
    results.note(format!(
        "Directory: {subjects} people, each identified once by police (`subject_identified`: a name of three parts \
         drawn apart from 20 first names and 20 surnames, a date of birth drawn from the 6,575 days of 2004 to 2021, \
         a record number), loaded with `concord publish` into a fresh `concord up` (embedded bus, \
         redb); the first search indexes the whole log and is not timed. Then {} clients search by name and date \
         of birth, a third exact, a third with the surname's last two letters swapped, a third with day and month \
         swapped (where the day can be a month), as a children's services practitioner (who may see police's safeguarding events in full); every \
         search audited. Bytes per subject are the `directory` store's (as `du` counts it) over the subjects.",
        s.clients
    ));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `clients` concurrent clients searching for `secs` seconds: each call's
/// latency (ms), how long it ran, and how many found the person looked for.
async fn load(addr: &str, token: &str, subjects: usize, clients: usize, secs: f64) -> Result<(Vec<f64>, f64, usize)> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    let token: Arc<str> = token.into();
    for c in 0..clients {
        let channel = concord::client::connect(addr).await?;
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = DirectoryServiceClient::new(channel);
            let (mut latencies, mut found, mut i) = (Vec::new(), 0, c * 7919);
            while Instant::now() < deadline {
                i = (i + 104_729) % subjects;
                let t0 = Instant::now();
                let hits = client.find(concord::client::authorized(search(i), &token)?).await?.into_inner().hits;
                latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                let wanted = format!("P-dir{i:08}");
                found += usize::from(hits.iter().any(|h| h.subject.as_ref().is_some_and(|s| s.key == wanted)));
            }
            anyhow::Ok((latencies, found))
        }));
    }
    let (mut latencies, mut found) = (Vec::new(), 0);
    for task in tasks {
        let (l, f) = task.await??;
        latencies.extend(l);
        found += f;
    }
    Ok((latencies, started.elapsed().as_secs_f64(), found))
}
