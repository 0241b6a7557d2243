//! A subject's profile: what identifies a person (names, dates of birth,
//! addresses, agency identifiers), a place (address, postcode, ward, UPRN)
//! or a vehicle (registration), gathered from the identities of the events
//! a reader may see in full, its duplicates' included.

use concord_audit::access::{Tally, shown};
use concord_core::{SubjectId, pb};

/// Builds a profile from what the reader was shown.
#[derive(Debug)]
pub struct Profile {
    profile: pb::SubjectProfile,
    shown: Vec<pb::ShownEvent>,
    /// What the agreement withheld on the way.
    pub tally: Tally,
}

/// A profile, and what its access record lists.
#[derive(Debug)]
pub struct Profiled {
    /// The profile; `None` if the reader was shown nothing about the subject.
    pub profile: Option<pb::SubjectProfile>,
    /// The events it was built from.
    pub shown: Vec<pb::ShownEvent>,
    /// What the agreement withheld on the way.
    pub tally: Tally,
}

/// Adds `value` unless it is empty or already there.
fn add(values: &mut Vec<String>, value: &str) {
    let value = value.trim();
    if !value.is_empty() && !values.iter().any(|v| v == value) {
        values.push(value.to_string());
    }
}

impl Profile {
    /// An empty profile of `subject`, with where merges put it.
    pub fn new(subject: &SubjectId, kept: &SubjectId, merged: &[SubjectId]) -> Profile {
        let profile = pb::SubjectProfile {
            subject: Some(subject.to_ref()),
            merged_into: (kept != subject).then(|| kept.to_ref()),
            merged: merged.iter().map(SubjectId::to_ref).collect(),
            ..Default::default()
        };
        Profile { profile, shown: Vec::new(), tally: Tally::default() }
    }

    /// Adds what `views` (events of the subjects in `keys`) show about them:
    /// identities only from events shown in full, wards from every event shown.
    pub fn add(&mut self, views: &[pb::EventView], keys: &[&str]) {
        for view in views {
            let Some(event) = &view.event else { continue };
            self.shown.extend(shown(view));
            add(&mut self.profile.wards, &event.ward);
            if view.visibility != pb::Visibility::Show as i32 {
                continue;
            }
            let identities = event.personal.iter().flat_map(|p| &p.identities);
            for identity in identities.filter(|i| keys.contains(&i.subject_key.as_str())) {
                let p = &mut self.profile;
                add(&mut p.names, &identity.name);
                add(&mut p.dates_of_birth, &identity.date_of_birth);
                add(&mut p.addresses, &identity.address);
                add(&mut p.postcodes, &identity.postcode);
                add(&mut p.uprns, &identity.uprn);
                add(&mut p.registrations, &identity.registration);
                for id in &identity.identifiers {
                    if !p.identifiers.contains(id) {
                        p.identifiers.push(id.clone());
                    }
                }
            }
        }
    }

    /// The profile (if the reader was shown anything at all) and what its
    /// access record lists.
    pub fn finish(self) -> Profiled {
        let profile = (!self.shown.is_empty()).then_some(self.profile);
        Profiled { profile, shown: self.shown, tally: self.tally }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(visibility: pb::Visibility, identity: pb::Identity, ward: &str) -> pb::EventView {
        let event = pb::Event {
            ward: ward.into(),
            personal: Some(pb::Personal { identities: vec![identity], ..Default::default() }),
            ..Default::default()
        };
        pb::EventView { event: Some(event), visibility: visibility as i32, ..Default::default() }
    }

    #[test]
    fn identities_come_only_from_events_shown_in_full_and_each_value_once() {
        let place = SubjectId::parse("place/PL-1").unwrap();
        let mut profile = Profile::new(&place, &place, &[]);
        let flat = pb::Identity {
            subject_key: "PL-1".into(),
            address: "Flat 2, 14 Bramble Court".into(),
            postcode: "HA3 7QX".into(),
            uprn: "100021234567".into(),
            ..Default::default()
        };
        let other = pb::Identity { subject_key: "P-9".into(), name: "Not This One".into(), ..Default::default() };
        profile.add(
            &[
                view(pb::Visibility::Show, flat.clone(), "Wealdstone"),
                view(pb::Visibility::Show, flat, "Wealdstone"),
                view(pb::Visibility::Show, other, "Marlborough"),
                view(pb::Visibility::ShowRedacted, pb::Identity::default(), "Greenhill"),
            ],
            &["PL-1"],
        );
        let p = profile.finish().profile.unwrap();
        assert_eq!(p.addresses, ["Flat 2, 14 Bramble Court"]);
        assert_eq!((p.postcodes.len(), p.uprns.len()), (1, 1));
        assert!(p.names.is_empty(), "another subject's identity is not this one's");
        assert_eq!(p.wards, ["Wealdstone", "Marlborough", "Greenhill"]);
        assert_eq!(Profile::new(&place, &place, &[]).finish().profile, None, "nothing shown, no profile");
    }
}
