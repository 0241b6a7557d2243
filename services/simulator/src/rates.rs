//! Yearly event volumes for one borough at scale 1.0, from domain.md
//! ("Volumes" and the borough figures under "Analytics"). The simulator draws
//! each day's count from these, so a simulated year lands near them.

/// MASH referrals (over 1,000 children's social care referrals a year involve domestic abuse alone).
pub const MASH_REFERRALS: f64 = 1_200.0;
/// Arrests of children.
pub const ARRESTS: f64 = 420.0;
/// Stop and searches of children.
pub const STOP_AND_SEARCHES: f64 = 900.0;
/// Missing episodes (a minority of children account for most).
pub const MISSING_EPISODES: f64 = 450.0;
/// Exploitation concerns (one borough: 18 CSE cases; CCE/county lines more common).
pub const EXPLOITATION_CONCERNS: f64 = 160.0;
/// NRM referrals (one borough: 16 a year).
pub const NRM_REFERRALS: f64 = 16.0;
/// Youth justice outcomes for new offences (140-165 new YOT interventions a
/// year, with the outcomes for further offences below; 40-75 first-time
/// entrants).
pub const YOUTH_JUSTICE_OUTCOMES: f64 = 140.0;
/// Share of outcomes that are custodial (borough custody: 7-9 a year).
pub const CUSTODY_SHARE: f64 = 0.055;
/// Chance that a child cautioned, convicted to a community sentence or
/// released from custody goes on to further offences in the next year (with
/// the new offences drawn above, reoffending rates of 20-40% of a cohort).
pub const FURTHER_OFFENDING: f64 = 0.2;
/// Further offences of a child who goes on offending, beyond the first, on
/// average (Harrow: 2.78 re-offences per reoffender).
pub const MORE_FURTHER_OFFENCES: f64 = 2.0;
/// AssetPlus ratings (one per intervention).
pub const ASSET_PLUS_RATINGS: f64 = 150.0;
/// CAMHS contacts of children in the cohort.
pub const CAMHS_CONTACTS: f64 = 300.0;
/// VCS programme engagements.
pub const VCS_ENGAGEMENTS: f64 = 260.0;
/// VVE briefing items per weekday (domain.md: perhaps 5-20).
pub const BRIEFING_ITEMS_PER_WEEKDAY: (u32, u32) = (5, 20);
/// Children at risk followed by the partnership (YOT caseload 58-98 at a time,
/// a third also known to children's services; MARAC ~260 cases a year).
pub const COHORT: usize = 600;
/// Share of consents later withdrawn.
pub const CONSENT_WITHDRAWAL: f64 = 0.05;
