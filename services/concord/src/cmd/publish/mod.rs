//! `concord publish`: loads a file of events through the node, a window of
//! publishes in flight, with a progress bar, each line's outcome as it
//! comes, a summary of what was refused by line number, and a progress
//! file from which an interrupted load resumes without duplicating events.
//! A JSON Lines file gives one event per line and is streamed; a file
//! holding one JSON object or an array of them is read whole.

mod input;
mod order;
mod progress;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use base64::Engine as _;
use concord_core::pb::publish_service_client::PublishServiceClient;
use concord_core::{AgencyId, pb, status};
use concord_identity::{Purpose, Role};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tonic::transport::Channel;
use tonic::{Code, Status};

use self::input::{Format, Line, Place};
use self::order::{Claims, InFlight, Watermark};
use self::progress::{Counts, MAX_LISTED, Progress, Refusal};
use crate::client::authorized;
use crate::cmd::{ClientArgs, DataArg};
use crate::layout::Layout;

/// `concord publish --help`.
pub const LONG_ABOUT: &str = "\
Publish events from a file through the node: JSON Lines (one event per line, see schemas/), \
streamed whatever its size, or one JSON object or an array of them (read whole). Each line's \
outcome is printed as it comes (published and already-loaded lines on stdout, with their event \
id; refused lines on stderr), then a summary counts the lines published, already in the log and \
refused, and lists the refused ones by line number with the reason and the field at fault. The \
exit status is non-zero if any line was refused or not confirmed.

A window of publishes is kept in flight (--window). A line whose outcome depends on an earlier \
one waits for it (an event relying on a consent recorded or withdrawn above it, a correction of \
an event above it, an event with expected versions), so the outcomes are those of sending the \
file one line at a time.

Resuming: a JSON Lines load keeps its progress in FILE.progress (--progress). Run the same \
command again after an interruption (Ctrl-C, a crash, the server going away) and it resumes \
after the last line through which every line was done, if the file still begins with the same \
bytes; its summary counts the lines done before too.

Event ids: a line without an event_id is given one derived from its agency and its exact bytes, \
so sending it again cannot make a second event: the log says the id is taken, and the line is \
reported as already in the log. So a whole file may be sent again without duplicates (--restart, \
or without its progress file): only new lines and changed lines are published. That is the way \
to load refused lines once they are fixed in the file. But changing a line that was published \
makes another event beside it: correct a published event with an event that `corrects` it. A \
line repeated word for word is one event. A line that carries its own event_id and finds it \
taken is reported as already in the log only where this load may have sent it itself (just \
before an interruption, or an attempt that failed); elsewhere it is refused, since the id may \
be another event's.";

/// Arguments of `concord publish`.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// The file: JSON Lines, one event per line (see schemas/).
    pub file: PathBuf,
    #[command(flatten)]
    pub client: ClientArgs,
    /// Without --token, tokens for each line's agency are minted from this data directory's issuer.
    #[command(flatten)]
    pub data: DataArg,
    /// Publishes in flight at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub window: u16,
    /// Where the load's progress is kept (default: FILE.progress beside the file).
    #[arg(long, value_name = "PATH")]
    pub progress: Option<PathBuf>,
    /// Start from the first line, whatever the progress file says.
    #[arg(long)]
    pub restart: bool,
}

/// Attempts of a publish the server could not take (UNAVAILABLE), and the pauses between them.
const RETRY_PAUSES: [Duration; 2] = [Duration::from_millis(250), Duration::from_secs(1)];
/// How often the progress file is written while lines are done.
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// How long in-flight publishes may take to finish once the load is stopped.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// Minted tokens are minted again after this long (they last an hour).
const MINT_AGAIN_AFTER: Duration = Duration::from_secs(1800);
/// The phrase of the ledger's answer to an event id already taken by other bytes.
const ID_TAKEN: &str = "this id is already taken";

/// Publishes every event in the file; exits non-zero if any was refused.
pub async fn run(args: PublishArgs) -> Result<ExitCode> {
    let namespace = args.client.token.as_deref().map(token_namespace).unwrap_or_default();
    if let Some(token) = &args.client.token {
        authorized((), token)?;
    }
    let (format, size) = {
        let (path, namespace) = (args.file.clone(), namespace.clone());
        tokio::task::spawn_blocking(move || input::sniff(&path, &namespace)).await.context("reading the file")??
    };
    let client = PublishServiceClient::new(args.client.connect().await?);
    let tokens = Tokens::new(args.client.token.clone(), &args.data).await?;
    let window = usize::from(args.window);
    let (lines, saver) = match format {
        Format::Document(items) => {
            if args.progress.is_some() || args.restart {
                eprintln!(
                    "note: {} is one JSON document: it is sent whole, without a progress file",
                    args.file.display()
                );
            }
            (document_lines(items), None)
        }
        Format::Lines => {
            let path = args.progress.clone().unwrap_or_else(|| progress::default_path(&args.file));
            let earlier = if args.restart { None } else { progress::read(&path, &args.client.addr)? };
            let resume = match &earlier {
                Some(p) if p.through_line > 0 => {
                    eprintln!("resuming after line {}, as {} says", p.through_line, path.display());
                    Some(p.resume()?)
                }
                _ => None,
            };
            let lines = input::stream(args.file.clone(), namespace.clone(), resume, window * 2);
            (lines, Some(Saver::new(path, earlier, &args.client.addr)))
        }
    };
    let mut load = Load::new(&args.file, size, window, saver, tokens);
    load.run(client, lines).await?;
    Ok(load.finish().await)
}

/// The items of a document, as the stream of a JSON Lines file would give them.
fn document_lines(items: Vec<Line>) -> mpsc::Receiver<Result<Line, String>> {
    let (tx, rx) = mpsc::channel(items.len().max(1));
    for item in items {
        let _ = tx.try_send(Ok(item));
    }
    rx
}

/// What the derived ids of lines naming no agency are derived under: the
/// token's agency, or for a provider's token naming none, its issuer and
/// subject. Read from the token without checking it: it only names ids.
fn token_namespace(token: &str) -> String {
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|part| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok())
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .unwrap_or_default();
    match claims["agency_id"].as_str() {
        Some(agency) => agency.to_string(),
        None => {
            format!("{} {}", claims["iss"].as_str().unwrap_or_default(), claims["sub"].as_str().unwrap_or_default())
        }
    }
}

/// The tokens lines are sent with: the one given, or minted per agency
/// from the local issuer (loaded once, off the async workers).
struct Tokens {
    given: Option<String>,
    issuer: Result<concord_identity::Issuer, String>,
    minted: HashMap<String, (String, Instant)>,
}

impl Tokens {
    async fn new(given: Option<String>, data: &DataArg) -> Result<Tokens> {
        let issuer = match &given {
            Some(_) => Err(String::new()),
            None => {
                let layout = Layout::new(&data.data);
                tokio::task::spawn_blocking(move || layout.issuer())
                    .await
                    .context("loading the token issuer")?
                    .map_err(|e| format!("no --token given and no local issuer to mint one: {e:#}"))
            }
        };
        Ok(Tokens { given, issuer, minted: HashMap::new() })
    }

    /// The token for a line of `agency`.
    fn of(&mut self, agency: &str) -> Result<String> {
        if let Some(token) = &self.given {
            return Ok(token.clone());
        }
        if let Some((token, minted)) = self.minted.get(agency)
            && minted.elapsed() < MINT_AGAIN_AFTER
        {
            return Ok(token.clone());
        }
        let agency_id = AgencyId::parse(agency).context("agency_id")?;
        let issuer = self.issuer.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
        let token = issuer.mint(
            "concord-publish",
            &agency_id,
            Role::Practitioner,
            Purpose::CaseManagement,
            Duration::from_secs(3600),
        )?;
        self.minted.insert(agency.to_string(), (token.clone(), Instant::now()));
        Ok(token)
    }
}

/// A line on its way: what it was, and what the server said.
struct Sent {
    place: Place,
    end: u64,
    prefix: Option<Sha256>,
    claims: Claims,
    event_id: String,
    derived: bool,
    attempts: usize,
    result: Result<pb::PublishResponse, Status>,
}

/// Publishes, trying again a few times while the server cannot take it.
async fn send(
    mut client: PublishServiceClient<Channel>,
    event: pb::Event,
    token: String,
) -> (usize, Result<pb::PublishResponse, Status>) {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let request = pb::PublishRequest { event: Some(event.clone()), wait_for_ledger: true };
        let request = match authorized(request, &token) {
            Ok(request) => request,
            Err(e) => return (attempts, Err(Status::unauthenticated(format!("{e:#}")))),
        };
        match client.publish(request).await {
            Err(status) if status.code() == Code::Unavailable && attempts <= RETRY_PAUSES.len() => {
                tokio::time::sleep(RETRY_PAUSES[attempts - 1]).await;
            }
            result => return (attempts, result.map(tonic::Response::into_inner)),
        }
    }
}

/// What a line came to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Appended at this position.
    Published(u64),
    /// The log had it already, and why we know.
    Already(&'static str),
    /// Refused for good: why.
    Refused(String),
    /// Accepted by the node, not confirmed by the ledger in time: not final.
    Unconfirmed(String),
    /// Not sent: the load cannot go on (why). Not final.
    Stopped(String),
}

impl Outcome {
    /// What a line's answer means. `derived`: its id was derived from its
    /// content (see [`input::derived_id`]), so a taken id is its own.
    /// `sent_before`: how this load may have sent the line already (just
    /// before an interruption, or an attempt that failed), so a taken id
    /// may be its own.
    fn of(result: &Result<pb::PublishResponse, Status>, derived: bool, sent_before: Option<&'static str>) -> Outcome {
        let status = match result {
            Ok(r) if r.duplicate => return Outcome::Already("the log had it"),
            Ok(r) => return Outcome::Published(r.position),
            Err(status) => status,
        };
        let taken = status.code() == Code::InvalidArgument && status.message().contains(ID_TAKEN);
        match status.code() {
            _ if taken && let Some(how) = sent_before => Outcome::Already(how),
            _ if taken && derived => Outcome::Already("the same content was published before"),
            Code::DeadlineExceeded => Outcome::Unconfirmed(refusal(status)),
            Code::Unavailable | Code::Unauthenticated => Outcome::Stopped(refusal(status)),
            _ => Outcome::Refused(refusal(status)),
        }
    }
}

/// A refusal as a person reads it: the code, the message and the field.
fn refusal(status: &Status) -> String {
    let field = status::field_of(status).map(|f| format!(" [field {f}]")).unwrap_or_default();
    format!("{}: {}{field}", code_name(status.code()), status.message())
}

/// A gRPC code as the protocol spells it.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A line's final outcome, kept until it passes under the watermark.
struct Settled {
    kind: Kind,
    refusal: Option<Refusal>,
    end: u64,
    prefix: Option<Sha256>,
}

/// The kinds of final outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Published,
    Already,
    Refused,
}

impl Counts {
    fn add(&mut self, kind: Kind) {
        match kind {
            Kind::Published => self.published += 1,
            Kind::Already => self.already += 1,
            Kind::Refused => self.refused += 1,
        }
    }
}

/// The progress file of a JSON Lines load, and the state it records.
struct Saver {
    path: PathBuf,
    progress: Progress,
    /// The lines the interrupted load may have sent: after its watermark,
    /// through its `sent_through`.
    sent_before: (u64, u64),
    /// SHA-256 so far of the bytes through the watermark (none: unchanged).
    prefix: Option<Sha256>,
    saved: Instant,
    /// Lines sent since `sent_through` was last moved, and when that was.
    sent_since: (u64, Instant),
    changed: bool,
}

impl Saver {
    fn new(path: PathBuf, earlier: Option<Progress>, addr: &str) -> Saver {
        let progress = earlier.unwrap_or_else(|| Progress::new(addr));
        Saver {
            path,
            sent_before: (progress.through_line, progress.sent_through),
            progress,
            prefix: None,
            saved: Instant::now(),
            sent_since: (0, Instant::now()),
            changed: false,
        }
    }

    /// Whether line `number` may have been sent by the interrupted load.
    fn sent_before(&self, number: u64) -> bool {
        self.sent_before.0 < number && number <= self.sent_before.1
    }

    /// A line passed under the watermark.
    fn passed(&mut self, number: u64, settled: Settled) {
        self.progress.counts.add(settled.kind);
        if let Some(refusal) = settled.refusal
            && self.progress.refusals.len() < MAX_LISTED
        {
            self.progress.refusals.push(refusal);
        }
        self.progress.through_line = number;
        self.progress.through_byte = settled.end;
        self.prefix = settled.prefix;
        self.changed = true;
    }

    /// Before sending line `number`: the file must say that no line after
    /// its `sent_through` was sent, so that moves ahead of the sending, by
    /// about two seconds' worth of lines.
    async fn sending(&mut self, number: u64) -> Result<()> {
        self.sent_since.0 += 1;
        if number > self.progress.sent_through {
            let per_sec = self.sent_since.0 as f64 / self.sent_since.1.elapsed().as_secs_f64().max(0.001);
            let room = (2.0 * per_sec).clamp(1024.0, 1e9) as u64;
            self.write(number + room).await?;
            self.sent_since = (0, Instant::now());
        }
        Ok(())
    }

    /// Writes the file if lines passed under the watermark and it was not
    /// written for a second.
    async fn tick(&mut self) -> Result<()> {
        if self.changed && self.saved.elapsed() >= SAVE_EVERY {
            self.write(self.progress.sent_through).await?;
        }
        Ok(())
    }

    /// The last write, nothing in flight: lines after the watermark may
    /// have been sent through `sent` (by this load) or the interrupted one's.
    async fn close(&mut self, sent: u64) -> Result<()> {
        let through = self.progress.through_line;
        self.write(through.max(sent).max(self.sent_before.1)).await
    }

    async fn write(&mut self, sent_through: u64) -> Result<()> {
        self.progress.sent_through = sent_through;
        if let Some(prefix) = &self.prefix {
            self.progress.sha256 = hex::encode(prefix.clone().finalize());
        }
        let (path, progress) = (self.path.clone(), self.progress.clone());
        tokio::task::spawn_blocking(move || progress::write(&path, &progress))
            .await
            .context("writing the progress file")?
            .context("keeping the progress of the load (choose where with --progress)")?;
        self.saved = Instant::now();
        self.changed = false;
        Ok(())
    }
}

/// A load under way.
struct Load {
    file: String,
    bar: ProgressBar,
    started: Instant,
    window: usize,
    tokens: Tokens,
    saver: Option<Saver>,
    flight: InFlight,
    watermark: Watermark<Settled>,
    /// What the interrupted load had done: its lines' counts, refusals and watermark.
    carried: (Counts, Vec<Refusal>, u64),
    /// This run's final outcomes, and its refusals (the first [`MAX_LISTED`]).
    counts: Counts,
    refusals: Vec<Refusal>,
    /// Lines the node accepted and the ledger did not confirm in time.
    unconfirmed: Vec<Place>,
    /// Why the load stopped before the end of the file, if it did.
    stopped: Option<String>,
    /// The last line sent.
    highest_sent: u64,
}

/// What became of a line the load tried to send.
enum Dispatch {
    /// On its way.
    Sent(BoxFuture<'static, Sent>),
    /// Waiting for lines in flight that it depends on.
    Waiting(Box<Line>),
    /// Done without being sent (not an event, no token).
    Done,
}

impl Load {
    fn new(file: &std::path::Path, size: u64, window: usize, saver: Option<Saver>, tokens: Tokens) -> Load {
        let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{bar:20}] {bytes}/{total_bytes}: {msg}, {eta} left")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        let carried = match &saver {
            Some(s) => (s.progress.counts, s.progress.refusals.clone(), s.progress.through_line),
            None => (Counts::default(), Vec::new(), 0),
        };
        Load {
            file: file.display().to_string(),
            bar,
            started: Instant::now(),
            window,
            tokens,
            saver,
            flight: InFlight::default(),
            watermark: Watermark::default(),
            carried,
            counts: Counts::default(),
            refusals: Vec::new(),
            unconfirmed: Vec::new(),
            stopped: None,
            highest_sent: 0,
        }
    }

    /// Sends the lines, up to the window at once, until the file ends or the
    /// load stops (interrupted, or the server cannot go on); then waits (a
    /// while) for the publishes in flight.
    async fn run(
        &mut self,
        client: PublishServiceClient<Channel>,
        mut lines: mpsc::Receiver<Result<Line, String>>,
    ) -> Result<()> {
        let hold_limit = self.window * 16 + 1024;
        let mut sending = FuturesUnordered::new();
        let mut waiting: Option<Line> = None;
        let mut reading = true;
        let mut drain_until: Option<Instant> = None;
        let mut ticker = tokio::time::interval(Duration::from_millis(200));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let shutdown = crate::cmd::shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            while self.stopped.is_none() && sending.len() < self.window && self.watermark.held() < hold_limit {
                let Some(line) = waiting.take() else { break };
                match self.dispatch(line, &client).await? {
                    Dispatch::Sent(publish) => sending.push(publish),
                    Dispatch::Waiting(line) => {
                        waiting = Some(*line);
                        break;
                    }
                    Dispatch::Done => {}
                }
            }
            let idle = sending.is_empty();
            if idle && (self.stopped.is_some() || (!reading && waiting.is_none())) {
                break;
            }
            if self.stopped.is_some() && drain_until.is_none() {
                drain_until = Some(Instant::now() + DRAIN_LIMIT);
            }
            let wanted = self.stopped.is_none() && reading && waiting.is_none();
            tokio::select! {
                received = lines.recv(), if wanted => match received {
                    Some(Ok(line)) => {
                        self.bar.set_position(line.end);
                        waiting = Some(line);
                    }
                    Some(Err(e)) => {
                        reading = false;
                        if idle && self.highest_sent == 0 && self.counts == Counts::default() {
                            self.bar.finish_and_clear();
                            anyhow::bail!(e);
                        }
                        self.stopped = Some(e);
                    }
                    None => reading = false,
                },
                Some(sent) = sending.next(), if !idle => self.settle(sent),
                _ = ticker.tick() => {
                    self.show();
                    if let Some(saver) = &mut self.saver {
                        saver.tick().await?;
                    }
                    if drain_until.is_some_and(|until| Instant::now() >= until) {
                        break;
                    }
                }
                () = &mut shutdown, if self.stopped.is_none() => {
                    self.stopped = Some("interrupted".into());
                }
            }
        }
        if !sending.is_empty() {
            eprintln!("{} publishes still in flight were left unconfirmed", sending.len());
        }
        Ok(())
    }

    /// Sends a line, unless it must wait or cannot be sent.
    async fn dispatch(&mut self, line: Line, client: &PublishServiceClient<Channel>) -> Result<Dispatch> {
        let number = line.place.number();
        let parsed = match line.event {
            Ok(parsed) => parsed,
            Err(e) => {
                self.watermark.enter(number);
                self.record(
                    line.place,
                    line.end,
                    line.prefix,
                    "",
                    Outcome::Refused(format!("not a Concord event: {e}")),
                );
                return Ok(Dispatch::Done);
            }
        };
        let claims = Claims::of(&parsed.event);
        if !self.flight.admits(&claims) {
            return Ok(Dispatch::Waiting(Box::new(Line { event: Ok(parsed), ..line })));
        }
        let token = match self.tokens.of(&parsed.event.agency_id) {
            Ok(token) => token,
            Err(e) => {
                self.watermark.enter(number);
                self.record(line.place, line.end, line.prefix, "", Outcome::Refused(format!("{e:#}")));
                return Ok(Dispatch::Done);
            }
        };
        if let Some(saver) = &mut self.saver {
            saver.sending(number).await?;
        }
        self.flight.take(&claims);
        self.watermark.enter(number);
        self.highest_sent = number;
        let client = client.clone();
        let (event_id, derived) = (parsed.event.event_id.clone(), parsed.derived);
        Ok(Dispatch::Sent(Box::pin(async move {
            let (attempts, result) = send(client, parsed.event, token).await;
            Sent { place: line.place, end: line.end, prefix: line.prefix, claims, event_id, derived, attempts, result }
        })))
    }

    /// A publish came back.
    fn settle(&mut self, sent: Sent) {
        self.flight.release(&sent.claims);
        let number = sent.place.number();
        let sent_before = if self.saver.as_ref().is_some_and(|s| s.sent_before(number)) {
            Some("sent before the interruption")
        } else if sent.attempts > 1 {
            Some("an earlier attempt reached it")
        } else {
            None
        };
        let outcome = Outcome::of(&sent.result, sent.derived, sent_before);
        if let Ok(r) = &sent.result
            && !r.unheard_alert.is_empty()
        {
            let alert = format!("{}: note: {}", sent.place, r.unheard_alert);
            self.bar.suspend(|| eprintln!("{alert}"));
        }
        self.record(sent.place, sent.end, sent.prefix, &sent.event_id, outcome);
    }

    /// Reports a line's outcome and counts it.
    fn record(&mut self, place: Place, end: u64, prefix: Option<Sha256>, event_id: &str, outcome: Outcome) {
        self.bar.suspend(|| match &outcome {
            Outcome::Published(position) => println!("{place}: published {event_id} at position {position}"),
            Outcome::Already(why) => println!("{place}: already in the log as {event_id} ({why})"),
            Outcome::Refused(reason) => eprintln!("{place}: {reason}"),
            Outcome::Unconfirmed(reason) => eprintln!("{place}: not confirmed: {reason}"),
            Outcome::Stopped(reason) => eprintln!("{place}: not sent: {reason}"),
        });
        let (kind, refusal) = match outcome {
            Outcome::Published(_) => (Kind::Published, None),
            Outcome::Already(_) => (Kind::Already, None),
            Outcome::Refused(reason) => (Kind::Refused, Some(Refusal { place: place.to_string(), reason })),
            Outcome::Unconfirmed(_) => {
                self.unconfirmed.push(place);
                self.watermark.done(place.number(), None);
                return;
            }
            Outcome::Stopped(reason) => {
                self.stopped.get_or_insert(reason);
                self.watermark.done(place.number(), None);
                return;
            }
        };
        self.counts.add(kind);
        if let Some(refusal) = &refusal
            && self.refusals.len() < MAX_LISTED
        {
            self.refusals.push(refusal.clone());
        }
        let passed = self.watermark.done(place.number(), Some(Settled { kind, refusal, end, prefix }));
        if let Some(saver) = &mut self.saver {
            for (number, settled) in passed {
                saver.passed(number, settled);
            }
        }
    }

    /// The progress bar's counts and rate.
    fn show(&self) {
        let c = &self.counts;
        let done = c.published + c.already + c.refused;
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        self.bar.set_message(format!(
            "{} published, {} already there, {} refused, {rate:.0}/s",
            c.published, c.already, c.refused
        ));
    }

    /// Writes the progress file a last time and prints the summary: the
    /// counts (with the interrupted load's, when resumed) and the refused
    /// lines; what to do if the load is not complete. The exit status.
    async fn finish(mut self) -> ExitCode {
        self.bar.finish_and_clear();
        let mut ok = true;
        if let Some(saver) = &mut self.saver
            && let Err(e) = saver.close(self.highest_sent).await
        {
            eprintln!("error: {e:#}");
            ok = false;
        }
        let (mut total, carried_refusals, resumed_after) = self.carried.clone();
        total.published += self.counts.published;
        total.already += self.counts.already;
        total.refused += self.counts.refused;
        let counted =
            if resumed_after > 0 { format!(" (with lines 1-{resumed_after}, done before)") } else { String::new() };
        println!(
            "{}{counted}: {} published, {} already in the log, {} refused",
            self.file, total.published, total.already, total.refused
        );
        let listed: Vec<&Refusal> = carried_refusals.iter().chain(&self.refusals).take(MAX_LISTED).collect();
        if !listed.is_empty() {
            println!("refused:");
            for r in &listed {
                println!("  {}: {}", r.place, r.reason);
            }
            let more = total.refused.saturating_sub(listed.len() as u64);
            if more > 0 {
                println!("  and {more} more (each was printed as it came)");
            }
        }
        if !self.unconfirmed.is_empty() {
            let places: Vec<String> = self.unconfirmed.iter().take(20).map(Place::to_string).collect();
            let more = if self.unconfirmed.len() > 20 { ", ..." } else { "" };
            println!(
                "not confirmed: {} line(s) the node accepted and the ledger had not confirmed in time ({}{more}); \
                 they will be delivered: run the same command again to confirm them",
                self.unconfirmed.len(),
                places.join(", ")
            );
        }
        if let Some(reason) = &self.stopped {
            let resume = match &self.saver {
                Some(saver) => {
                    format!("; run the same command again to resume after line {}", saver.progress.through_line)
                }
                None => String::new(),
            };
            println!("stopped: {reason}{resume}");
        }
        ok &= total.refused == 0 && self.unconfirmed.is_empty() && self.stopped.is_none();
        if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_mean_published_already_there_refused_or_not_final() {
        let ok = |duplicate| Ok(pb::PublishResponse { position: 7, duplicate, ..Default::default() });
        assert_eq!(Outcome::of(&ok(false), true, None), Outcome::Published(7));
        assert_eq!(Outcome::of(&ok(true), false, None), Outcome::Already("the log had it"));

        let taken = || {
            Err(Status::invalid_argument(
                "the ledger refused event x: event_id: this id is already taken; publish with a new event_id",
            ))
        };
        let before = Some("sent before the interruption");
        assert_eq!(Outcome::of(&taken(), true, None), Outcome::Already("the same content was published before"));
        assert_eq!(Outcome::of(&taken(), false, before), Outcome::Already("sent before the interruption"));
        let Outcome::Refused(why) = Outcome::of(&taken(), false, None) else { panic!("an id of its own, taken") };
        assert!(why.starts_with("INVALID_ARGUMENT: the ledger refused event x"), "{why}");

        let field = Err(concord_core::status::invalid_argument("subjects[0].key", "use letters"));
        assert_eq!(
            Outcome::of(&field, true, before),
            Outcome::Refused("INVALID_ARGUMENT: subjects[0].key: use letters [field subjects[0].key]".into())
        );
        assert!(matches!(
            Outcome::of(&Err(Status::deadline_exceeded("no receipt")), true, None),
            Outcome::Unconfirmed(_)
        ));
        assert!(matches!(Outcome::of(&Err(Status::unavailable("down")), true, None), Outcome::Stopped(_)));
        assert!(matches!(Outcome::of(&Err(Status::unauthenticated("expired")), true, None), Outcome::Stopped(_)));
    }

    #[test]
    fn ids_of_lines_naming_no_agency_are_derived_under_the_tokens_agency() {
        let token = |claims: &str| {
            let part = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims);
            format!("eyJhbGciOiJFZERTQSJ9.{part}.c2ln")
        };
        assert_eq!(token_namespace(&token(r#"{"agency_id":"yot.harrow","sub":"x"}"#)), "yot.harrow");
        assert_eq!(token_namespace(&token(r#"{"iss":"https://idp","sub":"u1"}"#)), "https://idp u1");
        assert_eq!(token_namespace("not a token"), " ");
    }
}
