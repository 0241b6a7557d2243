//! Coded categories: the fixed vocabulary of each free string field of an
//! event body, so that what reaches an analyst is a code, never free text.
//!
//! Publishers may write anything in these fields (an offence category is
//! meant to be a Home Office category, a programme a short name, but nothing
//! stops "robbery of Jo's phone on Acacia Road"). [`code`] maps a value to
//! its field's vocabulary: the value itself when, normalised (trimmed,
//! lowercased, spaces and hyphens as `_`), it is a word of the vocabulary;
//! [`OTHER`] for anything else; empty stays empty (not recorded).

/// The code of every value outside a field's vocabulary.
pub const OTHER: &str = "other";

/// Offence categories (`Arrest.offence_category`,
/// `YouthJusticeOutcome.main_offence`, `Reoffence.offence_category`): the
/// Home Office's recorded-crime groups and the finer categories the youth
/// justice returns use.
pub const OFFENCES: &[&str] = &[
    "arson",
    "burglary",
    "criminal_damage",
    "domestic_burglary",
    "drug_possession",
    "drug_supply",
    "fraud",
    "homicide",
    "breach_of_order",
    "motoring_offences",
    "possession_of_weapons",
    "public_order_offences",
    "robbery",
    "sexual_offences",
    "shoplifting",
    "stalking_and_harassment",
    "theft",
    "vehicle_offences",
    "violence_against_the_person",
    "violence_with_injury",
    "violence_without_injury",
    "miscellaneous_crimes_against_society",
];

/// VCS programmes (`VcsEngagement.programme`).
pub const PROGRAMMES: &[&str] = &[
    "education_training_employment",
    "exploitation_support",
    "family_support",
    "gang_exit",
    "mental_health_support",
    "mentoring",
    "parenting",
    "sport_and_youth_work",
    "substance_misuse",
    "victim_support",
];

/// `value` normalised for comparison with a vocabulary.
fn normalise(value: &str) -> String {
    value.trim().to_lowercase().replace([' ', '-'], "_")
}

/// The code of `value` in `vocabulary`: the vocabulary's word, [`OTHER`], or
/// empty when nothing was recorded.
pub fn code(vocabulary: &[&str], value: &str) -> String {
    let value = normalise(value);
    if value.is_empty() {
        return String::new();
    }
    vocabulary.iter().find(|word| **word == value).map_or(OTHER, |word| *word).to_string()
}

/// The code of a place named in a body (`VveBriefingItem.area`,
/// `MissingEpisode.found_ward`): the event's own `ward` when it names that
/// ward (so it adds nothing the envelope does not already say), else
/// [`OTHER`]; empty stays empty.
pub fn place(value: &str, ward: &str) -> String {
    let value = normalise(value);
    if value.is_empty() {
        String::new()
    } else if !ward.trim().is_empty() && value == normalise(ward) {
        ward.trim().to_string()
    } else {
        OTHER.to_string()
    }
}

/// The code of an agency named in a body (`MashReferral.referrer_agency_id`,
/// `BriefingAction.owner_agency_id`): its kind (e.g. `police`), or [`OTHER`]
/// when it is not an agency id; empty stays empty.
pub fn agency(value: &str) -> String {
    if value.trim().is_empty() {
        return String::new();
    }
    crate::AgencyId::parse(value.trim())
        .map_or_else(|_| OTHER.to_string(), |id| crate::ids::agency_kind_name(id.kind()).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_strings_become_codes() {
        assert_eq!(code(OFFENCES, " Possession of Weapons "), "possession_of_weapons");
        assert_eq!(code(OFFENCES, "drug-supply"), "drug_supply");
        assert_eq!(code(OFFENCES, "robbery of Jo's phone on Acacia Road"), OTHER);
        assert_eq!(code(PROGRAMMES, "gang_exit"), "gang_exit");
        assert_eq!(code(PROGRAMMES, "Jo's weekly chat"), OTHER);
        assert_eq!(code(PROGRAMMES, "  "), "");
        assert_eq!(place("wealdstone", "Wealdstone"), "Wealdstone");
        assert_eq!(place("12 Acacia Road", "Wealdstone"), OTHER);
        assert_eq!(place("Wealdstone", ""), OTHER);
        assert_eq!(agency("police.met.nw"), "police");
        assert_eq!(agency("Jo Bloggs"), OTHER);
        for vocabulary in [OFFENCES, PROGRAMMES] {
            for word in vocabulary {
                assert_eq!(code(vocabulary, word), *word, "a vocabulary's words are normal");
            }
        }
    }
}
