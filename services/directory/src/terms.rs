//! Which terms an identity is indexed under, and which a search looks up,
//! each with the field it answers and how closely it matches.

use concord_core::pb::{self, MatchField, MatchHow};
use rphonetic::DoubleMetaphone;

use crate::key::Label;
use crate::nicknames::formal_names;
use crate::normal::{Address, DateOfBirth, Identifier, Name, Postcode, Registration};

/// A folded term under its label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Term {
    /// What it stands for.
    pub label: Label,
    /// Its folded text.
    pub text: String,
}

fn term(label: Label, text: impl Into<String>) -> Term {
    Term { label, text: text.into() }
}

/// The sounds of a name part: its Double Metaphone codes (primary, and
/// alternate when different).
fn sounds(part: &str) -> Vec<String> {
    let codes = DoubleMetaphone::default().double_metaphone(part);
    let (primary, alternate) = (codes.primary(), codes.alternate());
    let mut out = vec![primary.clone()];
    if alternate != primary && !alternate.is_empty() {
        out.push(alternate);
    }
    out.retain(|s| !s.is_empty());
    out
}

fn name_terms(name: &Name) -> Vec<Term> {
    let mut terms = Vec::new();
    for (i, part) in name.parts().iter().enumerate() {
        terms.push(term(Label::NamePart, part.as_str()));
        if i == 0 {
            terms.extend(formal_names(part).into_iter().map(|f| term(Label::NameFormal, f)));
        }
        terms.extend(sounds(part).into_iter().map(|s| term(Label::NameSound, s)));
    }
    if let Some((initial, surname)) = name.initial_and_surname() {
        terms.push(term(Label::NameInitial, format!("{initial} {surname}")));
    }
    terms
}

/// Every term an identity is indexed under.
pub fn of_identity(identity: &pb::Identity) -> Vec<Term> {
    let mut terms = Vec::new();
    if let Some(name) = Name::parse(&identity.name) {
        terms.extend(name_terms(&name));
    }
    if let Some(date) = DateOfBirth::parse(&identity.date_of_birth) {
        terms.push(term(Label::DateOfBirth, date.text()));
    }
    if let Some(address) = Address::parse(&identity.address) {
        terms.push(term(Label::Address, address.text()));
    }
    let postcode = Postcode::parse(&identity.postcode).or_else(|| Postcode::in_address(&identity.address));
    if let Some(postcode) = postcode {
        terms.push(term(Label::Postcode, postcode.text()));
    }
    if let Some(registration) = Registration::parse(&identity.registration) {
        terms.push(term(Label::Registration, registration.text()));
    }
    let identifiers = identity.identifiers.iter().filter_map(|i| Identifier::parse(&i.scheme, &i.value));
    terms.extend(identifiers.map(|i| term(Label::Identifier, i.text())));
    if let Some(uprn) = Identifier::parse("uprn", &identity.uprn) {
        terms.push(term(Label::Identifier, uprn.text()));
    }
    terms.sort();
    terms.dedup();
    terms
}

/// One term a search looks up: the field it answers, which part of the
/// name (0 for other fields), and how closely a subject indexed under it
/// matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The term.
    pub term: Term,
    /// The field of the search it answers.
    pub field: MatchField,
    /// The name part it answers (0 for other fields).
    pub part: usize,
    /// How closely it matches.
    pub how: MatchHow,
}

/// The terms a search for `name` looks up.
pub fn wanted_name(name: &Name) -> Vec<Wanted> {
    let want = |term, part, how| Wanted { term, field: MatchField::Name, part, how };
    let mut wanted = Vec::new();
    for (i, part) in name.parts().iter().enumerate() {
        wanted.push(want(term(Label::NamePart, part.as_str()), i, MatchHow::Exact));
        if i == 0 {
            let formal = formal_names(part).into_iter().filter(|f| f != part);
            wanted.extend(formal.map(|f| want(term(Label::NameFormal, f), i, MatchHow::Nickname)));
            // A formal name also finds those recorded under a nickname of it.
            if formal_names(part) == [part.as_str()] {
                wanted.push(want(term(Label::NameFormal, part.as_str()), i, MatchHow::Nickname));
            }
        }
        wanted.extend(sounds(part).into_iter().map(|s| want(term(Label::NameSound, s), i, MatchHow::SoundsLike)));
    }
    if let Some((initial, surname)) = name.initial_and_surname() {
        wanted.push(want(term(Label::NameInitial, format!("{initial} {surname}")), 0, MatchHow::Initial));
    }
    wanted
}

/// The terms a search for a date of birth looks up: the date, and the date
/// with day and month swapped.
pub fn wanted_date(date: DateOfBirth) -> Vec<Wanted> {
    let want = |date: DateOfBirth, how| Wanted {
        term: term(Label::DateOfBirth, date.text()),
        field: MatchField::DateOfBirth,
        part: 0,
        how,
    };
    let mut wanted = vec![want(date, MatchHow::Exact)];
    wanted.extend(date.transposed().map(|t| want(t, MatchHow::DayMonthTransposed)));
    wanted
}

/// The one term a search for an exact code looks up.
pub fn wanted_exact(label: Label, field: MatchField, text: &str) -> Wanted {
    Wanted { term: term(label, text), field, part: 0, how: MatchHow::Exact }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(name: &str) -> pb::Identity {
        pb::Identity { name: name.into(), date_of_birth: "2009-02-03".into(), ..Default::default() }
    }

    #[test]
    fn a_misspelling_a_nickname_and_an_initial_share_a_term_with_the_name() {
        let indexed = of_identity(&identity("Robert Smith"));
        let shares = |name: &str, how: MatchHow| {
            wanted_name(&Name::parse(name).unwrap()).iter().any(|w| w.how == how && indexed.contains(&w.term))
        };
        assert!(shares("robert SMITH", MatchHow::Exact));
        assert!(shares("Bob Smith", MatchHow::Nickname));
        assert!(shares("R. Smith", MatchHow::Initial));
        assert!(shares("Robert Smyth", MatchHow::SoundsLike));
        assert!(!shares("Alice Jones", MatchHow::SoundsLike));
        // And the other way: recorded under a nickname, found by the formal name.
        let indexed = of_identity(&identity("Bob Smith"));
        assert!(
            wanted_name(&Name::parse("Robert Smith").unwrap())
                .iter()
                .any(|w| indexed.contains(&w.term) && w.how == MatchHow::Nickname)
        );
    }

    #[test]
    fn identifiers_uprns_postcodes_in_addresses_and_registrations_are_indexed() {
        let identity = pb::Identity {
            identifiers: vec![pb::AgencyIdentifier { scheme: "police.met.nw/crn".into(), value: "01 234".into() }],
            address: "12 High Street, Harrow HA3 7AB".into(),
            registration: "ab12 cde".into(),
            uprn: "100021234567".into(),
            ..Default::default()
        };
        let texts: Vec<String> = of_identity(&identity).into_iter().map(|t| t.text).collect();
        for expected in
            ["police.met.nw/crn 01234", "uprn 100021234567", "HA37AB", "AB12CDE", "12 high street harrow ha3 7ab"]
        {
            assert!(texts.iter().any(|t| t == expected), "{expected} in {texts:?}");
        }
    }
}
