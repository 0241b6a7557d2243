//! `concord`: runs any part of the platform, and talks to it.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system allocator: reads allocate many small
/// objects on several threads at once, where glibc's malloc showed as a
/// fifth of the CPU time of a timeline (tests/bench/profiles).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    without_huge_pages();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run())
}

/// Transparent huge pages off for this process, before it allocates much.
/// mimalloc asks for them on its arenas, and then memory it has freed stays
/// resident in 2 MiB pieces: on the benchmark's 100,000-event log, `concord
/// up` peaked at 180 MiB after the query runs with them and 120 MiB without,
/// at the same latency (tests/bench/profiles/README.md).
fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    let refused = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0;
    #[cfg(not(target_os = "linux"))]
    let refused = false;
    if refused {
        // Only memory is at stake; tracing is not up yet.
        eprintln!("warning: could not turn transparent huge pages off: {}", std::io::Error::last_os_error());
    }
}

async fn run() -> ExitCode {
    let cli = concord::cmd::Cli::parse();
    // First, so that a SIGTERM arriving while the process starts is a clean stop.
    if cli.command.runs_until_stopped() {
        concord::cmd::listen_for_shutdown();
    }
    let tracing = match concord::cmd::init_tracing(&cli) {
        Ok(tracing) => tracing,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let code = match cli.command.run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    };
    // Sends the spans still buffered before the process ends.
    drop(tracing);
    code
}
