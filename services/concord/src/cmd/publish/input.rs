//! Reading the file: JSON Lines streamed line by line on a thread of its
//! own, or a small JSON document (one object, or an array of them) read
//! whole; each event's id, derived from its content when the line has none.
//!
//! The reader is a plain thread feeding a bounded channel rather than async
//! file I/O: besides reading, it hashes every byte and parses every line,
//! which is CPU work that would otherwise sit on the async workers that
//! drive the publishes, and the bounded channel holds it back when the
//! publishes are slower than the file, so memory stays flat.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use concord_core::pb;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

/// Files that may be a JSON document (not JSON Lines) are read whole up to this size.
const DOCUMENT_LIMIT: u64 = 64 * 1024 * 1024;

/// Where an event is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A line of a JSON Lines file (from 1).
    Line(u64),
    /// An element of a JSON array (from 1).
    Item(u64),
    /// A file holding one JSON object.
    Document,
}

impl Place {
    /// Its number in the file's order: what the resume watermark counts.
    pub fn number(self) -> u64 {
        match self {
            Place::Line(n) | Place::Item(n) => n,
            Place::Document => 1,
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Line(n) => write!(f, "line {n}"),
            Place::Item(n) => write!(f, "item {n}"),
            Place::Document => f.write_str("document"),
        }
    }
}

/// An event read from the file, ready to publish.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The event, its `event_id` always set.
    pub event: pb::Event,
    /// Whether the id was derived here (the line had none), see [`derived_id`].
    pub derived: bool,
}

/// One line (or item) of the file.
#[derive(Debug)]
pub struct Line {
    /// Where it is.
    pub place: Place,
    /// Bytes of the file read through the end of this line.
    pub end: u64,
    /// SHA-256 of those bytes, so far (JSON Lines only): what a resume checks.
    pub prefix: Option<Sha256>,
    /// The event, or why the line is not one.
    pub event: Result<Parsed, String>,
}

/// What kind of file it is.
pub enum Format {
    /// JSON Lines: streamed with [`stream`].
    Lines,
    /// One JSON object or an array of them, read whole.
    Document(Vec<Line>),
}

/// Where to start reading a JSON Lines file again, and what its beginning
/// must be for that to be right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The last line already done.
    pub through_line: u64,
    /// Bytes through the end of that line.
    pub through_byte: u64,
    /// SHA-256 of those bytes.
    pub sha256: [u8; 32],
}

/// Parses one JSON document as an event; errors name the path of the field at fault.
pub fn parse_event(json: &str) -> Result<pb::Event, String> {
    let mut de = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." { e.inner().to_string() } else { format!("{path}: {}", e.inner()) }
    })
}

/// The id of an event that came without one: a UUID (version 8) made from
/// SHA-256 of the agency (`namespace`) and the line's bytes, so sending the
/// same line again carries the same id and the log cannot take it twice.
///
/// Why an "id already taken" answer for such an id means the line is in the
/// log: the id is a 122-bit digest of the agency and the exact bytes of the
/// line, so an event holding it was published from this same line (by this
/// load, an interrupted one, an earlier load of the same file, or a second
/// copy of the line in the file). The ledger then refuses the new copy only
/// because the node sealed its personal data with fresh randomness, so the
/// bytes differ although the content does not. Nobody else can take the id
/// first without knowing every byte of the line, personal data included.
/// The flip side: the same event written differently (keys reordered,
/// spacing) gets another id, so reformatting a file before loading it
/// again would duplicate its events.
pub fn derived_id(namespace: &str, content: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(b"concord publish: the id of an event given without one\0");
    hash.update(namespace.as_bytes());
    hash.update([0]);
    hash.update(content);
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid().hyphenated().to_string()
}

/// The event in `content` (a line, or one item of a document), its id
/// derived if it has none: from the agency it names, else `namespace` (the
/// caller's, from the token).
fn parse(content: &[u8], namespace: &str) -> Result<Parsed, String> {
    let text = std::str::from_utf8(content).map_err(|e| format!("not UTF-8 text: {e}"))?;
    let mut event = parse_event(text)?;
    let derived = event.event_id.is_empty();
    if derived {
        let agency = if event.agency_id.is_empty() { namespace } else { event.agency_id.as_str() };
        event.event_id = derived_id(agency, content);
    }
    Ok(Parsed { event, derived })
}

/// The items of a file holding one JSON object or an array of them, or
/// `None` if it is neither (JSON Lines, or not JSON at all).
pub fn read_document(text: &str, namespace: &str) -> Option<Vec<Line>> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('[') && !trimmed.starts_with('{') {
        return None;
    }
    let end = text.len() as u64;
    let item = |place, value: serde_json::Value| {
        let content = value.to_string();
        Line { place, end, prefix: None, event: parse(content.as_bytes(), namespace) }
    };
    match serde_json::from_str::<serde_json::Value>(text).ok()? {
        serde_json::Value::Array(items) => {
            Some(items.into_iter().enumerate().map(|(i, v)| item(Place::Item(i as u64 + 1), v)).collect())
        }
        value @ serde_json::Value::Object(_) => Some(vec![item(Place::Document, value)]),
        _ => None,
    }
}

/// Whether the file is JSON Lines or a document, and its size. A file whose
/// first line is a whole JSON value is JSON Lines; one starting with `[`, or
/// with a `{` that does not close on its line, is read whole if it parses
/// as one document (JSON Lines otherwise, each bad line reported).
pub fn sniff(path: &Path, namespace: &str) -> Result<(Format, u64)> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata().with_context(|| format!("reading {}", path.display()))?.len();
    let mut reader = BufReader::new(file);
    let mut first = Vec::new();
    loop {
        first.clear();
        if reader.read_until(b'\n', &mut first).with_context(|| format!("reading {}", path.display()))? == 0 {
            break;
        }
        if !first.trim_ascii().is_empty() {
            break;
        }
    }
    let head = first.trim_ascii();
    let array = head.starts_with(b"[");
    let open_object = head.starts_with(b"{") && serde_json::from_slice::<serde::de::IgnoredAny>(head).is_err();
    if !array && !open_object {
        return Ok((Format::Lines, size));
    }
    if size > DOCUMENT_LIMIT {
        if array {
            bail!(
                "{} is a JSON array of {size} bytes: arrays are read whole, so give a file this large as JSON Lines \
                 (one event per line)",
                path.display()
            );
        }
        return Ok((Format::Lines, size));
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(match read_document(&text, namespace) {
        Some(items) => (Format::Document(items), size),
        None => (Format::Lines, size),
    })
}

/// Streams the lines of a JSON Lines file from a thread of its own, at most
/// `buffer` lines ahead of the receiver. With `resume`, the lines through
/// `resume.through_line` are read (and hashed) but not parsed; if their
/// bytes are not what the interrupted load read, the stream ends with an
/// error instead. Blank lines are skipped.
pub fn stream(
    path: PathBuf,
    namespace: String,
    resume: Option<Resume>,
    buffer: usize,
) -> mpsc::Receiver<Result<Line, String>> {
    let (tx, rx) = mpsc::channel(buffer.max(1));
    std::thread::spawn(move || {
        if let Err(e) = read_lines(&path, &namespace, resume.as_ref(), &tx) {
            let _ = tx.blocking_send(Err(format!("{e:#}")));
        }
    });
    rx
}

fn read_lines(
    path: &Path,
    namespace: &str,
    resume: Option<&Resume>,
    tx: &mpsc::Sender<Result<Line, String>>,
) -> Result<()> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let skip = resume.map_or(0, |r| r.through_line);
    let (mut hash, mut buf, mut number, mut end) = (Sha256::new(), Vec::new(), 0u64, 0u64);
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        number += 1;
        end += n as u64;
        hash.update(&buf);
        if number <= skip {
            if let Some(resume) = resume.filter(|_| number == skip) {
                check_unchanged(path, resume, end, &hash)?;
            }
            continue;
        }
        let content = buf.trim_ascii();
        if content.is_empty() {
            continue;
        }
        let line =
            Line { place: Place::Line(number), end, prefix: Some(hash.clone()), event: parse(content, namespace) };
        if tx.blocking_send(Ok(line)).is_err() {
            // The load stopped; nothing more is wanted.
            return Ok(());
        }
    }
    if number < skip {
        bail!(
            "{} has {number} lines, but the interrupted load had done {skip}: the file changed; publish it with \
             --restart to start again",
            path.display()
        );
    }
    Ok(())
}

fn check_unchanged(path: &Path, resume: &Resume, end: u64, hash: &Sha256) -> Result<()> {
    let sha256: [u8; 32] = hash.clone().finalize().into();
    if end != resume.through_byte || sha256 != resume.sha256 {
        bail!(
            "the first {} lines of {} are not those the interrupted load sent: the file changed since; publish it \
             with --restart to start again (lines without an event_id keep their ids, so those already in the \
             log are not duplicated)",
            resume.through_line,
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str, resume: Option<Resume>) -> Vec<Result<Line, String>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, text).unwrap();
        let mut rx = stream(path, "police.met.nw".into(), resume, 2);
        std::iter::from_fn(|| rx.blocking_recv()).collect()
    }

    #[test]
    fn streams_json_lines_with_their_numbers_and_errors() {
        let text = "{\"event_id\": \"x\"}\n\n{not json}\n{\"borough\": 5}\r\n{\"borough\": \"Harrow\"}";
        let read = lines(text, None);
        let read: Vec<Line> = read.into_iter().map(Result::unwrap).collect();
        let places: Vec<_> = read.iter().map(|l| l.place.to_string()).collect();
        assert_eq!(places, ["line 1", "line 3", "line 4", "line 5"]);
        assert_eq!(read[0].event.as_ref().unwrap().event.event_id, "x", "an id given is kept");
        assert!(!read[0].event.as_ref().unwrap().derived);
        assert!(read[1].event.is_err());
        assert!(read[2].event.as_ref().unwrap_err().starts_with("borough:"), "the error names the field");
        let last = read[3].event.as_ref().unwrap();
        assert!(last.derived);
        assert_eq!(last.event.event_id, derived_id("police.met.nw", b"{\"borough\": \"Harrow\"}"));
        assert_eq!(read[3].end, text.len() as u64, "every byte counted");
    }

    #[test]
    fn resumes_after_a_line_only_if_the_file_begins_as_it_did() {
        let text = "{\"ward\": \"a\"}\n{\"ward\": \"b\"}\n{\"ward\": \"c\"}\n";
        let first: Vec<Line> = lines(text, None).into_iter().map(Result::unwrap).collect();
        let resume = Resume {
            through_line: 2,
            through_byte: first[1].end,
            sha256: first[1].prefix.clone().unwrap().finalize().into(),
        };
        let resumed = lines(text, Some(resume.clone()));
        assert_eq!(resumed.len(), 1);
        assert_eq!(resumed[0].as_ref().unwrap().place, Place::Line(3));

        let changed = lines(&text.replace("\"b\"", "\"B\""), Some(resume.clone()));
        assert!(changed[0].as_ref().unwrap_err().contains("changed"), "{:?}", changed[0]);
        let shorter = lines("{\"ward\": \"a\"}\n", Some(resume));
        assert!(shorter[0].as_ref().unwrap_err().contains("changed"));
    }

    #[test]
    fn derived_ids_are_uuids_stable_per_agency_and_content() {
        let id = derived_id("police.met.nw", b"{}");
        let uuid = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(uuid.get_version_num(), 8);
        assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(id, derived_id("police.met.nw", b"{}"));
        assert_ne!(id, derived_id("yot.harrow", b"{}"), "another agency's line is another event");
        assert_ne!(id, derived_id("police.met.nw", b"{ }"));
        assert!(concord_core::EventId::parse(&id).is_ok(), "the node takes it");
    }

    #[test]
    fn documents_are_read_whole_and_json_lines_are_not() {
        let doc = read_document("{\n  \"borough\": \"Harrow\"\n}\n", "x").unwrap();
        assert_eq!(doc.len(), 1);
        assert_eq!(doc[0].place, Place::Document);
        assert!(doc[0].event.as_ref().unwrap().derived);
        let array = read_document("[{\"borough\": \"Harrow\"}, {\"ward\": \"Wealdstone\"}]", "x").unwrap();
        let places: Vec<_> = array.iter().map(|l| l.place).collect();
        assert_eq!(places, [Place::Item(1), Place::Item(2)]);
        assert!(read_document("{\"ward\": \"a\"}\n{\"ward\": \"b\"}\n", "x").is_none());

        let dir = tempfile::tempdir().unwrap();
        let sniffed = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            match sniff(&path, "x").unwrap().0 {
                Format::Lines => "lines",
                Format::Document(_) => "document",
            }
        };
        assert_eq!(sniffed("a.json", "{\n  \"borough\": \"Harrow\"\n}\n"), "document");
        assert_eq!(sniffed("b.json", " [\n{\"ward\": \"a\"}\n]"), "document");
        assert_eq!(sniffed("c.jsonl", "{\"ward\": \"a\"}\n{\"ward\": \"b\"}\n"), "lines");
        assert_eq!(sniffed("d.jsonl", "\n{\"ward\": \"a\"}\n"), "lines");
        assert_eq!(sniffed("e.jsonl", "{not json}\n{\"ward\": \"b\"}\n"), "lines");
    }
}
