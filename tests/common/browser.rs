//! A real browser for the web console's tests: Debian's chromium, headless,
//! driven over WebDriver by its chromium-driver (`make test-deps` unpacks
//! both into .tools/chromium), with a fresh profile each time. Without them
//! the test fails, saying how to install them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use serde_json::json;

/// The flags chromium runs with here (a container, no GPU, no network of its own).
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1100,1400",
];

/// A headless chromium under its WebDriver, ended (with everything the
/// driver started) when dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// chromedriver and the chromium binary: .tools/chromium's (from `make
/// test-deps`), or the system's packages.
fn binaries() -> (PathBuf, PathBuf, String) {
    let tools = root().join(".tools/chromium");
    let unpacked = (tools.join("usr/bin/chromedriver"), tools.join("usr/lib/chromium/chromium"));
    if unpacked.0.exists() && unpacked.1.exists() {
        let libs = ["usr/lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu/pulseaudio", "usr/lib/chromium"]
            .map(|dir| tools.join(dir).display().to_string())
            .join(":");
        return (unpacked.0, unpacked.1, libs);
    }
    let system = (PathBuf::from("/usr/bin/chromedriver"), PathBuf::from("/usr/lib/chromium/chromium"));
    if system.0.exists() && system.1.exists() {
        return (system.0, system.1, String::new());
    }
    panic!(
        "chromium and chromium-driver are not installed, so the web console cannot be tested in a browser: \
         run `make test-deps` (it unpacks Debian's chromium and chromium-driver into .tools/chromium), \
         or `apt-get install chromium chromium-driver`"
    );
}

impl Browser {
    /// Starts chromedriver on a free port and a headless chromium session.
    pub async fn start() -> Browser {
        let (driver_path, chromium, libs) = binaries();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = Command::new(&driver_path);
        command.arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null());
        if !libs.is_empty() {
            command.env("LD_LIBRARY_PATH", libs);
        }
        // Its own process group, so the browsers it starts end with it.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = command.spawn().unwrap_or_else(|e| panic!("cannot run {}: {e}", driver_path.display()));
        let profile = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        });
        let serde_json::Value::Object(capabilities) = capabilities else { unreachable!() };
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            let builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await;
            match builder {
                Ok(client) => return Browser { client, driver, _profile: profile },
                Err(e) => last = Some(e.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver at {url} never started a session: {last:?}");
    }

    /// Ends the session (and its chromium).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver's process group (its id is the driver's): chromedriver
        // and the chromium it started.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}
