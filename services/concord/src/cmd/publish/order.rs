//! Keeping a window of publishes in flight without changing what the file
//! means: lines whose outcome depends on an earlier line's wait for it
//! ([`Claims`], [`InFlight`]), and the resume watermark over outcomes that
//! arrive in any order ([`Watermark`]).

use std::collections::{HashMap, VecDeque};

use concord_core::consent;
use concord_core::pb;

/// How a line uses a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Its outcome depends on what the key's writers did.
    Read,
    /// It changes what the key's readers get.
    Write,
}

/// What an event's outcome depends on, or changes for later lines, so that
/// sending it beside others cannot change what is refused:
/// - a consent record or withdrawal writes its consent, and an event relying
///   on that consent reads it (the node and the ledger judge it by the
///   consent events before it);
/// - an event writes its own id, and a correction reads the id it corrects
///   (the ledger refuses a correction of an event not yet in the log); two
///   lines with the same id go one after the other;
/// - an event with expected versions is a barrier: it goes alone, after
///   everything before it and before anything after it (every event about
///   a subject moves those versions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    keys: Vec<(String, Access)>,
    barrier: bool,
}

impl Claims {
    /// The claims of `event` (its `event_id` set).
    pub fn of(event: &pb::Event) -> Claims {
        let mut claims = Claims { keys: Vec::new(), barrier: !event.expected_versions.is_empty() };
        claims.add(format!("event {}", event.event_id), Access::Write);
        if let Some(id) = consent::consent_id_of(event) {
            claims.add(format!("consent {id}"), Access::Write);
        }
        if !event.consent_ref.is_empty() && consent::relies_on_consent(event) {
            claims.add(format!("consent {}", event.consent_ref), Access::Read);
        }
        if !event.corrects.is_empty() {
            claims.add(format!("event {}", event.corrects), Access::Read);
        }
        claims
    }

    /// Adds a key, once: writing it covers reading it.
    fn add(&mut self, key: String, access: Access) {
        match self.keys.iter_mut().find(|(k, _)| *k == key) {
            Some((_, held)) if access == Access::Write => *held = Access::Write,
            Some(_) => {}
            None => self.keys.push((key, access)),
        }
    }
}

/// The claims of the publishes in flight.
#[derive(Debug, Default)]
pub struct InFlight {
    /// Key to (readers, whether a writer holds it).
    keys: HashMap<String, (usize, bool)>,
    count: usize,
    barriers: usize,
}

impl InFlight {
    /// Whether a line with `claims` may be sent now. Nothing in flight
    /// admits anything, so a line is never kept waiting forever.
    pub fn admits(&self, claims: &Claims) -> bool {
        if self.barriers > 0 || (claims.barrier && self.count > 0) {
            return false;
        }
        claims.keys.iter().all(|(key, access)| match self.keys.get(key) {
            None => true,
            Some(&(readers, writer)) => !writer && (*access == Access::Read || readers == 0),
        })
    }

    /// Records a line sent.
    pub fn take(&mut self, claims: &Claims) {
        self.count += 1;
        self.barriers += usize::from(claims.barrier);
        for (key, access) in &claims.keys {
            let held = self.keys.entry(key.clone()).or_default();
            match access {
                Access::Read => held.0 += 1,
                Access::Write => held.1 = true,
            }
        }
    }

    /// Records a line's publish finished.
    pub fn release(&mut self, claims: &Claims) {
        self.count = self.count.saturating_sub(1);
        self.barriers = self.barriers.saturating_sub(usize::from(claims.barrier));
        for (key, access) in &claims.keys {
            if let Some(held) = self.keys.get_mut(key) {
                match access {
                    Access::Read => held.0 = held.0.saturating_sub(1),
                    Access::Write => held.1 = false,
                }
                if *held == (0, false) {
                    self.keys.remove(key);
                }
            }
        }
    }
}

/// The lines through which every line has a final outcome, as outcomes
/// arrive in any order. Lines enter in file order and are done with their
/// outcome: `Some(T)` if final, `None` if not (not confirmed, not sent). A
/// line done without a final outcome freezes the watermark for the rest of
/// the run, while later lines still leave, so the lines held stay few.
#[derive(Debug)]
pub struct Watermark<T> {
    /// Lines entered, in order, with their outcome once done.
    pending: VecDeque<(u64, Option<Option<T>>)>,
    frozen: bool,
}

impl<T> Default for Watermark<T> {
    fn default() -> Self {
        Watermark { pending: VecDeque::new(), frozen: false }
    }
}

impl<T> Watermark<T> {
    /// A line entering (its number above every line entered before).
    pub fn enter(&mut self, number: u64) {
        self.pending.push_back((number, None));
    }

    /// Line `number` is done, with its outcome if final; returns the lines
    /// (with their outcomes) that this brought under the watermark, in order.
    pub fn done(&mut self, number: u64, outcome: Option<T>) -> Vec<(u64, T)> {
        if let Ok(i) = self.pending.binary_search_by_key(&number, |(n, _)| *n) {
            self.pending[i].1 = Some(outcome);
        }
        let mut passed = Vec::new();
        while self.pending.front().is_some_and(|(_, done)| done.is_some()) {
            let Some((n, Some(outcome))) = self.pending.pop_front() else { break };
            match outcome {
                Some(value) if !self.frozen => passed.push((n, value)),
                _ => self.frozen = true,
            }
        }
        passed
    }

    /// Lines entered and not yet left (not done, or done after one that is not).
    pub fn held(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> pb::Event {
        pb::Event { event_id: id.into(), ..Default::default() }
    }

    #[test]
    fn the_watermark_passes_only_lines_with_every_earlier_line_final() {
        let mut w = Watermark::default();
        for n in [1, 2, 4, 5, 6, 7] {
            w.enter(n);
        }
        assert!(w.done(2, Some("b")).is_empty(), "line 1 is still out");
        assert!(w.done(5, Some("e")).is_empty());
        assert_eq!(w.done(1, Some("a")), [(1, "a"), (2, "b")]);
        assert_eq!(w.done(4, Some("d")), [(4, "d"), (5, "e")], "line 3 was blank: it never entered");
        assert_eq!(w.held(), 2);
        assert!(w.done(7, Some("g")).is_empty());
        assert!(w.done(6, None).is_empty(), "6 is not final: the watermark stays at 5");
        assert_eq!(w.held(), 0, "but the lines leave");
        w.enter(8);
        assert!(w.done(8, Some("h")).is_empty(), "and it stays there for the rest of the run");
    }

    #[test]
    fn lines_wait_for_the_lines_their_outcome_depends_on() {
        let mut record = event("r");
        record.body = Some(pb::event::Body::ConsentRecorded(pb::ConsentRecorded {
            consent_id: "C1".into(),
            ..Default::default()
        }));
        let mut relying = event("a");
        relying.consent_ref = "C1".into();
        relying.lawful_basis = vec![pb::LawfulBasis::Consent as i32];
        let mut also_relying = relying.clone();
        also_relying.event_id = "b".into();
        let mut other_basis = relying.clone();
        other_basis.event_id = "c".into();
        other_basis.lawful_basis = vec![pb::LawfulBasis::Safeguarding as i32];
        let mut correction = event("d");
        correction.corrects = "a".into();
        let mut versioned = event("v");
        versioned.expected_versions = vec![pb::ExpectedVersion::default()];

        let mut flight = InFlight::default();
        let record = Claims::of(&record);
        flight.take(&record);
        assert!(!flight.admits(&Claims::of(&relying)), "a consent's users wait for its record");
        assert!(flight.admits(&Claims::of(&other_basis)), "an event not relying on consent does not");
        assert!(!flight.admits(&Claims::of(&event("r"))), "nor does a second line with the same id");
        flight.release(&record);

        let relying = Claims::of(&relying);
        flight.take(&relying);
        assert!(flight.admits(&Claims::of(&also_relying)), "users of one consent go together");
        assert!(!flight.admits(&Claims::of(&correction)), "a correction waits for what it corrects");
        assert!(!flight.admits(&Claims::of(&versioned)), "expected versions wait for everything");
        flight.release(&relying);
        assert!(flight.admits(&Claims::of(&correction)));

        let versioned = Claims::of(&versioned);
        assert!(flight.admits(&versioned));
        flight.take(&versioned);
        assert!(!flight.admits(&Claims::of(&event("x"))), "and everything waits for them");
        flight.release(&versioned);
        assert!(flight.admits(&Claims::of(&event("x"))));
        assert!(flight.keys.is_empty(), "nothing is left behind");
    }
}
