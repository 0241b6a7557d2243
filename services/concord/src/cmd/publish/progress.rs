//! The progress file of a load: how far it got, so an interrupted load
//! resumes where it stopped, and what the lines done so far came to.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::input::Resume;

/// The format's version; another is not resumed from.
const VERSION: u32 = 1;

/// At most this many refusals are kept (and listed); the rest are counted.
pub const MAX_LISTED: usize = 1000;

/// How many lines came to what.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Appended by this load.
    pub published: u64,
    /// Already in the log before this load sent them.
    pub already: u64,
    /// Refused, for good.
    pub refused: u64,
}

/// A refused line and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// Its place, e.g. `line 17`.
    pub place: String,
    /// Why, with the field at fault when the answer names one.
    pub reason: String,
}

/// The progress file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The format's version.
    pub version: u32,
    /// The server the lines went to.
    pub addr: String,
    /// The watermark: every line through this one has a final outcome
    /// (published, already in the log, refused).
    pub through_line: u64,
    /// Bytes of the file through the end of that line.
    pub through_byte: u64,
    /// SHA-256 of those bytes (hex): a resume checks the file still begins so.
    pub sha256: String,
    /// No line after this one was sent: those up to it may have reached the
    /// log before the interruption without their outcome being recorded here.
    pub sent_through: u64,
    /// The outcomes of the lines through the watermark.
    pub counts: Counts,
    /// The first [`MAX_LISTED`] of their refusals.
    pub refusals: Vec<Refusal>,
}

impl Progress {
    /// A load of a file into `addr` that has done nothing yet.
    pub fn new(addr: &str) -> Progress {
        Progress {
            version: VERSION,
            addr: addr.to_string(),
            through_line: 0,
            through_byte: 0,
            sha256: hex::encode(Sha256::digest(b"")),
            sent_through: 0,
            counts: Counts::default(),
            refusals: Vec::new(),
        }
    }

    /// Where a resumed load starts reading again.
    pub fn resume(&self) -> Result<Resume> {
        let sha256 = hex::decode(&self.sha256)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .context("its sha256 is not 32 bytes of hex")?;
        Ok(Resume { through_line: self.through_line, through_byte: self.through_byte, sha256 })
    }
}

/// The progress file beside `file`: `FILE.progress`.
pub fn default_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".progress");
    file.with_file_name(name)
}

/// Reads the progress file at `path` of a load into `addr`, if there is one.
pub fn read(path: &Path, addr: &str) -> Result<Option<Progress>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let progress: Progress = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a progress file of `concord publish`", path.display()))?;
    if progress.version != VERSION {
        bail!("{} is of another version of `concord publish`: publish with --restart", path.display());
    }
    if progress.addr != addr {
        bail!(
            "{} is the progress of a load into {}, not {addr}: publish with --addr {} to resume it, or with \
             --restart",
            path.display(),
            progress.addr,
            progress.addr
        );
    }
    progress.resume().with_context(|| format!("in {}", path.display()))?;
    Ok(Some(progress))
}

/// Writes the progress file whole and durably: into a file beside it,
/// flushed to disk, renamed over it, and the rename flushed, so a crash at
/// any moment leaves the old file or the new one, never half of either.
pub fn write(path: &Path, progress: &Progress) -> Result<()> {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".new");
    let draft = path.with_file_name(name);
    let json = serde_json::to_vec_pretty(progress)?;
    let mut file = std::fs::File::create(&draft).with_context(|| format!("creating {}", draft.display()))?;
    file.write_all(&json).and_then(|()| file.sync_all()).with_context(|| format!("writing {}", draft.display()))?;
    std::fs::rename(&draft, path).with_context(|| format!("renaming {} to {}", draft.display(), path.display()))?;
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        std::fs::File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_another_servers_progress() {
        let dir = tempfile::tempdir().unwrap();
        let path = default_path(&dir.path().join("events.jsonl"));
        assert_eq!(path.file_name().unwrap(), "events.jsonl.progress");
        assert_eq!(read(&path, "http://a").unwrap(), None, "none yet");

        let mut progress = Progress::new("http://a");
        progress.through_line = 17;
        progress.through_byte = 4096;
        progress.sha256 = hex::encode([7u8; 32]);
        progress.sent_through = 80;
        progress.counts = Counts { published: 14, already: 1, refused: 2 };
        progress.refusals.push(Refusal { place: "line 3".into(), reason: "INVALID_ARGUMENT: x [field y]".into() });
        write(&path, &progress).unwrap();
        write(&path, &progress).unwrap();
        assert_eq!(read(&path, "http://a").unwrap(), Some(progress.clone()));
        let resume = progress.resume().unwrap();
        assert_eq!((resume.through_line, resume.through_byte, resume.sha256), (17, 4096, [7u8; 32]));
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(files, ["events.jsonl.progress"], "no draft left behind");

        let other = read(&path, "http://b").unwrap_err().to_string();
        assert!(other.contains("--addr http://a"), "{other}");
        std::fs::write(&path, "{}").unwrap();
        assert!(read(&path, "http://a").is_err(), "a file that is not one is not taken for none");
    }
}
