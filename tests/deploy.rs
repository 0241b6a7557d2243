//! The deployment files cannot drift from the code: every `concord` command
//! line in `deploy/` (systemd `ExecStart=`, Kubernetes `command`/`args`) is
//! one the binary accepts, and `deploy/nats/users.conf` is what
//! `concord nats-config` generates from the partnership's key registry.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use concord::cmd::Cli;

fn deploy_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn deploy_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            deploy_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Every concord command line in one file, as words (program first).
fn commands(path: &Path, text: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut concord_container = false;
    for line in text.lines().map(str::trim) {
        if let Some(command) = line.strip_prefix("ExecStart=") {
            // systemd: an instance name (`%i`) stands for an agency or replica name.
            found.push(command.replace("%i", "police.met.nw").split_whitespace().map(String::from).collect());
        } else if let Some(list) = line.strip_prefix("command:") {
            let words: Vec<String> = serde_json::from_str(list.trim()).unwrap();
            concord_container = words.first().is_some_and(|w| w.ends_with("/concord"));
        } else if let Some(list) = line.strip_prefix("args:").filter(|_| concord_container) {
            let args: Vec<String> = serde_json::from_str(list.trim())
                .unwrap_or_else(|e| panic!("{}: args must be a one-line list: {e}", path.display()));
            found.push(std::iter::once("concord".to_string()).chain(args).collect());
            concord_container = false;
        }
    }
    found
}

#[test]
fn every_concord_command_in_deploy_parses() {
    let mut files = Vec::new();
    deploy_files(&deploy_root(), &mut files);
    let mut checked = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for words in commands(&file, &text) {
            assert!(words[0].ends_with("concord"), "{}: {words:?}", file.display());
            if let Err(e) = Cli::try_parse_from(&words) {
                panic!("{}: `{}` is not accepted by concord:\n{e}", file.display(), words.join(" "));
            }
            checked.push(words[1].clone());
        }
    }
    for sub in ["up", "node", "ledger", "serve"] {
        let n = checked.iter().filter(|c| *c == sub).count();
        assert!(n >= 1, "no `concord {sub}` in deploy/ (found {checked:?})");
    }
    assert!(checked.len() >= 7, "systemd and Kubernetes both run node, ledger and serve: {checked:?}");
}

fn concord(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_concord")).args(args).output().unwrap()
}

#[test]
fn nats_users_are_generated_from_the_key_registry() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().display().to_string();
    let out = concord(&["keys", "--data", &data]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let keys = home.path().join("keys").display().to_string();
    let nats_dir = deploy_root().join("nats").display().to_string();

    let check = concord(&["nats-config", "--keys", &keys, "--out", &nats_dir, "--check"]);
    assert!(
        check.status.success(),
        "deploy/nats/users.conf has drifted from the registry: {}",
        String::from_utf8_lossy(&check.stderr)
    );

    // A partnership with another agency needs another user: the check says so.
    let out = concord(&["keys", "--data", &data, "--agency", "education.harrow"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let check = concord(&["nats-config", "--keys", &keys, "--out", &nats_dir, "--check"]);
    assert!(!check.status.success(), "a new agency went unnoticed");
    assert!(String::from_utf8_lossy(&check.stderr).contains("does not match"));

    // And writing the config gives that agency its own user and subjects.
    let fresh = tempfile::tempdir().unwrap();
    let fresh_dir = fresh.path().display().to_string();
    let out = concord(&["nats-config", "--keys", &keys, "--out", &fresh_dir]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let users = std::fs::read_to_string(fresh.path().join("users.conf")).unwrap();
    assert!(users.contains("user: \"education.harrow\""));
    assert!(users.contains("\"concord.events.education.education.harrow.*\""));
}

#[test]
fn every_nats_server_config_loads_the_generated_users() {
    let nats = deploy_root().join("nats");
    for config in ["single.conf", "cluster/node-1.conf", "cluster/node-2.conf", "cluster/node-3.conf"] {
        let text = std::fs::read_to_string(nats.join(config)).unwrap();
        let include = text.lines().find_map(|l| l.trim().strip_prefix("include ")).unwrap_or_else(|| {
            panic!("{config} does not include the users");
        });
        let target = nats.join(config).parent().unwrap().join(include.trim_matches('"'));
        assert!(target.ends_with("users.conf") && target.exists(), "{config} includes {}", target.display());
        assert!(text.contains("jetstream"), "{config} has no JetStream");
    }
}

/// The value after `flag` in a command line.
fn flag<'a>(words: &'a [String], flag: &str) -> Option<&'a str> {
    words.iter().position(|w| w == flag).and_then(|i| words.get(i + 1)).map(String::as_str)
}

#[test]
fn every_deploy_command_uses_tls_off_loopback() {
    let mut files = Vec::new();
    deploy_files(&deploy_root(), &mut files);
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for words in commands(&file, &text) {
            let at = format!("{}: `{}`", file.display(), words.join(" "));
            if let Some(addr) = flag(&words, "--grpc") {
                let loopback = addr.parse::<std::net::SocketAddr>().is_ok_and(|a| a.ip().is_loopback());
                if !loopback {
                    assert!(flag(&words, "--tls-cert").is_some() && flag(&words, "--tls-key").is_some(), "{at}");
                }
            }
            if flag(&words, "--nats").is_some() {
                assert!(flag(&words, "--nats-ca").is_some(), "{at}: NATS without the CA");
            }
            // A node is called by its agency's systems only: they present certificates.
            if words[1] == "node" {
                assert!(flag(&words, "--tls-client-ca").is_some(), "{at}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 7);
}

#[test]
fn every_nats_server_config_requires_tls_and_route_certificates() {
    let nats = deploy_root().join("nats");
    let k8s = std::fs::read_to_string(deploy_root().join("k8s/nats.yaml")).unwrap();
    let mut configs = vec![("k8s/nats.yaml".to_string(), k8s)];
    for config in ["single.conf", "cluster/node-1.conf", "cluster/node-2.conf", "cluster/node-3.conf"] {
        configs.push((config.to_string(), std::fs::read_to_string(nats.join(config)).unwrap()));
    }
    for (name, text) in configs {
        let (client, cluster) = text.split_once("cluster {").unwrap_or((&text, ""));
        assert!(client.contains("tls {") && client.contains("nats-server.pem"), "{name}: clients not over TLS");
        assert!(!text.contains("allow_non_tls"), "{name} lets plaintext clients in");
        if name != "single.conf" {
            assert!(cluster.contains("tls {"), "{name}: routes not over TLS");
            assert!(cluster.contains("verify: true"), "{name}: routes are not verified");
            assert!(cluster.contains("route-ca.pem"), "{name}: routes not checked against the routes' CA");
        }
    }
}

#[test]
fn the_k8s_manifests_run_the_image_the_containerfile_builds_confined() {
    let recipe = std::fs::read_to_string(deploy_root().join("Containerfile")).unwrap();
    let image = recipe
        .split("org.opencontainers.image.ref.name=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the Containerfile names its image");
    assert_eq!(image, format!("concord:{}", env!("CARGO_PKG_VERSION")), "the image is tagged with the version");
    let stages: Vec<&str> = recipe.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage: {stages:?}");
    assert!(stages[1].contains("distroless") || stages[1].contains("-slim"), "a minimal base: {}", stages[1]);
    let user = recipe.lines().rev().find_map(|l| l.strip_prefix("USER ")).expect("the image sets a user");
    assert!(!["root", "0", "0:0"].contains(&user.trim()), "the image runs as root");

    for manifest in ["concord.yaml", "nats.yaml"] {
        let text = std::fs::read_to_string(deploy_root().join("k8s").join(manifest)).unwrap();
        let mut workloads = 0;
        for doc in text.split("\n---\n").filter(|d| d.contains("kind: StatefulSet")) {
            workloads += 1;
            let count = |needle: &str| doc.matches(needle).count();
            let containers = count("image: ");
            let name = doc.lines().find_map(|l| l.trim().strip_prefix("name: ")).unwrap_or("?");
            if manifest == "concord.yaml" {
                assert_eq!(count(&format!("image: {image}\n")), containers, "{name} runs another image");
            }
            for each in [
                "livenessProbe:",
                "readinessProbe:",
                "requests: { cpu:",
                "limits: {",
                "allowPrivilegeEscalation: false",
                "readOnlyRootFilesystem: true",
                "capabilities: { drop: [ALL] }",
            ] {
                assert_eq!(count(each), containers, "{manifest}: {name}: not every container has `{each}`");
            }
            for once in ["runAsNonRoot: true", "seccompProfile: { type: RuntimeDefault }"] {
                assert_eq!(count(once), 1, "{manifest}: {name} has no pod-wide `{once}`");
            }
        }
        assert!(workloads > 0, "{manifest} has no workloads");
    }
}
