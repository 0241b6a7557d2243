//! Which subjects a search looks at, and how far its answer is complete.
//!
//! Each of the search's terms is looked up by how many subjects it has,
//! rarest first: a rare term (a date of birth, an unusual surname, an
//! identifier) has its subjects read in full, and those subjects are the
//! candidates. A term too common to read in full (a common first name among
//! a million people) is not followed; it is checked on each candidate
//! instead, from the candidate's own row of tokens. So a search by name and
//! date of birth finds the person at any scale, bounded by the rare terms'
//! subjects, and a subject matching only common terms, which is never
//! looked at, is said to be possible: [`Candidates::missed_at_most`] is the
//! most such a subject could score.

use std::collections::{BTreeSet, HashMap};

use concord_core::SubjectId;
use concord_core::pb::MatchField;
use concord_eventlog::Merges;

use crate::index::{Index, IndexError};
use crate::key::{DirectoryKey, Token};
use crate::query::Query;
use crate::score::score;

/// How many subjects a term may have and still be read in full.
const POSTINGS_PER_TERM: u64 = 2_000;
/// A term with this many subjects or fewer is read whenever the budget
/// allows: reading it costs less than checking it on the candidates.
const FEW: u64 = 64;
/// How many postings a search reads in full over all its terms.
const POSTINGS_PER_SEARCH: u64 = 6_000;
/// How many candidates, best first, a search decides at most.
const CANDIDATES: usize = 256;
/// How many candidates' rows of tokens are read at once.
const ROWS_AT_ONCE: usize = 128;

/// The search's terms a subject matched (indexes into `Query::wanted`),
/// each with the log position of the event that matched.
pub type Matches = Vec<(usize, u64)>;

/// The subjects a search looks at.
#[derive(Debug, Default)]
pub struct Candidates {
    /// Subjects (as merges make them), each with what it would score were
    /// every match visible and its matches, best first; at most [`CANDIDATES`].
    pub ranked: Vec<(f64, SubjectId, Matches)>,
    /// The most a subject not looked at could score: one matching only
    /// terms too common to follow (0: every subject matching a term was
    /// looked at).
    pub missed_at_most: f64,
    /// The fields of the terms too common to follow.
    pub too_common: Vec<MatchField>,
}

/// What would `matched` score (0 for nothing).
fn best(query: &Query, matched: impl Iterator<Item = usize>) -> f64 {
    score(query, &matched.collect::<Vec<_>>()).map_or(0.0, |(s, _)| s)
}

/// The candidates of `query` in `index` (tokens hashed with `key`), each a
/// subject as `merges` make it.
pub fn gather(index: &Index, key: &DirectoryKey, query: &Query, merges: &Merges) -> Result<Candidates, IndexError> {
    // Each distinct token, with the terms of the search it stands for.
    let mut terms_of: HashMap<Token, Vec<usize>> = HashMap::new();
    for (i, wanted) in query.wanted.iter().enumerate() {
        terms_of.entry(key.token(wanted.term.label, &wanted.term.text)).or_default().push(i);
    }
    let tokens: Vec<Token> = terms_of.keys().copied().collect();
    let counted: Vec<(u64, Token)> = index.counts(&tokens)?.into_iter().zip(tokens).collect();
    let (read, common) = choose(query, counted, &terms_of);
    let mut candidates: HashMap<SubjectId, Matches> = HashMap::new();
    for token in read {
        for (subject, position) in index.postings(&token, POSTINGS_PER_TERM as usize)? {
            if query.kind.is_none_or(|kind| subject.kind() == kind) {
                let matches = candidates.entry(merges.kept(&subject)).or_default();
                matches.extend(terms_of[&token].iter().map(|i| (*i, position)));
            }
        }
    }
    let common_terms: Vec<usize> = common.iter().flat_map(|t| terms_of[t].iter().copied()).collect();
    let too_common: BTreeSet<MatchField> = common_terms.iter().map(|i| query.wanted[*i].field).collect();
    let missed_at_most = best(query, common_terms.iter().copied());
    // Best possible first: what each matched, and every common term.
    let mut bounded: Vec<(f64, SubjectId, Matches)> = candidates
        .into_iter()
        .map(|(subject, matches)| {
            let bound = best(query, matches.iter().map(|(i, _)| *i).chain(common_terms.iter().copied()));
            (bound, subject, matches)
        })
        .collect();
    bounded.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let ranked = if common.is_empty() {
        rank(query, bounded)
    } else {
        complete(index, query, merges, bounded, &common, &terms_of)?
    };
    Ok(Candidates { ranked, missed_at_most, too_common: too_common.into_iter().collect() })
}

/// Which tokens (each with how many postings it has) are read in full, and
/// which are left common, to be checked on the candidates. A term is read
/// if that lowers what a subject not looked at could score (a first
/// initial with the surname adds nothing while the surname itself is
/// common), or if it has few subjects, rarest first, within the budgets;
/// until no more can be.
fn choose(
    query: &Query,
    mut counted: Vec<(u64, Token)>,
    terms_of: &HashMap<Token, Vec<usize>>,
) -> (Vec<Token>, Vec<Token>) {
    counted.sort();
    // A token nobody has is neither read nor common.
    counted.retain(|(count, _)| *count > 0);
    let bound = |common: &[(u64, Token)]| best(query, common.iter().flat_map(|(_, t)| terms_of[t].iter().copied()));
    let (mut read, mut common, mut budget) = (Vec::new(), counted, POSTINGS_PER_SEARCH);
    loop {
        let now = bound(&common);
        let lowers = (0..common.len()).find(|&i| {
            let (count, _) = common[i];
            let mut without = common.clone();
            without.remove(i);
            count <= budget && (count <= FEW || (count <= POSTINGS_PER_TERM && bound(&without) < now))
        });
        let Some(i) = lowers else { break };
        let (count, token) = common.remove(i);
        budget -= count;
        read.push(token);
    }
    (read, common.into_iter().map(|(_, t)| t).collect())
}

/// Candidates ranked by what their matches would score, best first, at
/// most [`CANDIDATES`].
fn rank(query: &Query, candidates: Vec<(f64, SubjectId, Matches)>) -> Vec<(f64, SubjectId, Matches)> {
    let mut ranked: Vec<(f64, SubjectId, Matches)> = candidates
        .into_iter()
        .filter_map(|(_, subject, matches)| {
            let matched: Vec<usize> = matches.iter().map(|(i, _)| *i).collect();
            score(query, &matched).map(|(s, _)| (s, subject, matches))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    ranked.truncate(CANDIDATES);
    ranked
}

/// Adds the `common` terms each candidate (and what was merged into it)
/// matches, from their rows of tokens, best possible first, until
/// [`CANDIDATES`] are known to be at least as good as any left; then ranks them.
fn complete(
    index: &Index,
    query: &Query,
    merges: &Merges,
    bounded: Vec<(f64, SubjectId, Matches)>,
    common: &[Token],
    terms_of: &HashMap<Token, Vec<usize>>,
) -> Result<Vec<(f64, SubjectId, Matches)>, IndexError> {
    let common: BTreeSet<&Token> = common.iter().collect();
    let mut done = Vec::new();
    for chunk in bounded.chunks(ROWS_AT_ONCE) {
        let next_bound = chunk[0].0;
        let as_good = done.iter().filter(|(s, _, _)| *s >= next_bound).count();
        if as_good >= CANDIDATES {
            break;
        }
        let whole: Vec<Vec<SubjectId>> = chunk
            .iter()
            .map(|(_, subject, _)| std::iter::once(subject.clone()).chain(merges.duplicates_of(subject)).collect())
            .collect();
        let all: Vec<&SubjectId> = whole.iter().flatten().collect();
        let mut rows = index.tokens_of(&all)?.into_iter();
        for ((_, subject, matches), subjects) in chunk.iter().zip(&whole) {
            let mut matches = matches.clone();
            for (token, position) in subjects.iter().filter_map(|_| rows.next()).flatten() {
                if common.contains(&token) {
                    matches.extend(terms_of[&token].iter().map(|i| (*i, position)));
                }
            }
            done.push((0.0, subject.clone(), matches));
        }
        done = rank(query, done);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use concord_core::pb;
    use concord_log::kv::{Engine, open};

    use super::*;
    use crate::index::Posting;
    use crate::key::Label;
    use crate::terms;

    /// 2,500 Jayden Smiths, born on 1,000 days (2 or 3 a day), and one Zara
    /// Wierzbicki: every name term but hers is too common to read in full.
    fn index(dir: &std::path::Path, key: &DirectoryKey) -> Index {
        let index = Index::new(open(Engine::Redb, dir).unwrap());
        index.check_layout().unwrap();
        let born = |i: u32| format!("{}-{:02}-{:02}", 2000 + i / 336, 1 + (i / 28) % 12, 1 + i % 28);
        let mut people: Vec<(String, String)> = (0..2_500).map(|i| ("Jayden Smith".into(), born(i % 1000))).collect();
        people.push(("Zara Wierzbicki".into(), born(7)));
        let mut postings = Vec::new();
        for (i, (name, date_of_birth)) in people.into_iter().enumerate() {
            let subject = SubjectId::parse(&format!("person/P-{i:05}")).unwrap();
            let identity = pb::Identity { name, date_of_birth, ..Default::default() };
            for term in terms::of_identity(&identity) {
                let token = key.token(term.label, &term.text);
                postings.push(Posting { token, subject: subject.clone(), position: i as u64 + 1 });
            }
        }
        index.add(&postings, 2_501).unwrap();
        index
    }

    fn search(name: &str, date_of_birth: &str) -> Query {
        let request = pb::FindRequest { name: name.into(), date_of_birth: date_of_birth.into(), ..Default::default() };
        Query::from_request(&request).unwrap()
    }

    fn keys(candidates: &Candidates, score: f64) -> Vec<String> {
        candidates.ranked.iter().filter(|c| c.0 == score).map(|c| c.1.key().to_string()).collect()
    }

    #[test]
    fn rare_terms_find_the_person_among_common_names_and_the_answer_says_what_it_may_miss() {
        let (dir, key) = (tempfile::tempdir().unwrap(), DirectoryKey::new([3; 32]));
        let index = index(dir.path(), &key);
        let merges = Merges::default();
        // Each Jayden Smith born on 2000-01-08 (day 7 of 1,000), among 2,500
        // with the name: found through the date, the name checked on them.
        let found = gather(&index, &key, &search("Jayden Smith", "2000-01-08"), &merges).unwrap();
        assert_eq!(keys(&found, 1.0), ["P-00007", "P-01007", "P-02007"]);
        assert_eq!(keys(&found, 0.5), ["P-02500"], "Zara shares only the date");
        // A subject matching only the name (born another day) was not looked
        // at: it would score at most half, and the answer says so.
        assert_eq!((found.missed_at_most, found.too_common.as_slice()), (0.5, [MatchField::Name].as_slice()));
        // A rare name is read in full: nothing is missed.
        let zara = gather(&index, &key, &search("Zara Wierzbicki", ""), &merges).unwrap();
        assert_eq!((keys(&zara, 1.0), zara.missed_at_most), (vec!["P-02500".to_string()], 0.0));
        // A name alone too common to follow: no candidate, and the answer
        // says every one of them could have been missed.
        let broad = gather(&index, &key, &search("Jayden Smith", ""), &merges).unwrap();
        assert!(broad.ranked.is_empty());
        assert_eq!((broad.missed_at_most, broad.too_common.as_slice()), (1.0, [MatchField::Name].as_slice()));
    }

    #[test]
    fn a_term_is_read_only_if_it_lowers_what_a_subject_not_looked_at_could_score() {
        let key = DirectoryKey::new([3; 32]);
        let query = search("Jayden Smith", "2009-04-07");
        let mut terms_of: HashMap<Token, Vec<usize>> = HashMap::new();
        for (i, w) in query.wanted.iter().enumerate() {
            terms_of.entry(key.token(w.term.label, &w.term.text)).or_default().push(i);
        }
        let label_of = |t: &Token| query.wanted[terms_of[t][0]].term.label;
        // Dates of birth are rare, names common; "j smith" has 300 people.
        let counted = terms_of
            .keys()
            .map(|t| match label_of(t) {
                Label::DateOfBirth => (15, *t),
                Label::NameInitial => (300, *t),
                _ => (5_000, *t),
            })
            .collect();
        let (read, common) = choose(&query, counted, &terms_of);
        let labels = |tokens: &[Token]| tokens.iter().map(label_of).collect::<BTreeSet<_>>();
        // Both dates (exact, and day and month swapped) are read; the
        // initial lowers nothing while the surname itself is common.
        assert_eq!((read.len(), labels(&read)), (2, BTreeSet::from([Label::DateOfBirth])));
        assert!(labels(&common).contains(&Label::NameInitial));
    }

    #[test]
    fn a_duplicate_found_through_a_rare_term_is_its_kept_subject_with_both_matches() {
        let (dir, key) = (tempfile::tempdir().unwrap(), DirectoryKey::new([3; 32]));
        let index = index(dir.path(), &key);
        // P-02500 (Zara, born 2000-01-08) merged into P-00001 (a Jayden Smith).
        let mut merges = Merges::default();
        let person = |key: &str| pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: key.into() };
        merges.apply(&pb::Event {
            subjects: vec![person("P-00001"), person("P-02500")],
            body: Some(pb::event::Body::SubjectsMerged(pb::SubjectsMerged {})),
            ..Default::default()
        });
        let found = gather(&index, &key, &search("Zara Wierzbicki", "2000-01-02"), &merges).unwrap();
        // Zara's name, and Jayden's date of birth (2000-01-02, day 1): both the kept subject's.
        assert_eq!(keys(&found, 1.0), ["P-00001"]);
        assert!(found.ranked.iter().all(|c| c.1.key() != "P-02500"));
    }
}
