//! The day-by-day generator.

use std::collections::HashMap;

use concord_core::AgencyId;
use concord_core::pb::{self, event::Body};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use time::{Duration, OffsetDateTime};

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
}

/// Generates a borough's events, one day at a time, deterministically.
pub struct Simulator {
    config: BoroughConfig,
    rng: ChaCha8Rng,
    day: OffsetDateTime,
    cohort: Cohort,
    by_kind: HashMap<pb::AgencyKind, AgencyId>,
    items: Vec<OpenItem>,
    counter: u64,
    truth: GroundTruth,
}

fn ts(t: OffsetDateTime) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp { seconds: t.unix_timestamp(), nanos: 0 }
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
    pub fn new(config: BoroughConfig, seed: u64, start: OffsetDateTime) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let day = start.date().midnight().assume_utc();
        let cohort = Cohort::generate(&mut rng, rates::COHORT, &config.wards, day.date());
        let mut by_kind = HashMap::new();
        for a in &config.agencies {
            by_kind.entry(a.kind()).or_insert_with(|| a.clone());
        }
        let truth = GroundTruth::new(day.date(), config.children);
        Simulator { config, rng, day, cohort, by_kind, items: Vec::new(), counter: 0, truth }
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

    fn at(&mut self) -> OffsetDateTime {
        self.day + Duration::seconds(self.rng.gen_range(0..86_400))
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
        occurred: OffsetDateTime,
        lag: Duration,
        ward: &str,
        bases: &[pb::LawfulBasis],
        body: Body,
    ) -> pb::Event {
        self.counter += 1;
        let mut random = [0u8; 10];
        self.rng.fill(&mut random);
        let millis = (occurred.unix_timestamp() as u64) * 1000 + self.counter % 1000;
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
            self.day += Duration::days(1);
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
            out.extend(self.outcome(&yot));
        }
        for _ in 0..self.count(rates::REOFFENCES) {
            out.extend(self.reoffence(&yot));
        }
        for _ in 0..self.count(rates::ASSET_PLUS_RATINGS) {
            out.push(self.asset_plus(&yot));
        }
        for _ in 0..self.count(rates::CAMHS_CONTACTS) {
            out.extend(self.camhs(&camhs));
        }
        for _ in 0..self.count(rates::VCS_ENGAGEMENTS) {
            out.extend(self.vcs(&vcs));
        }
        if self.day.weekday().number_from_monday() <= 5 {
            let (lo, hi) = rates::BRIEFING_ITEMS_PER_WEEKDAY;
            let n = ((self.rng.gen_range(lo..=hi) as f64) * self.config.scale).round() as u32;
            for _ in 0..n {
                out.push(self.briefing_item(&cs, &[&police, &yot, &vcs, &camhs]));
            }
            if !self.items.is_empty() && self.rng.gen_bool(0.5) {
                out.push(self.briefing_update(&cs));
            }
        }
        out.sort_by_key(|e| e.occurred_at.map(|t| t.seconds));
        for event in &out {
            self.truth.add(event);
        }
        self.truth.last_day = self.day.date().to_string();
        self.day += Duration::days(1);
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
        let lag = Duration::minutes(self.rng.gen_range(20..600));
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
        let lag = Duration::minutes(self.rng.gen_range(10..240));
        let body = Body::StopAndSearch(pb::StopAndSearch { grounds: grounds as i32, find, outcome: outcome as i32 });
        let e = self.event(police, subjects, at, lag, &ward, &[pb::LawfulBasis::CrimeAndDisorder], body);
        self.with_notes(e, child, "notes", &[], 0.0)
    }

    fn missing(&mut self, by: &AgencyId) -> pb::Event {
        // Repeat missing: draw twice and keep the more frequently seen child.
        let (a, b) = (self.cohort.pick(&mut self.rng), self.cohort.pick(&mut self.rng));
        let child = if self.cohort.children[a].weight >= self.cohort.children[b].weight { a } else { b };
        let reported = self.at();
        let returned = reported + Duration::minutes(self.rng.gen_range(120..4320));
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
            Duration::minutes(30),
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
        let decided = at + Duration::hours(self.rng.gen_range(2..24));
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
            Duration::hours(24),
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
        let e = self.event(by, subjects, at, Duration::hours(6), &ward, &[pb::LawfulBasis::Safeguarding, basis], body);
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
        let e =
            self.event(cs, vec![person(&key)], at, Duration::days(1), &ward, &[pb::LawfulBasis::Safeguarding], body);
        self.with_notes(e, child, "notes", &[], 0.0)
    }

    fn age_on(&self, child: usize, at: OffsetDateTime) -> u32 {
        let dob = self.cohort.children[child].date_of_birth;
        let mut age = at.year() - dob.year();
        if (at.month() as u8, at.day()) < (dob.month() as u8, dob.day()) {
            age -= 1;
        }
        age.max(0) as u32
    }

    fn outcome(&mut self, yot: &AgencyId) -> Option<pb::Event> {
        let child = self.cohort.pick(&mut self.rng);
        let at = self.at();
        let offence = at - Duration::days(self.rng.gen_range(7..90));
        let age = self.age_on(child, offence);
        if !(10..=17).contains(&age) {
            return None;
        }
        let custody = rates::CUSTODY_SHARE;
        let disposal = weighted(
            &mut self.rng,
            &[
                (pb::Disposal::Triage, 0.15),
                (pb::Disposal::CommunityResolution, 0.2),
                (pb::Disposal::YouthCaution, 0.15),
                (pb::Disposal::YouthConditionalCaution, 0.1),
                (pb::Disposal::ReferralOrder, 0.2),
                (pb::Disposal::YouthRehabilitationOrder, 0.13),
                (pb::Disposal::Custody, custody),
                (pb::Disposal::Remand, 0.015),
            ],
        );
        let formal =
            !matches!(disposal, pb::Disposal::Triage | pb::Disposal::CommunityResolution | pb::Disposal::Remand);
        let c = &mut self.cohort.children[child];
        let fte = formal && c.outcomes == 0;
        c.outcomes += 1;
        c.first_offence.get_or_insert(offence);
        let (gender, ethnicity, ward, key) = (c.gender, c.ethnicity, c.ward.clone(), c.key.clone());
        let body = pb::YouthJusticeOutcome {
            disposal: disposal as i32,
            first_time_entrant: fte,
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
        let lag = Duration::days(self.rng.gen_range(1..30));
        let e = self.event(
            yot,
            vec![person(&key)],
            at,
            lag,
            &ward,
            &[pb::LawfulBasis::CrimeAndDisorder],
            Body::YouthJusticeOutcome(body),
        );
        Some(self.with_notes(e, child, "notes", &[], 0.0))
    }

    fn reoffence(&mut self, yot: &AgencyId) -> Option<pb::Event> {
        let known: Vec<usize> =
            (0..self.cohort.children.len()).filter(|i| self.cohort.children[*i].first_offence.is_some()).collect();
        let child = *known.choose(&mut self.rng)?;
        let original = self.cohort.children[child].first_offence?;
        let at = self.at();
        let body = pb::Reoffence {
            original_event_id: String::new(),
            original_offence_date: Some(ts(original)),
            reoffence_date: Some(ts(at)),
            offence_category: ["robbery", "theft", "drug_supply", "violence_against_the_person"]
                .choose(&mut self.rng)
                .copied()
                .unwrap_or("theft")
                .into(),
            // Proven (and recorded) two weeks later.
            proven_date: Some(ts(at + Duration::days(14))),
            proven_by_event_id: String::new(),
        };
        let ward = self.cohort.children[child].ward.clone();
        let key = self.cohort.children[child].key.clone();
        let e = self.event(
            yot,
            vec![person(&key)],
            at,
            Duration::days(14),
            &ward,
            &[pb::LawfulBasis::CrimeAndDisorder],
            Body::Reoffence(body),
        );
        Some(self.with_notes(e, child, "notes", &[], 0.0))
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
            Duration::days(3),
            &ward,
            &[pb::LawfulBasis::CrimeAndDisorder, pb::LawfulBasis::Safeguarding],
            Body::AssetPlusRating(body),
        );
        self.with_notes(e, child, "notes", &[], 0.0)
    }

    /// A consent for `child` recorded by `by`, if none is in force; returns the event.
    fn ensure_consent(&mut self, by: &AgencyId, child: usize, before: OffsetDateTime) -> Option<pb::Event> {
        if self.cohort.children[child].consent.is_some() {
            return None;
        }
        let consent_id = format!("C-{:08x}", self.rng.r#gen::<u32>());
        let age = self.age_on(child, before);
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
        let at = before - Duration::minutes(self.rng.gen_range(5..120));
        let mut e = self.event(
            by,
            vec![person(&key)],
            at,
            Duration::minutes(5),
            &ward,
            &[pb::LawfulBasis::Consent],
            Body::ConsentRecorded(body),
        );
        e.consent_ref = consent_id;
        Some(self.with_notes(e, child, "notes", &[], 0.0))
    }

    /// Sometimes withdraws the child's consent after it was relied on,
    /// through the agency that recorded it (only it may).
    fn maybe_withdraw(&mut self, child: usize, after: OffsetDateTime) -> Option<pb::Event> {
        if !self.rng.gen_bool(rates::CONSENT_WITHDRAWAL) {
            return None;
        }
        let consent_id = self.cohort.children[child].consent.take()?;
        let by = self.cohort.children[child].consent_by.take()?;
        let ward = self.cohort.children[child].ward.clone();
        let key = self.cohort.children[child].key.clone();
        let at = after + Duration::minutes(self.rng.gen_range(30..600));
        let mut e = self.event(
            &by,
            vec![person(&key)],
            at,
            Duration::minutes(5),
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
        let mut e =
            self.event(camhs, vec![person(&key)], at, Duration::days(1), &ward, &[basis], Body::CamhsContact(body));
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
            Duration::days(2),
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
        let at = self.day + Duration::hours(9) + Duration::minutes(self.rng.gen_range(0..60));
        let actions = (0..self.rng.gen_range(0..=3))
            .map(|i| pb::BriefingAction {
                action_id: format!("A{}-{i}", self.counter + 1),
                owner_agency_id: owners.choose(&mut self.rng).map(|a| a.to_string()).unwrap_or_default(),
                due: Some(ts(at + Duration::days(self.rng.gen_range(1..8)))),
                status: pb::ActionStatus::Open as i32,
            })
            .collect();
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
            Duration::minutes(30),
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
        self.items.push(OpenItem { item, subjects, ward, share_with });
        if self.items.len() > 40 {
            self.items.remove(0);
        }
        e
    }

    fn briefing_update(&mut self, cs: &AgencyId) -> pb::Event {
        let i = self.rng.gen_range(0..self.items.len());
        let mut open = self.items[i].clone();
        for action in &mut open.item.actions {
            if self.rng.gen_bool(0.5) {
                action.status = if action.status == pb::ActionStatus::Open as i32 {
                    pb::ActionStatus::InProgress
                } else {
                    pb::ActionStatus::Done
                } as i32;
            }
        }
        self.items[i] = open.clone();
        let at = self.day + Duration::hours(10);
        let mut e = self.event(
            cs,
            open.subjects.clone(),
            at,
            Duration::minutes(10),
            &open.ward,
            &[pb::LawfulBasis::Safeguarding, pb::LawfulBasis::CrimeAndDisorder],
            Body::VveBriefingItem(open.item),
        );
        e.share_with = open.share_with;
        e
    }
}
