//! Grouping a window's events by what they are about.
//!
//! People named together in any event of the window form one group (a
//! child, or children seen together), so each event is in exactly one group
//! and a group of young people is discussed once. An event about no person
//! goes with its place (or vehicle, or gang); an event about no subject at
//! all, with its ward.

use std::collections::{BTreeMap, HashMap};

use concord_core::{SubjectId, millis, pb};

/// The events of one group, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// People, place or ward.
    pub kind: pb::BriefingGroupKind,
    /// The people (sorted) or the place the group is about; empty for a ward.
    pub subjects: Vec<pb::SubjectRef>,
    /// "borough/ward" of the group's first event.
    pub ward: String,
    /// The events, by event time then position.
    pub events: Vec<pb::EventView>,
}

/// What one event is anchored to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Anchor {
    People(Vec<SubjectId>),
    Place(SubjectId),
    Ward(String),
}

fn ward_of(event: &pb::Event) -> String {
    match (event.borough.trim(), event.ward.trim()) {
        ("", "") => String::new(),
        (borough, ward) => format!("{borough}/{ward}"),
    }
}

fn anchor(event: &pb::Event) -> Anchor {
    let subjects: Vec<SubjectId> = event.subjects.iter().filter_map(|s| SubjectId::from_ref(s).ok()).collect();
    let mut people: Vec<SubjectId> = subjects.iter().filter(|s| s.kind() == pb::SubjectKind::Person).cloned().collect();
    people.sort();
    people.dedup();
    if !people.is_empty() {
        return Anchor::People(people);
    }
    match subjects.into_iter().next() {
        Some(other) => Anchor::Place(other),
        None => Anchor::Ward(ward_of(event)),
    }
}

/// The subjects whose history a briefing over `views` summarises: the
/// people and places its groups are about.
pub fn subjects(views: &[pb::EventView]) -> Vec<SubjectId> {
    let mut out: Vec<SubjectId> = views
        .iter()
        .filter_map(|v| v.event.as_ref())
        .flat_map(|e| match anchor(e) {
            Anchor::People(people) => people,
            Anchor::Place(place) => vec![place],
            Anchor::Ward(_) => Vec::new(),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Union-find over people: who was named together with whom.
struct Together {
    index: HashMap<SubjectId, usize>,
    parent: Vec<usize>,
}

impl Together {
    fn new() -> Self {
        Together { index: HashMap::new(), parent: Vec::new() }
    }

    fn id(&mut self, person: &SubjectId) -> usize {
        if let Some(&i) = self.index.get(person) {
            return i;
        }
        let i = self.parent.len();
        self.parent.push(i);
        self.index.insert(person.clone(), i);
        i
    }

    fn root(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    fn join(&mut self, a: &SubjectId, b: &SubjectId) {
        let (a, b) = (self.id(a), self.id(b));
        let (a, b) = (self.root(a), self.root(b));
        if a != b {
            self.parent[a.max(b)] = a.min(b);
        }
    }
}

/// Groups `views` (each once), in order of each group's first event.
pub fn group(views: Vec<pb::EventView>) -> Vec<Group> {
    let anchored: Vec<(Anchor, pb::EventView)> =
        views.into_iter().filter_map(|v| Some((anchor(v.event.as_ref()?), v))).collect();
    let mut together = Together::new();
    for (a, _) in &anchored {
        if let Anchor::People(people) = a {
            together.id(&people[0]);
            for other in &people[1..] {
                together.join(&people[0], other);
            }
        }
    }
    // Key each event by its group: the root of its people, its place or its ward.
    let mut groups: BTreeMap<(u8, usize, String), Vec<pb::EventView>> = BTreeMap::new();
    let mut people_of: HashMap<usize, Vec<SubjectId>> = HashMap::new();
    for (a, view) in anchored {
        let key = match a {
            Anchor::People(people) => {
                let i = together.id(&people[0]);
                let root = together.root(i);
                people_of.entry(root).or_default().extend(people);
                (0, root, String::new())
            }
            Anchor::Place(place) => (1, 0, place.to_string()),
            Anchor::Ward(ward) => (2, 0, ward),
        };
        groups.entry(key).or_default().push(view);
    }
    let mut out: Vec<Group> = groups
        .into_iter()
        .map(|((kind, root, name), mut events)| {
            events.sort_by_key(|v| (v.event.as_ref().and_then(|e| e.occurred_at.as_ref()).map(millis), v.position));
            let ward = events.first().and_then(|v| v.event.as_ref()).map(ward_of).unwrap_or_default();
            let (kind, subjects) = match kind {
                0 => {
                    let mut people = people_of.remove(&root).unwrap_or_default();
                    people.sort();
                    people.dedup();
                    (pb::BriefingGroupKind::People, people.iter().map(SubjectId::to_ref).collect())
                }
                1 => {
                    let place = SubjectId::parse(&name).map(|p| p.to_ref()).into_iter().collect();
                    (pb::BriefingGroupKind::Place, place)
                }
                _ => (pb::BriefingGroupKind::Ward, Vec::new()),
            };
            Group { kind, subjects, ward, events }
        })
        .collect();
    out.sort_by_key(|g| g.events.iter().map(|v| v.position).min());
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn subject(kind: pb::SubjectKind, key: &str) -> pb::SubjectRef {
        pb::SubjectRef { kind: kind as i32, key: key.into() }
    }

    pub(crate) fn person(key: &str) -> pb::SubjectRef {
        subject(pb::SubjectKind::Person, key)
    }

    /// A view of an arrest at `position`, `seconds` after the epoch, about `subjects`.
    pub(crate) fn view(position: u64, seconds: i64, subjects: Vec<pb::SubjectRef>) -> pb::EventView {
        pb::EventView {
            position,
            event: Some(pb::Event {
                event_id: format!("e{position}"),
                subjects,
                occurred_at: Some(pbjson_types::Timestamp { seconds, nanos: 0 }),
                borough: "Harrow".into(),
                ward: "Wealdstone".into(),
                body: Some(pb::event::Body::Arrest(pb::Arrest::default())),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn ids(group: &Group) -> Vec<u64> {
        group.events.iter().map(|v| v.position).collect()
    }

    #[test]
    fn people_named_together_are_one_group_and_each_event_is_in_one_group() {
        let place = subject(pb::SubjectKind::Place, "L-1");
        let views = vec![
            view(1, 50, vec![person("P-1")]),
            view(2, 10, vec![person("P-2")]),
            view(3, 30, vec![person("P-3"), person("P-1")]),
            view(4, 40, vec![place.clone()]),
            view(5, 20, vec![person("P-2"), place.clone()]),
            view(6, 60, vec![]),
        ];
        let groups = group(views);
        assert_eq!(groups.len(), 4, "{groups:#?}");
        assert_eq!(groups[0].kind, pb::BriefingGroupKind::People);
        assert_eq!(groups[0].subjects, vec![person("P-1"), person("P-3")]);
        assert_eq!(ids(&groups[0]), vec![3, 1], "oldest first");
        assert_eq!(groups[1].subjects, vec![person("P-2")]);
        assert_eq!(ids(&groups[1]), vec![2, 5], "a person at a place goes with the person");
        assert_eq!((groups[2].kind, groups[2].subjects.clone()), (pb::BriefingGroupKind::Place, vec![place]));
        assert_eq!(ids(&groups[2]), vec![4]);
        assert_eq!((groups[3].kind, ids(&groups[3])), (pb::BriefingGroupKind::Ward, vec![6]));
        assert_eq!(groups[3].ward, "Harrow/Wealdstone");
    }

    #[test]
    fn chains_of_people_merge() {
        let views = vec![
            view(1, 1, vec![person("P-1"), person("P-2")]),
            view(2, 2, vec![person("P-3")]),
            view(3, 3, vec![person("P-3"), person("P-2")]),
        ];
        let groups = group(views.clone());
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].subjects, vec![person("P-1"), person("P-2"), person("P-3")]);
        let subjects: Vec<String> = subjects(&views).iter().map(ToString::to_string).collect();
        assert_eq!(subjects, ["person/P-1", "person/P-2", "person/P-3"]);
    }
}
