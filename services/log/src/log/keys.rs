//! Key encoding for the log's KV layout (the table is at the top of `log.rs`).
//!
//! Variable-length parts are made prefix-free so that one key can never be read as
//! another: stream and index names are length-prefixed (they are only matched exactly),
//! index values are escaped (`0x00` becomes `0x00 0xFF`) and terminated by `0x00 0x01`,
//! which keeps them in byte order for range scans.

use crate::merkle::NodeId;

const ENTRY: u8 = b'e';
const ID: u8 = b'i';
const STREAM: u8 = b's';
const INDEX: u8 = b'x';
const NODE: u8 = b'm';
const CHECKPOINT: u8 = b'c';
const CURSOR: u8 = b'u';

/// Key of a named cursor.
pub fn cursor(name: &str) -> Vec<u8> {
    with_name(CURSOR, name)
}

/// Key of the entry at `position`.
pub fn entry(position: u64) -> Vec<u8> {
    with_u64(vec![ENTRY], position)
}

/// Range of all entry keys: [start, end).
pub fn entry_range() -> (Vec<u8>, Vec<u8>) {
    (vec![ENTRY], vec![ENTRY + 1])
}

/// Key of the idempotency id → position mapping.
pub fn id(id: &[u8; 16]) -> Vec<u8> {
    let mut k = vec![ID];
    k.extend_from_slice(id);
    k
}

/// Prefix shared by all versions of `stream`.
pub fn stream_prefix(stream: &str) -> Vec<u8> {
    with_name(STREAM, stream)
}

/// Key of version `version` of `stream`.
pub fn stream(stream: &str, version: u64) -> Vec<u8> {
    with_u64(stream_prefix(stream), version)
}

/// Prefix of the index entries of `index` whose value is `value`; also the lower bound
/// of values `>= value` in a range scan.
pub fn index_value(index: &str, value: &[u8]) -> Vec<u8> {
    let mut k = with_name(INDEX, index);
    for &b in value {
        k.push(b);
        if b == 0x00 {
            k.push(0xFF);
        }
    }
    k.extend_from_slice(&[0x00, 0x01]);
    k
}

/// Key of one index entry.
pub fn index(index: &str, value: &[u8], position: u64) -> Vec<u8> {
    with_u64(index_value(index, value), position)
}

/// Key of a stored Merkle node.
pub fn node(id: NodeId) -> Vec<u8> {
    with_u64(vec![NODE, id.level], id.index)
}

/// Key of the stored checkpoint at `size`.
pub fn checkpoint(size: u64) -> Vec<u8> {
    with_u64(vec![CHECKPOINT], size)
}

/// Range of all id keys: [start, end).
pub fn id_range() -> (Vec<u8>, Vec<u8>) {
    (vec![ID], vec![ID + 1])
}

/// Range of all stream keys: [start, end).
pub fn stream_range() -> (Vec<u8>, Vec<u8>) {
    (vec![STREAM], vec![STREAM + 1])
}

/// Range of all index keys: [start, end).
pub fn index_range() -> (Vec<u8>, Vec<u8>) {
    (vec![INDEX], vec![INDEX + 1])
}

/// Prefix shared by all entries of `index`.
pub fn index_prefix(index: &str) -> Vec<u8> {
    with_name(INDEX, index)
}

/// Range of all Merkle node keys: [start, end).
pub fn node_range() -> (Vec<u8>, Vec<u8>) {
    (vec![NODE], vec![NODE + 1])
}

/// The id of an id key.
pub fn parse_id(key: &[u8]) -> Option<[u8; 16]> {
    key.strip_prefix(&[ID])?.try_into().ok()
}

/// The stream and version of a stream key.
pub fn parse_stream(key: &[u8]) -> Option<(String, u64)> {
    let (stream, rest) = split_name(STREAM, key)?;
    Some((stream, decode_u64(rest)?))
}

/// The index, value and position of an index key (the inverse of [`index`]).
pub fn parse_index(key: &[u8]) -> Option<(String, Vec<u8>, u64)> {
    let (index, rest) = split_name(INDEX, key)?;
    let position = trailing_u64(rest)?;
    let escaped = rest.get(..rest.len() - 8)?.strip_suffix(&[0x00, 0x01])?;
    let mut value = Vec::with_capacity(escaped.len());
    let mut bytes = escaped.iter();
    while let Some(&b) = bytes.next() {
        value.push(b);
        if b == 0x00 && bytes.next() != Some(&0xFF) {
            return None;
        }
    }
    Some((index, value, position))
}

/// The node id of a Merkle node key.
pub fn parse_node(key: &[u8]) -> Option<NodeId> {
    let (&level, index) = key.strip_prefix(&[NODE])?.split_first()?;
    Some(NodeId { level, index: decode_u64(index)? })
}

/// The smallest key greater than every key starting with `prefix` (`None` if there is none).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Reads a big-endian u64 from exactly 8 bytes.
pub fn decode_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// Reads the big-endian u64 that ends a key.
pub fn trailing_u64(key: &[u8]) -> Option<u64> {
    decode_u64(key.get(key.len().checked_sub(8)?..)?)
}

fn with_u64(mut key: Vec<u8>, n: u64) -> Vec<u8> {
    key.extend_from_slice(&n.to_be_bytes());
    key
}

/// The name after `tag` at the start of `key`, and the rest of the key.
fn split_name(tag: u8, key: &[u8]) -> Option<(String, &[u8])> {
    let rest = key.strip_prefix(&[tag])?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    let name = std::str::from_utf8(rest.get(..len)?).ok()?;
    Some((name.to_string(), rest.get(len..)?))
}

fn with_name(tag: u8, name: &str) -> Vec<u8> {
    let mut k = vec![tag];
    // Names longer than 4 GiB cannot be stored; saturating keeps this total.
    let len = u32::try_from(name.len()).unwrap_or(u32::MAX);
    k.extend_from_slice(&len.to_be_bytes());
    k.extend_from_slice(name.as_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_values_keep_order_and_are_prefix_free() {
        let values: [&[u8]; 7] = [b"", b"\x00", b"\x00\x00", b"\x00\x01", b"a", b"a\x00", b"ab"];
        for w in values.windows(2) {
            let (a, b) = (index("t", w[0], u64::MAX), index("t", w[1], 0));
            assert!(a < b, "{:?} < {:?}", w[0], w[1]);
        }
        // "a" is a prefix of "ab", but no key of "a" falls in the range of "ab".
        assert!(!index("t", b"ab", 1).starts_with(&index_value("t", b"a")));
        assert!(!index("t", b"a", 1).starts_with(&index_value("t", b"ab")));
    }

    #[test]
    fn names_are_length_prefixed() {
        assert!(!stream("ab", 1).starts_with(&stream_prefix("a")));
        assert!(!index("ty", b"", 1).starts_with(&index_value("t", b"y")));
    }

    #[test]
    fn keys_parse_back() {
        for value in [&b""[..], b"\x00", b"a\x00\x01b", b"\xFF\x00"] {
            assert_eq!(parse_index(&index("type", value, 7)), Some(("type".into(), value.to_vec(), 7)));
        }
        assert_eq!(parse_index(&index("t", b"a", 1)[..10]), None);
        assert_eq!(parse_stream(&stream("person/P-1", 3)), Some(("person/P-1".into(), 3)));
        assert_eq!(parse_id(&id(&[7; 16])), Some([7; 16]));
        let node_id = NodeId { level: 3, index: 9 };
        assert_eq!(parse_node(&node(node_id)), Some(node_id));
        assert_eq!(parse_stream(&index("t", b"a", 1)), None);
    }

    #[test]
    fn prefix_end_carries() {
        assert_eq!(prefix_end(b"a\xFF"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xFF\xFF"), None);
    }
}
