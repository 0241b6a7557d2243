//! The directory's index in its own key-value store: for each token, the
//! subjects indexed under it and the log position of the event that said
//! so, and how many such postings it has; for each subject, its tokens (so a
//! search reads a candidate's matches at once, and erasure removes them
//! all); and how far through the log it has indexed. Only tokens and
//! pseudonymous keys are stored: no name, date or identifier in plaintext.
//!
//! Rows (`|` is concatenation, numbers are big-endian u64):
//! - `p | token | subject | 0 | position` → empty: a posting;
//! - `n | token` → how many postings the token has;
//! - `t | subject` → its postings' `token | position`, 24 bytes each;
//! - `c` → position: the last log entry indexed;
//! - `v` → the layout's version: an index of another layout is rebuilt.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use concord_core::SubjectId;
use concord_log::kv::{Kv, KvError, WriteBatch};

use crate::key::Token;

const POSTING: u8 = b'p';
const COUNT: u8 = b'n';
const TOKENS: u8 = b't';
const CURSOR: &[u8] = b"c";
const VERSION: &[u8] = b"v";
/// The layout written here; 2 added the counts and the subject rows.
const LAYOUT: u64 = 2;
/// Rows removed per commit when an index of another layout is cleared.
const CLEAR_CHUNK: usize = 10_000;
/// A subject's row: 16 bytes of token, 8 of position, per posting.
const PAIR: usize = 24;

/// One entry of the index: `subject` is known under `token` by the event at `position`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Posting {
    /// The keyed hash of a term.
    pub token: Token,
    /// The subject.
    pub subject: SubjectId,
    /// The log position of the event that identified the subject so.
    pub position: u64,
}

/// Why the index could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The store failed.
    #[error("the directory store is unavailable: {0}")]
    Store(#[from] KvError),
    /// A stored row does not parse.
    #[error("the directory store holds a damaged row: {0}")]
    Corrupt(String),
}

/// The index over a key-value store.
pub struct Index {
    kv: Arc<dyn Kv>,
}

fn posting_key(token: &Token, subject: &str, position: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + 16 + subject.len() + 1 + 8);
    key.push(POSTING);
    key.extend_from_slice(&token.0);
    key.extend_from_slice(subject.as_bytes());
    key.push(0);
    key.extend_from_slice(&position.to_be_bytes());
    key
}

fn count_key(token: &Token) -> Vec<u8> {
    let mut key = Vec::with_capacity(17);
    key.push(COUNT);
    key.extend_from_slice(&token.0);
    key
}

fn tokens_key(subject: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + subject.len());
    key.push(TOKENS);
    key.extend_from_slice(subject.as_bytes());
    key
}

/// The key just past every key starting with `prefix`.
fn end_of(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    end.push(0xff);
    end
}

fn number(bytes: &[u8]) -> Result<u64, IndexError> {
    let bytes: [u8; 8] = bytes.try_into().map_err(|_| IndexError::Corrupt("a number is not 8 bytes".into()))?;
    Ok(u64::from_be_bytes(bytes))
}

/// A subject's row as (token, position) pairs.
fn pairs(row: &[u8]) -> Result<Vec<(Token, u64)>, IndexError> {
    if !row.len().is_multiple_of(PAIR) {
        return Err(IndexError::Corrupt("a subject's row is not whole pairs".into()));
    }
    row.chunks_exact(PAIR)
        .map(|pair| {
            let token: [u8; 16] = pair[..16].try_into().map_err(|_| IndexError::Corrupt("a short token".into()))?;
            Ok((Token(token), number(&pair[16..])?))
        })
        .collect()
}

impl Index {
    /// The index kept in `kv`.
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        Index { kv }
    }

    /// Makes sure the store holds this layout: one of another (or older)
    /// layout is emptied, to be built again from the log. Blocking.
    pub fn check_layout(&self) -> Result<(), IndexError> {
        if self.kv.get(VERSION)?.map(|v| number(&v)).transpose()? == Some(LAYOUT) {
            return Ok(());
        }
        loop {
            let rows = self.kv.scan(&[], None, CLEAR_CHUNK, false)?;
            if rows.is_empty() {
                break;
            }
            let mut batch = WriteBatch::new();
            for (key, _) in rows {
                batch.delete(key);
            }
            self.kv.commit(batch)?;
        }
        let mut batch = WriteBatch::new();
        batch.put(VERSION.to_vec(), LAYOUT.to_be_bytes().to_vec());
        Ok(self.kv.commit(batch)?)
    }

    /// The last log position indexed (0: none).
    pub fn cursor(&self) -> Result<u64, IndexError> {
        self.kv.get(CURSOR)?.map_or(Ok(0), |bytes| number(&bytes))
    }

    /// Adds `postings` and moves the cursor to `cursor`, together (one
    /// durable batch). Not to be called by two at once.
    pub fn add(&self, postings: &[Posting], cursor: u64) -> Result<(), IndexError> {
        let postings: BTreeSet<&Posting> = postings.iter().collect();
        let mut added: BTreeMap<Token, u64> = BTreeMap::new();
        let mut by_subject: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut batch = WriteBatch::new();
        for p in &postings {
            let subject = p.subject.stream();
            batch.put(posting_key(&p.token, &subject, p.position), Vec::new());
            *added.entry(p.token).or_default() += 1;
            let row = by_subject.entry(subject).or_default();
            row.extend_from_slice(&p.token.0);
            row.extend_from_slice(&p.position.to_be_bytes());
        }
        let count_keys: Vec<Vec<u8>> = added.keys().map(count_key).collect();
        let counts = self.kv.get_many(&count_keys.iter().map(Vec::as_slice).collect::<Vec<_>>())?;
        for ((key, n), was) in count_keys.into_iter().zip(added.values()).zip(counts) {
            let was = was.map(|v| number(&v)).transpose()?.unwrap_or(0);
            batch.put(key, (was + n).to_be_bytes().to_vec());
        }
        let row_keys: Vec<Vec<u8>> = by_subject.keys().map(|s| tokens_key(s)).collect();
        let rows = self.kv.get_many(&row_keys.iter().map(Vec::as_slice).collect::<Vec<_>>())?;
        for ((key, more), row) in row_keys.into_iter().zip(by_subject.into_values()).zip(rows) {
            let mut row = row.unwrap_or_default();
            row.extend_from_slice(&more);
            batch.put(key, row);
        }
        batch.put(CURSOR.to_vec(), cursor.to_be_bytes().to_vec());
        Ok(self.kv.commit(batch)?)
    }

    /// How many postings each of `tokens` has.
    pub fn counts(&self, tokens: &[Token]) -> Result<Vec<u64>, IndexError> {
        let keys: Vec<Vec<u8>> = tokens.iter().map(count_key).collect();
        let values = self.kv.get_many(&keys.iter().map(Vec::as_slice).collect::<Vec<_>>())?;
        values.into_iter().map(|v| v.map_or(Ok(0), |v| number(&v))).collect()
    }

    /// The subjects indexed under `token`, with the positions that said
    /// so, at most `limit`.
    pub fn postings(&self, token: &Token, limit: usize) -> Result<Vec<(SubjectId, u64)>, IndexError> {
        let mut prefix = vec![POSTING];
        prefix.extend_from_slice(&token.0);
        let rows = self.kv.scan(&prefix, Some(&end_of(&prefix)), limit, false)?;
        rows.into_iter()
            .map(|(key, _)| {
                let rest = &key[prefix.len()..];
                let split = rest.len().checked_sub(9).filter(|i| rest[*i] == 0);
                let split = split.ok_or_else(|| IndexError::Corrupt("a posting without a position".into()))?;
                let subject = std::str::from_utf8(&rest[..split])
                    .ok()
                    .and_then(|s| SubjectId::parse(s).ok())
                    .ok_or_else(|| IndexError::Corrupt("a posting's subject does not parse".into()))?;
                Ok((subject, number(&rest[split + 1..])?))
            })
            .collect()
    }

    /// Each of `subjects`' postings, as (token, position), read at once.
    pub fn tokens_of(&self, subjects: &[&SubjectId]) -> Result<Vec<Vec<(Token, u64)>>, IndexError> {
        let keys: Vec<Vec<u8>> = subjects.iter().map(|s| tokens_key(&s.stream())).collect();
        let rows = self.kv.get_many(&keys.iter().map(Vec::as_slice).collect::<Vec<_>>())?;
        rows.into_iter().map(|row| row.map_or(Ok(Vec::new()), |r| pairs(&r))).collect()
    }

    /// Removes every entry about `subject`; returns how many postings it had.
    /// Not to be called while postings are added.
    pub fn forget(&self, subject: &SubjectId) -> Result<usize, IndexError> {
        let stream = subject.stream();
        let Some(row) = self.kv.get(&tokens_key(&stream))? else { return Ok(0) };
        let pairs = pairs(&row)?;
        let mut removed: BTreeMap<Token, u64> = BTreeMap::new();
        let mut batch = WriteBatch::new();
        for (token, position) in &pairs {
            batch.delete(posting_key(token, &stream, *position));
            *removed.entry(*token).or_default() += 1;
        }
        let tokens: Vec<Token> = removed.keys().copied().collect();
        for ((token, n), was) in removed.iter().zip(self.counts(&tokens)?) {
            match was.saturating_sub(*n) {
                0 => batch.delete(count_key(token)),
                left => batch.put(count_key(token), left.to_be_bytes().to_vec()),
            }
        }
        batch.delete(tokens_key(&stream));
        self.kv.commit(batch)?;
        Ok(pairs.len())
    }
}

#[cfg(test)]
mod tests {
    use concord_log::kv::{Engine, open};

    use super::*;

    #[test]
    fn postings_are_found_by_token_counted_and_forgotten_by_subject() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::new(open(Engine::Redb, dir.path()).unwrap());
        index.check_layout().unwrap();
        assert_eq!(index.cursor().unwrap(), 0);
        let (a, b) = (SubjectId::parse("person/P-1").unwrap(), SubjectId::parse("person/P-12").unwrap());
        let (t1, t2) = (Token([1; 16]), Token([2; 16]));
        let posting = |token, subject: &SubjectId, position| Posting { token, subject: subject.clone(), position };
        // The same posting twice in a batch is one posting.
        index.add(&[posting(t1, &a, 3), posting(t1, &b, 4), posting(t2, &a, 3), posting(t2, &a, 3)], 4).unwrap();
        index.add(&[posting(t2, &a, 5)], 5).unwrap();
        assert_eq!(index.cursor().unwrap(), 5);
        assert_eq!(index.postings(&t1, 10).unwrap(), vec![(a.clone(), 3), (b.clone(), 4)]);
        assert_eq!(index.postings(&t1, 1).unwrap().len(), 1);
        assert_eq!(index.counts(&[t1, t2, Token([3; 16])]).unwrap(), [2, 2, 0]);
        assert_eq!(index.tokens_of(&[&a, &b]).unwrap(), [vec![(t1, 3), (t2, 3), (t2, 5)], vec![(t1, 4)]]);
        assert_eq!(index.forget(&a).unwrap(), 3);
        assert_eq!(index.postings(&t1, 10).unwrap(), vec![(b.clone(), 4)]);
        assert!(index.postings(&t2, 10).unwrap().is_empty());
        assert_eq!(index.counts(&[t1, t2]).unwrap(), [1, 0]);
        assert_eq!(index.tokens_of(&[&a]).unwrap(), [vec![]]);
        assert_eq!(index.forget(&a).unwrap(), 0);
    }

    #[test]
    fn an_index_of_another_layout_is_emptied_to_be_built_again() {
        let dir = tempfile::tempdir().unwrap();
        let kv = open(Engine::Redb, dir.path()).unwrap();
        let mut old = WriteBatch::new();
        old.put(b"s-an old row".to_vec(), Vec::new());
        old.put(CURSOR.to_vec(), 9u64.to_be_bytes().to_vec());
        kv.commit(old).unwrap();
        let index = Index::new(kv.clone());
        index.check_layout().unwrap();
        assert_eq!(index.cursor().unwrap(), 0);
        assert_eq!(kv.scan(&[], None, 10, false).unwrap().len(), 1, "only the layout's version");
        index.add(&[], 3).unwrap();
        index.check_layout().unwrap();
        assert_eq!(index.cursor().unwrap(), 3, "this layout is kept");
    }
}
