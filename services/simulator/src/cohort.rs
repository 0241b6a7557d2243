//! The children the simulated agencies know, and the places they are seen.

use jiff::ToSpan;
use jiff::civil::Date;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use concord_core::pb;

const FIRST_NAMES: &[&str] = &[
    "Amir", "Ayesha", "Bailey", "Chloe", "Daniel", "Deshawn", "Ella", "Femi", "Grace", "Hassan", "Imani", "Jayden",
    "Kacper", "Leah", "Malik", "Maya", "Nathan", "Olivia", "Priya", "Reuben", "Sade", "Tariq", "Tyler", "Zara", "Kofi",
    "Ellie", "Ryan", "Amara", "Luca", "Nia",
];
const SURNAMES: &[&str] = &[
    "Ahmed", "Baker", "Campbell", "Davies", "Evans", "Francis", "Grant", "Hussain", "Ibrahim", "Johnson", "Kowalski",
    "Lewis", "Mensah", "Nowak", "Okafor", "Patel", "Quinn", "Robinson", "Shah", "Thompson", "Walker", "Williams",
    "Yusuf", "Clarke",
];
const STREETS: &[&str] = &[
    "Station Road",
    "High Street",
    "Wealdstone Parade",
    "Marlborough Hill",
    "Headstone Drive",
    "Kenton Lane",
    "Pinner Road",
    "Whitchurch Lane",
    "Alexandra Avenue",
    "Northolt Road",
];

/// A child known to the partnership.
#[derive(Debug, Clone)]
pub struct Child {
    /// Pseudonymous key, e.g. `P-3fa2c91d`.
    pub key: String,
    /// Fictional name.
    pub name: String,
    /// Date of birth.
    pub date_of_birth: Date,
    /// Gender.
    pub gender: pb::Gender,
    /// Ethnic group.
    pub ethnicity: pb::Ethnicity,
    /// Home ward.
    pub ward: String,
    /// How often agencies meet this child (heavy-tailed: a few children account for much of the work).
    pub weight: f64,
    /// The day of their first caution or conviction, if they have had one.
    pub first_caution_or_conviction: Option<Date>,
    /// Further offences the simulation has in store for them (committed
    /// after a caution, conviction or release, proven later).
    pub further_offences: u32,
    /// The day of their latest youth justice outcome.
    pub last_outcome: Option<Date>,
    /// Consent in force, if any.
    pub consent: Option<String>,
    /// The agency that recorded that consent: only it may withdraw it.
    pub consent_by: Option<concord_core::AgencyId>,
    /// Whether this child has been arrested before.
    pub arrested: bool,
}

/// The cohort and the places they are seen.
#[derive(Debug, Clone)]
pub struct Cohort {
    /// Children at risk.
    pub children: Vec<Child>,
    /// Place keys and their ward, e.g. (`L-9c1d2e`, "Wealdstone").
    pub places: Vec<(String, String)>,
    cumulative: Vec<f64>,
}

fn key(rng: &mut ChaCha8Rng, prefix: &str) -> String {
    format!("{prefix}-{:08x}", rng.r#gen::<u32>())
}

impl Cohort {
    /// A cohort of `size` children living in `wards`, aged 10-17 on `today`.
    pub fn generate(rng: &mut ChaCha8Rng, size: usize, wards: &[String], today: Date) -> Cohort {
        let ethnicities = [
            (pb::Ethnicity::White, 0.36),
            (pb::Ethnicity::Asian, 0.38),
            (pb::Ethnicity::Black, 0.13),
            (pb::Ethnicity::Mixed, 0.07),
            (pb::Ethnicity::Other, 0.06),
        ];
        let mut children = Vec::with_capacity(size);
        for _ in 0..size {
            let age_days = rng.gen_range(10 * 365..18 * 365 - 1);
            let roll: f64 = rng.r#gen();
            let mut acc = 0.0;
            let ethnicity = ethnicities
                .iter()
                .find(|(_, p)| {
                    acc += p;
                    roll < acc
                })
                .map_or(pb::Ethnicity::Other, |(e, _)| *e);
            children.push(Child {
                key: key(rng, "P"),
                name: format!(
                    "{} {}",
                    FIRST_NAMES.choose(rng).unwrap_or(&"Alex"),
                    SURNAMES.choose(rng).unwrap_or(&"Smith")
                ),
                date_of_birth: today.saturating_sub(age_days.days()),
                gender: if rng.gen_bool(0.7) { pb::Gender::Male } else { pb::Gender::Female },
                ethnicity,
                ward: wards.choose(rng).cloned().unwrap_or_default(),
                // Pareto-like: weight = u^-1.2, capped.
                weight: rng.gen_range(0.02f64..1.0).powf(-1.2).min(60.0),
                first_caution_or_conviction: None,
                further_offences: 0,
                last_outcome: None,
                consent: None,
                consent_by: None,
                arrested: false,
            });
        }
        let places = (0..size / 6).map(|_| (key(rng, "L"), wards.choose(rng).cloned().unwrap_or_default())).collect();
        let mut total = 0.0;
        let cumulative = children
            .iter()
            .map(|c| {
                total += c.weight;
                total
            })
            .collect();
        Cohort { children, places, cumulative }
    }

    /// A child drawn by weight (the frequently seen are drawn often).
    pub fn pick(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.gen_range(0.0..total.max(f64::MIN_POSITIVE));
        self.cumulative.partition_point(|c| *c <= x).min(self.children.len().saturating_sub(1))
    }

    /// A fictional address in a street of the borough.
    pub fn address(rng: &mut ChaCha8Rng) -> String {
        format!("{} {}", rng.gen_range(1..200), STREETS.choose(rng).unwrap_or(&"High Street"))
    }
}
