//! The day-by-day generator.
//!
//! Children's youth justice histories are generated as lives, not as
//! isolated events: an offence leads to an outcome; a custodial sentence to
//! a release months later; a caution, conviction or release sometimes to
//! further offences in the following months, each proven some time after it
//! was committed. The simulation records these facts in its
//! [`GroundTruth`] as it decides them.

use std::collections::HashMap;

use concord_core::AgencyId;
use concord_core::pb::{self, event::Body};
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::cohort::Cohort;
use crate::rates;
use crate::truth::GroundTruth;

/// The borough being simulated.
#[derive(Debug, Clone)]
pub struct BoroughConfig {
    /// Borough name.
    pub borough: String,
    /// Its wards.
    pub wards: Vec<String>,
    /// Its agencies: at least one police, children's services, YOT, CAMHS and VCS.
    pub agencies: Vec<AgencyId>,
    /// Children aged 10-17 living there.
    pub children: u32,
    /// Volume multiplier: 1.0 gives domain.md's yearly volumes.
    pub scale: f64,
    /// The borough's time zone: the simulated days are its calendar days.
    pub zone: TimeZone,
}

impl BoroughConfig {
    /// Harrow, with its wards and a plausible set of agencies.
    pub fn harrow() -> Self {
        let wards = [
            "Belmont",
            "Canons",
            "Centenary",
            "Edgware",
            "Greenhill",
            "Harrow on the Hill",
            "Harrow Weald",
            "Hatch End",
            "Headstone North",
            "Headstone South",
            "Kenton East",
            "Kenton West",
            "Marlborough",
            "Pinner",
            "Pinner South",
            "Queensbury",
            "Rayners Lane",
            "Roxbourne",
            "Roxeth",
            "Stanmore Park",
            "Wealdstone",
            "West Harrow",
        ];
        let agencies = ["police.met.nw", "childrens_services.harrow", "yot.harrow", "camhs.nwl", "vcs.st-giles"];
        BoroughConfig {
            borough: "Harrow".into(),
            wards: wards.iter().map(|w| w.to_string()).collect(),
            agencies: agencies.iter().filter_map(|a| AgencyId::parse(a).ok()).collect(),
            children: 23_300,
            scale: 1.0,
            // The bundled tz database always has Europe/London.
            zone: TimeZone::get("Europe/London").unwrap_or(TimeZone::UTC),
        }
    }
}

/// An open VVE briefing item whose actions may change later.
#[derive(Debug, Clone)]
struct OpenItem {
    item: pb::VveBriefingItem,
    subjects: Vec<pb::SubjectRef>,
    ward: String,
    share_with: Vec<String>,
    /// For each action (in the item's order), the days it is taken up and
    /// finished, and how it ends (done or cancelled).
    plans: Vec<ActionPlan>,
}

/// When an action's owner takes it up and finishes it.
#[derive(Debug, Clone, Copy)]
struct ActionPlan {
    /// The day it is marked in progress, if it ever is.
    started: Option<Date>,
    /// The day it is finished.
    finished: Date,
    /// Done or cancelled.
    ends: pb::ActionStatus,
}

impl ActionPlan {
    /// The action's status on `day`.
    fn status_on(&self, day: Date) -> pb::ActionStatus {
        if self.finished <= day {
            self.ends
        } else if self.started.is_some_and(|s| s <= day) {
            pb::ActionStatus::InProgress
        } else {
            pb::ActionStatus::Open
        }
    }
}

/// The outcome whose offence a later event refers back to.
#[derive(Debug, Clone)]
struct Original {
    /// Its event id.
    event_id: String,
    /// When the offence it was for was committed.
    offence: Timestamp,
}

/// Something a child's history holds in store for a later day.
#[derive(Debug, Clone)]
enum Later {
    /// Release from the custodial sentence `sentence`.
    Release { child: usize, sentence: Original },
    /// Proof (a caution or conviction, or a court elsewhere) of an offence
    /// committed at `committed`, after the outcome or release for `original`.
    Proof { child: usize, committed: Timestamp, original: Original },
}

/// Generates a borough's events, one day at a time, deterministically.
pub struct Simulator {
    config: BoroughConfig,
    rng: ChaCha8Rng,
    /// The day being generated (a calendar day in the borough's zone).
    day: Date,
    cohort: Cohort,
    by_kind: HashMap<pb::AgencyKind, AgencyId>,
    items: Vec<OpenItem>,
    /// What children's histories hold for later days, by day.
    later: Vec<(Date, Later)>,
    counter: u64,
    truth: GroundTruth,
}

fn ts(t: Timestamp) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp { seconds: t.as_second(), nanos: 0 }
}

/// `n` whole days of 24 hours.
fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

fn person(key: &str) -> pb::SubjectRef {
    pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: key.to_string() }
}

/// A Poisson-distributed count with mean `lambda` (Knuth's method; small means only).
fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u32 {
    let limit = (-lambda).exp();
    let (mut k, mut p) = (0, 1.0);
    loop {
        p *= rng.r#gen::<f64>();
        if p <= limit {
            return k;
        }
        k += 1;
    }
}

/// Picks from `(value, weight)` pairs.
fn weighted<T: Copy>(rng: &mut ChaCha8Rng, choices: &[(T, f64)]) -> T {
    let total: f64 = choices.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen_range(0.0..total);
    for (v, w) in choices {
        if x < *w {
            return *v;
        }
        x -= w;
    }
    choices[choices.len() - 1].0
}

impl Simulator {
    /// A simulation of `config` from the day of `start`, seeded with `seed`.
    /// The first day is `start`, a calendar day in the borough's zone.
    pub fn new(config: BoroughConfig, seed: u64, start: Date) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let cohort = Cohort::generate(&mut rng, rates::COHORT, &config.wards, start);
        let mut by_kind = HashMap::new();
        for a in &config.agencies {
            by_kind.entry(a.kind()).or_insert_with(|| a.clone());
        }
        let truth = GroundTruth::new(start, config.children);
        Simulator { config, rng, day: start, cohort, by_kind, items: Vec::new(), later: Vec::new(), counter: 0, truth }
    }

    /// The day the next call to [`Simulator::next_day`] generates.
    pub fn day(&self) -> Date {
        self.day
    }

    /// What the days generated so far built in.
    pub fn truth(&self) -> &GroundTruth {
        &self.truth
    }

    /// The agencies publishing.
    pub fn agencies(&self) -> &[AgencyId] {
        &self.config.agencies
    }

    /// The children the simulation follows.
    pub fn cohort(&self) -> &Cohort {
        &self.cohort
    }

    fn agency(&self, kind: pb::AgencyKind) -> Option<AgencyId> {
        self.by_kind.get(&kind).cloned()
    }

    fn count(&mut self, yearly: f64) -> u32 {
        poisson(&mut self.rng, yearly * self.config.scale / 365.0)
    }

    /// A random moment of today.
    fn at(&mut self) -> Timestamp {
        self.moment_of(self.day)
    }

    /// A random moment of `day`.
    fn moment_of(&mut self, day: Date) -> Timestamp {
        let (hour, minute, second) = (self.rng.gen_range(0..24), self.rng.gen_range(0..60), self.rng.gen_range(0..60));
        self.local(day, hour, minute, second)
    }

    /// `day` at `hour:minute:second` on the borough's clocks (a time the
    /// clocks skip, when they go forward, is taken as an hour later: still
    /// the same day).
    fn local(&self, day: Date, hour: i8, minute: i8, second: i8) -> Timestamp {
        let time = Time::new(hour, minute, second, 0).unwrap_or(Time::midnight());
        // Days of the simulation are well inside jiff's range: this cannot fail.
        day.to_datetime(time)
            .to_zoned_datetime(self.config.zone.clone())
            .map_or(Timestamp::UNIX_EPOCH, |z| z.timestamp())
    }

    /// The calendar day `at` falls on in the borough.
    fn day_of(&self, at: Timestamp) -> Date {
        self.config.zone.to_datetime(at).date()
    }

    fn identity(&self, child: usize) -> pb::Identity {
        let c = &self.cohort.children[child];
        pb::Identity {
            subject_key: c.key.clone(),
            name: c.name.clone(),
            date_of_birth: c.date_of_birth.to_string(),
            ..Default::default()
        }
    }

    /// Builds a complete submission; `lag` is how long after the event it was recorded.
    #[allow(clippy::too_many_arguments)]
    fn event(
        &mut self,
        agency: &AgencyId,
        subjects: Vec<pb::SubjectRef>,
        occurred: Timestamp,
        lag: SignedDuration,
        ward: &str,
        bases: &[pb::LawfulBasis],
        body: Body,
    ) -> pb::Event {
        self.counter += 1;
        let mut random = [0u8; 10];
        self.rng.fill(&mut random);
        let millis = (occurred.as_second() as u64) * 1000 + self.counter % 1000;
        let id = uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid();
        pb::Event {
            event_id: id.hyphenated().to_string(),
            agency_id: agency.to_string(),
            agency_kind: agency.kind() as i32,
            subjects,
            occurred_at: Some(ts(occurred)),
            recorded_at: Some(ts(occurred + lag)),
            borough: self.config.borough.clone(),
            ward: ward.to_string(),
            classification: pb::Classification::OfficialSensitive as i32,
            lawful_basis: bases.iter().map(|b| *b as i32).collect(),
            schema_version: concord_core::validate::SCHEMA_VERSION,
            body: Some(body),
            ..Default::default()
        }
    }

    /// The events of the next day, in event-time order.
    pub fn next_day(&mut self) -> Vec<pb::Event> {
        let mut out = Vec::new();
        let (Some(police), Some(cs), Some(yot), Some(camhs), Some(vcs)) = (
            self.agency(pb::AgencyKind::Police),
            self.agency(pb::AgencyKind::ChildrensServices),
            self.agency(pb::AgencyKind::Yot),
            self.agency(pb::AgencyKind::Camhs),
            self.agency(pb::AgencyKind::Vcs),
        ) else {
            self.day = self.day.tomorrow().unwrap_or(self.day);
            return out;
        };
        for _ in 0..self.count(rates::ARRESTS) {
            out.push(self.arrest(&police));
        }
        for _ in 0..self.count(rates::STOP_AND_SEARCHES) {
            out.push(self.stop_and_search(&police));
        }
        for _ in 0..self.count(rates::MISSING_EPISODES) {
            let by = if self.rng.gen_bool(0.7) { police.clone() } else { cs.clone() };
            out.push(self.missing(&by));
        }
        for _ in 0..self.count(rates::MASH_REFERRALS) {
            out.push(self.mash(&cs));
        }
        for _ in 0..self.count(rates::EXPLOITATION_CONCERNS) {
            let by = [&police, &cs, &yot, &vcs].choose(&mut self.rng).map(|a| (*a).clone()).unwrap_or(cs.clone());
            out.push(self.exploitation(&by));
        }
        for _ in 0..self.count(rates::NRM_REFERRALS) {
            out.push(self.nrm(&cs));
        }
        for _ in 0..self.count(rates::YOUTH_JUSTICE_OUTCOMES) {
            // New offences are spread over the cohort; those who go on
            // offending do so through their histories (see `index`).
            let child = self.rng.gen_range(0..self.cohort.children.len());
            let at = self.at();
            let offence = at - days(self.rng.gen_range(7..90));
            out.extend(self.outcome(&yot, child, at, offence, false));
        }
        out.extend(self.due(&yot));
        for _ in 0..self.count(rates::ASSET_PLUS_RATINGS) {
            out.push(self.asset_plus(&yot));
        }
        for _ in 0..self.count(rates::CAMHS_CONTACTS) {
            out.extend(self.camhs(&camhs));
        }
        for _ in 0..self.count(rates::VCS_ENGAGEMENTS) {
            out.extend(self.vcs(&vcs));
        }
        if self.day.weekday().to_monday_one_offset() <= 5 {
            let (lo, hi) = rates::BRIEFING_ITEMS_PER_WEEKDAY;
            let n = ((self.rng.gen_range(lo..=hi) as f64) * self.config.scale).round() as u32;
            for _ in 0..n {
                out.push(self.briefing_item(&cs, &[&police, &yot, &vcs, &camhs]));
            }
            out.extend(self.briefing_updates(&cs));
        }
        out.sort_by_key(|e| e.occurred_at.map(|t| t.seconds));
        for event in &out {
            self.truth.add(event, &self.config.zone);
        }
        self.truth.last_day = self.day.to_string();
        self.day = self.day.tomorrow().unwrap_or(self.day);
        out
    }

    fn with_notes(&mut self, mut e: pb::Event, child: usize, field: &str, texts: &[&str], chance: f64) -> pb::Event {
        let mut personal = pb::Personal { identities: vec![self.identity(child)], text: HashMap::new() };
        if self.rng.gen_bool(chance) {
            let text = texts.choose(&mut self.rng).copied().unwrap_or_default();
            personal.text.insert(field.to_string(), text.replace("{name}", &self.cohort.children[child].name));
        }
        e.personal = Some(personal);
        e
    }

    fn arrest(&mut self, police: &AgencyId) -> pb::Event {
        let child = self.cohort.pick(&mut self.rng);
        let first = !self.cohort.children[child].arrested;
        self.cohort.children[child].arrested = true;
        let body = pb::Arrest {
            offence_category: [
                "robbery",
                "possession_of_weapons",
                "drug_supply",
                "violence_with_injury",
                "theft",
                "criminal_damage",
            ]
            .choose(&mut self.rng)
            .copied()
            .unwrap_or("theft")
            .to_string(),
            gravity_score: weighted(&mut self.rng, &[(1, 0.2), (2, 0.3), (3, 0.3), (4, 0.15), (5, 0.05)]),
            first_arrest: first,
            custody_outcome: weighted(
                &mut self.rng,
                &[
                    (pb::CustodyOutcome::Charged, 0.3),
                    (pb::CustodyOutcome::Bailed, 0.2),
                    (pb::CustodyOutcome::ReleasedUnderInvestigation, 0.3),
                    (pb::CustodyOutcome::NoFurtherAction, 0.2),
                ],
            ) as i32,
            weapon: self.rng.gen_bool(0.12),
        };
        let at = self.at();
        let ward = self.cohort.children[child].ward.clone();
        let key = self.cohort.children[child].key.clone();
        let lag = SignedDuration::from_mins(self.rng.gen_range(20..600));
        let e = self.event(
            police,
            vec![person(&key)],
            at,
            lag,
            &ward,
            &[pb::LawfulBasis::CrimeAndDisorder, pb::LawfulBasis::Safeguarding],
            Body::Arrest(body),
        );
        self.with_notes(
            e,
            child,
            "notes",
            &[
                "Arrested with two older males near the station.",
                "{name} was calm in custody; appropriate adult present.",
                "Found with cash and two phones; possible line involvement.",
            ],
            0.5,
        )
    }

    fn stop_and_search(&mut self, police: &AgencyId) -> pb::Event {
        let child = self.cohort.pick(&mut self.rng);
        let grounds = weighted(
            &mut self.rng,
            &[
                (pb::SearchGrounds::Drugs, 0.6),
                (pb::SearchGrounds::Weapons, 0.2),
                (pb::SearchGrounds::StolenProperty, 0.1),
                (pb::SearchGrounds::Section60, 0.05),
                (pb::SearchGrounds::Other, 0.05),
            ],
        );
        let find = self.rng.gen_bool(0.25);
        let outcome = if find { pb::SearchOutcome::Arrest } else { pb::SearchOutcome::NoFurtherAction };
        let mut subjects = vec![person(&self.cohort.children[child].key)];
        let mut ward = self.cohort.children[child].ward.clone();
        if self.rng.gen_bool(0.5) && !self.cohort.places.is_empty() {
            let (key, place_ward) = self.cohort.places[self.rng.gen_range(0..self.cohort.places.len())].clone();
            subjects.push(pb::SubjectRef { kind: pb::SubjectKind::Place as i32, key });
            ward = place_ward;
        }
        let at = self.at();
        let lag = SignedDuration::from_mins(self.rng.gen_range(10..240));
        let body = Body::StopAndSearch(pb::StopAndSearch { grounds: grounds as i32, find, outcome: outcome as i32 });
        let e = self.event(police, subjects, at, lag, &ward, &[pb::LawfulBasis::CrimeAndDisorder], body);
        self.with_notes(e, child, "notes", &[], 0.0)
    }

    fn missing(&mut self, by: &AgencyId) -> pb::Event {
        // Repeat missing: draw twice and keep the more frequently seen child.
        let (a, b) = (self.cohort.pick(&mut self.rng), self.cohort.pick(&mut self.rng));
        let child = if self.cohort.children[a].weight >= self.cohort.children[b].weight { a } else { b };
        let reported = self.at();
        let returned = reported + SignedDuration::from_mins(self.rng.gen_range(120..4320));
        let risk = weighted(
            &mut self.rng,
            &[(pb::RiskLevel::Low, 0.4), (pb::RiskLevel::Medium, 0.45), (pb::RiskLevel::High, 0.15)],
        );
        let offered = self.rng.gen_bool(0.9);
        let body = pb::MissingEpisode {
            episode_id: format!("ME-{:06}", self.counter + 1),
            reported_missing_at: Some(ts(reported)),
            returned_at: Some(ts(returned)),
            risk: risk as i32,
            found_ward: self.config.wards.choose(&mut self.rng).cloned().unwrap_or_default(),
            exploitation_concern: self.rng.gen_bool(0.25),
            return_interview_offered: offered,
            return_interview_held: offered && self.rng.gen_bool(0.65),
        };
        let ward = self.cohort.children[child].ward.clone();
        let key = self.cohort.children[child].key.clone();
        let e = self.event(
            by,
            vec![person(&key)],
            reported,
            SignedDuration::from_mins(30),
            &ward,
            &[pb::LawfulBasis::Safeguarding],
            Body::MissingEpisode(body),
        );
        self.with_notes(
            e,
            child,
            "notes",
            &[
                "Last seen getting into a car on Station Road.",
                "Returned by police from another borough; would not say where.",
                "Mother reported {name} missing after school.",
            ],
            0.6,
        )
    }

    fn mash(&mut self, cs: &AgencyId) -> pb::Event {
        let child = self.cohort.pick(&mut self.rng);
        let referrer = weighted(&mut self.rng, &[(0usize, 0.45), (1, 0.2), (2, 0.1), (3, 0.1), (4, 0.15)]);
        let referrer = self.config.agencies.get(referrer).cloned().unwrap_or(cs.clone());
        let reason = weighted(
            &mut self.rng,
            &[
                (pb::MashReason::DomesticAbuse, 0.35),
                (pb::MashReason::Exploitation, 0.15),
                (pb::MashReason::Vve, 0.1),
                (pb::MashReason::Neglect, 0.15),
                (pb::MashReason::MentalHealth, 0.1),
                (pb::MashReason::Drugs, 0.08),
                (pb::MashReason::Fgm, 0.01),
                (pb::MashReason::Other, 0.06),
            ],
        );
        let decision = weighted(
            &mut self.rng,
            &[
                (pb::ThresholdDecision::NoFurtherAction, 0.3),
                (pb::ThresholdDecision::EarlyHelp, 0.3),
                (pb::ThresholdDecision::ChildInNeedAssessment, 0.25),
                (pb::ThresholdDecision::StrategyDiscussion, 0.15),
            ],
        );
        let at = self.at();
        let decided = at + SignedDuration::from_hours(self.rng.gen_range(2..24));
        let share_with = if referrer.kind() == pb::AgencyKind::Vcs { vec![referrer.to_string()] } else { vec![] };
        let body = pb::MashReferral {
            referrer_agency_id: referrer.to_string(),
            reason: reason as i32,
            decision: decision as i32,
            decided_at: Some(ts(decided)),
        };
        let ward = self.cohort.children[child].ward.clone();
        let key = self.cohort.children[child].key.clone();
        let mut e = self.event(
            cs,
            vec![person(&key)],
            at,
            SignedDuration::from_hours(24),
            &ward,
            &[pb::LawfulBasis::Safeguarding],
            Body::MashReferral(body),
        );
        e.share_with = share_with;
        self.with_notes(
            e,
            child,
            "notes",
            &[
                "Referral following a domestic incident at home; {name} present.",
                "School concerned about unexplained new clothes and phones.",
            ],
            0.7,
        )
    }

    fn exploitation(&mut self, by: &AgencyId) -> pb::Event {
        let child = self.cohort.pick(&mut self.rng);
        let kind = weighted(
            &mut self.rng,
            &[
                (pb::ExploitationType::Criminal, 0.45),
                (pb::ExploitationType::Sexual, 0.15),
                (pb::ExploitationType::GangAssociation, 0.2),
                (pb::ExploitationType::Online, 0.1),
                (pb::ExploitationType::Cuckooing, 0.05),
                (pb::ExploitationType::ModernSlavery, 0.03),
                (pb::ExploitationType::Radicalisation, 0.02),
            ],
        );
        let risk = weighted(
            &mut self.rng,
            &[
                (pb::RiskLevel::Low, 0.2),
                (pb::RiskLevel::Medium, 0.4),
                (pb::RiskLevel::High, 0.3),
                (pb::RiskLevel::VeryHigh, 0.1),
            ],
        );
        let mut subjects = vec![person(&self.cohort.children[child].key)];
        if kind == pb::ExploitationType::Cuckooing && !self.cohort.places.is_empty() {
            let (key, _) = self.cohort.places[self.rng.gen_range(0..self.cohort.places.len())].clone();
            subjects.push(pb::SubjectRef { kind: pb::SubjectKind::Place as i32, key });
        }
        let at = self.at();
        let ward = self.cohort.children[child].ward.clone();
        let basis = if by.kind() == pb::AgencyKind::Police {
            pb::LawfulBasis::CrimeAndDisorder
        } else {
            pb::LawfulBasis::Safeguarding
        };
        let body = Body::ExploitationConcern(pb::ExploitationConcern {
            exploitation_type: kind as i32,
            risk: risk as i32,
            adult: false,
        });
        let e = self.event(
            by,
            subjects,
            at,
            SignedDuration::from_hours(6),
            &ward,
            &[pb::LawfulBasis::Safeguarding, basis],
            body,
        );
        self.with_notes(
            e,
            child,
            "notes",
            &["Seen travelling out of London on school days.", "Older peers collecting {name} from the estate."],
            0.6,
        )
    }

    fn nrm(&mut self, cs: &AgencyId) -> pb::Event {
        let child = self.cohort.pick(&mut self.rng);
        let at = self.at();
        let ward = self.cohort.children[child].ward.clone();
        let key = self.cohort.children[child].key.clone();
        let body = Body::NrmReferral(pb::NrmReferral {
            exploitation_type: pb::ExploitationType::Criminal as i32,
            minor: true,
        });
        let e = self.event(cs, vec![person(&key)], at, days(1), &ward, &[pb::LawfulBasis::Safeguarding], body);
        self.with_notes(e, child, "notes", &[], 0.0)
    }

    /// `child`'s age in whole years on `day`.
    fn age_on(&self, child: usize, day: Date) -> u32 {
        let dob = self.cohort.children[child].date_of_birth;
        let mut age = i32::from(day.year()) - i32::from(dob.year());
        if (day.month(), day.day()) < (dob.month(), dob.day()) {
            age -= 1;
        }
        age.max(0) as u32
    }

    /// A youth justice outcome decided at `at` (today) for an offence
    /// `child` committed at `offence`: none if they were not 10-17 then, or
    /// already had an outcome today (one court or panel a day). `proven`: a
    /// caution or conviction (the offence is proven), else any disposal.
    /// Records it in the child's history and the ground truth, and schedules
    /// what follows: a release after custody; perhaps further offences after
    /// a caution, a conviction to a community sentence, or a release.
    fn outcome(
        &mut self,
        yot: &AgencyId,
        child: usize,
        at: Timestamp,
        offence: Timestamp,
        proven: bool,
    ) -> Option<pb::Event> {
        let (committed, decided) = (self.day_of(offence), self.day_of(at));
        let age = self.age_on(child, committed);
        if !(10..=17).contains(&age) || self.cohort.children[child].last_outcome == Some(decided) {
            return None;
        }
        // Out-of-court disposals without admission, and remands, prove nothing.
        let unproven = if proven { 0.0 } else { 1.0 };
        let disposal = weighted(
            &mut self.rng,
            &[
                (pb::Disposal::Triage, 0.15 * unproven),
                (pb::Disposal::CommunityResolution, 0.2 * unproven),
                (pb::Disposal::YouthCaution, 0.15),
                (pb::Disposal::YouthConditionalCaution, 0.1),
                (pb::Disposal::ReferralOrder, 0.2),
                (pb::Disposal::YouthRehabilitationOrder, 0.13),
                (pb::Disposal::Custody, rates::CUSTODY_SHARE),
                (pb::Disposal::Remand, 0.015 * unproven),
            ],
        );
        let formal =
            !matches!(disposal, pb::Disposal::Triage | pb::Disposal::CommunityResolution | pb::Disposal::Remand);
        let c = &mut self.cohort.children[child];
        c.last_outcome = Some(decided);
        // A first-time entrant: their first caution or conviction ever
        // (triages, community resolutions and remands before it do not count).
        let first_time_entrant = formal && c.first_caution_or_conviction.is_none();
        if first_time_entrant {
            c.first_caution_or_conviction = Some(decided);
        }
        let (gender, ethnicity, ward, key) = (c.gender, c.ethnicity, c.ward.clone(), c.key.clone());
        let body = pb::YouthJusticeOutcome {
            disposal: disposal as i32,
            first_time_entrant,
            main_offence: ["robbery", "possession_of_weapons", "drug_supply", "violence_against_the_person", "theft"]
                .choose(&mut self.rng)
                .copied()
                .unwrap_or("theft")
                .into(),
            age,
            gender: gender as i32,
            ethnicity: ethnicity as i32,
            offence_date: Some(ts(offence)),
        };
        let lag = days(self.rng.gen_range(1..30));
        let e = self.event(
            yot,
            vec![person(&key)],
            at,
            lag,
            &ward,
            &[pb::LawfulBasis::CrimeAndDisorder],
            Body::YouthJusticeOutcome(body),
        );
        if formal {
            self.truth.proven(&key, committed, decided);
        }
        if first_time_entrant {
            self.truth.first_time_entrant();
        }
        let original = Original { event_id: e.event_id.clone(), offence };
        if disposal == pb::Disposal::Custody {
            self.truth.custodial_sentence();
            // A detention and training order of 4-24 months, half served in custody.
            let months = *[4, 6, 8, 10, 12, 18, 24].choose(&mut self.rng).unwrap_or(&4);
            let release = decided.saturating_add((15 * months).days());
            self.later.push((release, Later::Release { child, sentence: original }));
        } else if formal {
            self.index(child, decided, original);
        }
        Some(self.with_notes(e, child, "notes", &[], 0.0))
    }

    /// `child`, aged 10-17, cautioned, convicted to a community sentence or
    /// released from custody on `day`: the start of a reoffending follow-up,
    /// and sometimes of further offending (offences committed over the next
    /// year, each proven weeks or months after it was committed).
    fn index(&mut self, child: usize, day: Date, original: Original) {
        self.truth.index(&self.cohort.children[child].key, day);
        if self.cohort.children[child].further_offences > 0 || !self.rng.gen_bool(rates::FURTHER_OFFENDING) {
            return;
        }
        let n = 1 + poisson(&mut self.rng, rates::MORE_FURTHER_OFFENCES);
        self.cohort.children[child].further_offences = n;
        for _ in 0..n {
            let committed_on = day.saturating_add(self.rng.gen_range(1..=365).days());
            let committed = self.moment_of(committed_on);
            let proven = self.day_of(committed).saturating_add(self.rng.gen_range(7..=240).days());
            self.later.push((proven, Later::Proof { child, committed, original: original.clone() }));
        }
    }

    /// What children's histories hold for today: releases from custody and
    /// proofs of further offences.
    fn due(&mut self, yot: &AgencyId) -> Vec<pb::Event> {
        let today = self.day;
        let (due, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.later).into_iter().partition(|(d, _)| *d <= today);
        self.later = later;
        let mut out = Vec::new();
        for (_, what) in due {
            match what {
                Later::Release { child, sentence } => out.push(self.release(yot, child, sentence)),
                Later::Proof { child, committed, original } => out.extend(self.proof(yot, child, committed, original)),
            }
        }
        out
    }

    /// `child` released today from the custodial sentence `sentence`.
    fn release(&mut self, yot: &AgencyId, child: usize, sentence: Original) -> pb::Event {
        let (hour, minute) = (self.rng.gen_range(9..17), self.rng.gen_range(0..60));
        let at = self.local(self.day, hour, minute, 0);
        let age = self.age_on(child, self.day);
        let body = pb::ReleaseFromCustody { sentence_event_id: sentence.event_id.clone(), age };
        let ward = self.cohort.children[child].ward.clone();
        let key = self.cohort.children[child].key.clone();
        let lag = SignedDuration::from_hours(self.rng.gen_range(2..72));
        let e = self.event(
            yot,
            vec![person(&key)],
            at,
            lag,
            &ward,
            &[pb::LawfulBasis::CrimeAndDisorder],
            Body::ReleaseFromCustody(body),
        );
        if (10..=17).contains(&age) {
            self.index(child, self.day, sentence);
        }
        self.with_notes(e, child, "notes", &[], 0.0)
    }

    /// An offence `child` committed at `committed` (after the outcome or
    /// release for `original`), proven today: mostly by a caution or
    /// conviction here while they are a child (a new outcome, which the YOT
    /// sometimes also records as a re-offence naming it); otherwise elsewhere
    /// (an adult court, another area), known here only from the YOT's
    /// re-offence record.
    fn proof(&mut self, yot: &AgencyId, child: usize, committed: Timestamp, original: Original) -> Vec<pb::Event> {
        let c = &mut self.cohort.children[child];
        c.further_offences = c.further_offences.saturating_sub(1);
        let at = self.at();
        let outcome = if self.rng.gen_bool(0.75) { self.outcome(yot, child, at, committed, true) } else { None };
        let proven_by = outcome.as_ref().map(|o| o.event_id.clone());
        if proven_by.is_none() {
            let key = self.cohort.children[child].key.clone();
            self.truth.proven(&key, self.day_of(committed), self.day);
        }
        let mut out: Vec<pb::Event> = outcome.into_iter().collect();
        if proven_by.is_some() && !self.rng.gen_bool(0.5) {
            return out;
        }
        let body = pb::Reoffence {
            original_event_id: original.event_id,
            original_offence_date: Some(ts(original.offence)),
            reoffence_date: Some(ts(committed)),
            offence_category: ["robbery", "theft", "drug_supply", "violence_against_the_person"]
                .choose(&mut self.rng)
                .copied()
                .unwrap_or("theft")
                .into(),
            proven_date: Some(ts(at)),
            proven_by_event_id: proven_by.unwrap_or_default(),
        };
        let ward = self.cohort.children[child].ward.clone();
        let key = self.cohort.children[child].key.clone();
        // Recorded a day or two after it was proven.
        let lag = at.duration_since(committed) + SignedDuration::from_hours(self.rng.gen_range(4..48));
        let e = self.event(
            yot,
            vec![person(&key)],
            committed,
            lag,
            &ward,
            &[pb::LawfulBasis::CrimeAndDisorder],
            Body::Reoffence(body),
        );
        out.push(self.with_notes(e, child, "notes", &[], 0.0));
        out
    }

    fn asset_plus(&mut self, yot: &AgencyId) -> pb::Event {
        let child = self.cohort.pick(&mut self.rng);
        let rosh = weighted(
            &mut self.rng,
            &[
                (pb::RiskLevel::Low, 0.4),
                (pb::RiskLevel::Medium, 0.4),
                (pb::RiskLevel::High, 0.15),
                (pb::RiskLevel::VeryHigh, 0.05),
            ],
        );
        let body = pb::AssetPlusRating {
            intervention_level: weighted(
                &mut self.rng,
                &[
                    (pb::InterventionLevel::Standard, 0.5),
                    (pb::InterventionLevel::Enhanced, 0.35),
                    (pb::InterventionLevel::Intensive, 0.15),
                ],
            ) as i32,
            risk_of_serious_harm: rosh as i32,
            vulnerability: weighted(
                &mut self.rng,
                &[(pb::RiskLevel::Low, 0.3), (pb::RiskLevel::Medium, 0.45), (pb::RiskLevel::High, 0.25)],
            ) as i32,
            mappa_screening: rosh >= pb::RiskLevel::High,
        };
        let at = self.at();
        let ward = self.cohort.children[child].ward.clone();
        let key = self.cohort.children[child].key.clone();
        let e = self.event(
            yot,
            vec![person(&key)],
            at,
            days(3),
            &ward,
            &[pb::LawfulBasis::CrimeAndDisorder, pb::LawfulBasis::Safeguarding],
            Body::AssetPlusRating(body),
        );
        self.with_notes(e, child, "notes", &[], 0.0)
    }

    /// A consent for `child` recorded by `by`, if none is in force; returns the event.
    fn ensure_consent(&mut self, by: &AgencyId, child: usize, before: Timestamp) -> Option<pb::Event> {
        if self.cohort.children[child].consent.is_some() {
            return None;
        }
        let consent_id = format!("C-{:08x}", self.rng.r#gen::<u32>());
        let age = self.age_on(child, self.day_of(before));
        let body = pb::ConsentRecorded {
            consent_id: consent_id.clone(),
            given_by: if age >= 13 { pb::ConsentGiver::Child } else { pb::ConsentGiver::ParentCarer } as i32,
            agency_kinds: vec![
                pb::AgencyKind::Camhs as i32,
                pb::AgencyKind::Vcs as i32,
                pb::AgencyKind::ChildrensServices as i32,
            ],
            agency_ids: vec![],
            purposes: vec![
                pb::Purpose::Safeguarding as i32,
                pb::Purpose::CaseManagement as i32,
                pb::Purpose::DirectCare as i32,
            ],
            expires_at: None,
        };
        self.cohort.children[child].consent = Some(consent_id.clone());
        self.cohort.children[child].consent_by = Some(by.clone());
        let ward = self.cohort.children[child].ward.clone();
        let key = self.cohort.children[child].key.clone();
        let at = before - SignedDuration::from_mins(self.rng.gen_range(5..120));
        let mut e = self.event(
            by,
            vec![person(&key)],
            at,
            SignedDuration::from_mins(5),
            &ward,
            &[pb::LawfulBasis::Consent],
            Body::ConsentRecorded(body),
        );
        e.consent_ref = consent_id;
        Some(self.with_notes(e, child, "notes", &[], 0.0))
    }

    /// Sometimes withdraws the child's consent after it was relied on,
    /// through the agency that recorded it (only it may).
    fn maybe_withdraw(&mut self, child: usize, after: Timestamp) -> Option<pb::Event> {
        if !self.rng.gen_bool(rates::CONSENT_WITHDRAWAL) {
            return None;
        }
        let consent_id = self.cohort.children[child].consent.take()?;
        let by = self.cohort.children[child].consent_by.take()?;
        let ward = self.cohort.children[child].ward.clone();
        let key = self.cohort.children[child].key.clone();
        let at = after + SignedDuration::from_mins(self.rng.gen_range(30..600));
        let mut e = self.event(
            &by,
            vec![person(&key)],
            at,
            SignedDuration::from_mins(5),
            &ward,
            &[pb::LawfulBasis::Consent],
            Body::ConsentWithdrawn(pb::ConsentWithdrawn { consent_id: consent_id.clone() }),
        );
        e.consent_ref = consent_id;
        Some(self.with_notes(e, child, "notes", &[], 0.0))
    }

    fn camhs(&mut self, camhs: &AgencyId) -> Vec<pb::Event> {
        let child = self.cohort.pick(&mut self.rng);
        let at = self.at();
        let mut out = Vec::new();
        let by_consent = self.rng.gen_bool(0.6);
        if by_consent {
            out.extend(self.ensure_consent(camhs, child, at));
        }
        let body = pb::CamhsContact {
            stage: weighted(
                &mut self.rng,
                &[
                    (pb::CamhsStage::Referral, 0.3),
                    (pb::CamhsStage::Screening, 0.2),
                    (pb::CamhsStage::Assessment, 0.2),
                    (pb::CamhsStage::Treatment, 0.25),
                    (pb::CamhsStage::Discharge, 0.05),
                ],
            ) as i32,
            outcome: weighted(
                &mut self.rng,
                &[
                    (pb::EngagementOutcome::Engaged, 0.5),
                    (pb::EngagementOutcome::DidNotAttend, 0.2),
                    (pb::EngagementOutcome::Declined, 0.1),
                    (pb::EngagementOutcome::Ongoing, 0.2),
                ],
            ) as i32,
        };
        let ward = self.cohort.children[child].ward.clone();
        let key = self.cohort.children[child].key.clone();
        let basis = if by_consent { pb::LawfulBasis::Consent } else { pb::LawfulBasis::Safeguarding };
        let mut e = self.event(camhs, vec![person(&key)], at, days(1), &ward, &[basis], Body::CamhsContact(body));
        e.classification = pb::Classification::SpecialCategory as i32;
        if by_consent {
            e.consent_ref = self.cohort.children[child].consent.clone().unwrap_or_default();
        }
        out.push(self.with_notes(
            e,
            child,
            "notes",
            &[
                "Low mood and poor sleep; school refusal since half term.",
                "Disclosed fear of older boys on the estate.",
            ],
            0.7,
        ));
        if by_consent {
            out.extend(self.maybe_withdraw(child, at));
        }
        out
    }

    fn vcs(&mut self, vcs: &AgencyId) -> Vec<pb::Event> {
        let child = self.cohort.pick(&mut self.rng);
        let at = self.at();
        let mut out: Vec<pb::Event> = self.ensure_consent(vcs, child, at).into_iter().collect();
        let body = pb::VcsEngagement {
            programme: ["gang_exit", "mentoring", "substance_misuse", "sport_and_youth_work", "exploitation_support"]
                .choose(&mut self.rng)
                .copied()
                .unwrap_or("mentoring")
                .into(),
            sessions: self.rng.gen_range(1..13),
            outcome: weighted(
                &mut self.rng,
                &[
                    (pb::EngagementOutcome::Engaged, 0.5),
                    (pb::EngagementOutcome::Declined, 0.15),
                    (pb::EngagementOutcome::Completed, 0.2),
                    (pb::EngagementOutcome::Ongoing, 0.15),
                ],
            ) as i32,
        };
        let ward = self.cohort.children[child].ward.clone();
        let key = self.cohort.children[child].key.clone();
        let mut e = self.event(
            vcs,
            vec![person(&key)],
            at,
            days(2),
            &ward,
            &[pb::LawfulBasis::Consent],
            Body::VcsEngagement(body),
        );
        e.consent_ref = self.cohort.children[child].consent.clone().unwrap_or_default();
        out.push(self.with_notes(
            e,
            child,
            "notes",
            &["Attended the boxing session and stayed for the mentoring chat."],
            0.4,
        ));
        out.extend(self.maybe_withdraw(child, at));
        out
    }

    fn briefing_item(&mut self, cs: &AgencyId, owners: &[&AgencyId]) -> pb::Event {
        let n = self.rng.gen_range(1..=3);
        let children: Vec<usize> = (0..n).map(|_| self.cohort.pick(&mut self.rng)).collect();
        let mut subjects: Vec<pb::SubjectRef> = Vec::new();
        for c in &children {
            let s = person(&self.cohort.children[*c].key);
            if !subjects.contains(&s) {
                subjects.push(s);
            }
        }
        let ward = self.cohort.children[children[0]].ward.clone();
        let minute = self.rng.gen_range(0..60);
        let at = self.local(self.day, 9, minute, 0);
        let mut actions = Vec::new();
        let mut plans = Vec::new();
        // Most of an item's actions are reported finished at one later
        // briefing, about when they are due (some late); some are reported
        // taken up first; a few are cancelled.
        let due = self.day.saturating_add(self.rng.gen_range(1..8).days());
        let finished = due.saturating_add(self.rng.gen_range(-1..=3).days()).max(self.day.saturating_add(1.day()));
        let started = self.rng.gen_bool(0.2).then(|| self.day.saturating_add(1.day())).filter(|s| *s < finished);
        for i in 0..self.rng.gen_range(0..=3) {
            actions.push(pb::BriefingAction {
                action_id: format!("A{}-{i}", self.counter + 1),
                owner_agency_id: owners.choose(&mut self.rng).map(|a| a.to_string()).unwrap_or_default(),
                due: Some(ts(self.local(due, 17, 0, 0))),
                status: pb::ActionStatus::Open as i32,
            });
            let ends = if self.rng.gen_bool(0.1) { pb::ActionStatus::Cancelled } else { pb::ActionStatus::Done };
            plans.push(ActionPlan { started, finished, ends });
        }
        let item = pb::VveBriefingItem {
            item_id: format!("VVE-{:06}", self.counter + 1),
            area: ward.clone(),
            risk: weighted(
                &mut self.rng,
                &[
                    (pb::RiskLevel::Low, 0.2),
                    (pb::RiskLevel::Medium, 0.45),
                    (pb::RiskLevel::High, 0.3),
                    (pb::RiskLevel::VeryHigh, 0.05),
                ],
            ) as i32,
            actions,
        };
        let share_with = owners
            .iter()
            .filter(|a| a.kind() == pb::AgencyKind::Vcs && self.rng.gen_bool(0.3))
            .map(|a| a.to_string())
            .collect::<Vec<_>>();
        let mut e = self.event(
            cs,
            subjects.clone(),
            at,
            SignedDuration::from_mins(30),
            &ward,
            &[pb::LawfulBasis::Safeguarding, pb::LawfulBasis::CrimeAndDisorder],
            Body::VveBriefingItem(item.clone()),
        );
        e.share_with = share_with.clone();
        let mut personal =
            pb::Personal { identities: children.iter().map(|c| self.identity(*c)).collect(), text: HashMap::new() };
        personal.identities.dedup_by(|a, b| a.subject_key == b.subject_key);
        let summary = [
            "Group seen on the {ward} estate late at night; one known to be missing.",
            "Fight outside the chicken shop in {ward}; knife recovered.",
            "Suspected cuckooing at an address in {ward}; vulnerable adult tenant.",
        ]
        .choose(&mut self.rng)
        .copied()
        .unwrap_or_default()
        .replace("{ward}", &ward);
        personal.text.insert("incident_summary".into(), summary);
        e.personal = Some(personal);
        if !plans.is_empty() {
            self.items.push(OpenItem { item, subjects, ward, share_with, plans });
        }
        e
    }

    /// Today's updates of open briefing items: each item whose actions were
    /// taken up or finished since it was last published, with their new
    /// statuses, as the VVE team records them at the briefing. (Owners may
    /// publish their own actions' updates, but only once the item is in the
    /// log, and a simulation published at speed from several nodes gives no
    /// such order between agencies.) An item whose actions are all finished
    /// is closed.
    fn briefing_updates(&mut self, cs: &AgencyId) -> Vec<pb::Event> {
        let today = self.day;
        let mut updates = Vec::new();
        for open in &mut self.items {
            let mut changed = false;
            for (action, plan) in open.item.actions.iter_mut().zip(&open.plans) {
                let status = plan.status_on(today) as i32;
                changed |= action.status != status;
                action.status = status;
            }
            if changed {
                updates.push(open.clone());
            }
        }
        self.items.retain(|open| {
            open.item
                .actions
                .iter()
                .any(|a| [pb::ActionStatus::Open as i32, pb::ActionStatus::InProgress as i32].contains(&a.status))
        });
        let minute = self.rng.gen_range(0..60);
        let at = self.local(self.day, 10, minute, 0);
        updates.into_iter().map(|open| self.briefing_update(cs, at, open)).collect()
    }

    /// `open`'s new state, published by `by` at `at`.
    fn briefing_update(&mut self, by: &AgencyId, at: Timestamp, open: OpenItem) -> pb::Event {
        let mut e = self.event(
            by,
            open.subjects,
            at,
            SignedDuration::from_mins(10),
            &open.ward,
            &[pb::LawfulBasis::Safeguarding, pb::LawfulBasis::CrimeAndDisorder],
            Body::VveBriefingItem(open.item),
        );
        e.share_with = open.share_with;
        e
    }
}
