//! Group commit: many concurrent appends share one `append_batch` (one KV commit, one fsync).
//!
//! A background task takes every request waiting at that moment (up to `max_batch`),
//! appends them in one batch on the blocking pool, and answers each caller.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use crate::log::{Appended, EntryError, Log, LogError, NewEntry};

type Reply = oneshot::Sender<Result<Result<Appended, EntryError>, LogError>>;

/// Handle to the group-commit task. Dropping every handle stops the task.
pub struct GroupCommitter {
    requests: mpsc::Sender<(NewEntry, Reply)>,
    commits: Arc<AtomicU64>,
}

impl GroupCommitter {
    /// Starts the task on the current tokio runtime; batches hold at most `max_batch` entries.
    pub fn spawn(log: Arc<Log>, max_batch: usize) -> GroupCommitter {
        let max_batch = max_batch.max(1);
        let (requests, rx) = mpsc::channel(max_batch * 2);
        let commits = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(log, rx, max_batch, commits.clone()));
        GroupCommitter { requests, commits }
    }

    /// Appends one entry, sharing a commit with whatever else is waiting.
    pub async fn append(&self, entry: NewEntry) -> Result<Result<Appended, EntryError>, LogError> {
        let (reply, answer) = oneshot::channel();
        self.requests.send((entry, reply)).await.map_err(|_| LogError::Closed)?;
        answer.await.map_err(|_| LogError::Closed)?
    }

    /// How many batches have been appended so far.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}

async fn run(log: Arc<Log>, mut rx: mpsc::Receiver<(NewEntry, Reply)>, max_batch: usize, commits: Arc<AtomicU64>) {
    let mut waiting = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut waiting, max_batch).await > 0 {
        let (entries, replies): (Vec<NewEntry>, Vec<Reply>) = waiting.drain(..).unzip();
        let log = log.clone();
        let outcome = tokio::task::spawn_blocking(move || log.append_batch(entries))
            .await
            .unwrap_or_else(|e| Err(LogError::Task(e.to_string())));
        commits.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    // A caller that gave up waiting is not an error.
                    let _ = reply.send(Ok(result));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}
