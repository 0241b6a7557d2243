//! `concord`: runs any part of the platform, and talks to it.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system allocator: reads allocate many small
/// objects on several threads at once, where glibc's malloc showed as a
/// fifth of the CPU time of a timeline (tests/bench/profiles).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
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
