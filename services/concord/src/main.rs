//! `concord`: runs any part of the platform, and talks to it.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = concord::cmd::Cli::parse();
    concord::cmd::init_tracing(cli.log_json);
    if cli.command.runs_until_stopped() {
        concord::cmd::listen_for_shutdown();
    }
    match cli.command.run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
