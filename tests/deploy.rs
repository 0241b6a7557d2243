//! Every `concord` command line in `deploy/` is one the binary accepts, so
//! the deployment files cannot drift from the CLI.

use clap::Parser;
use concord::cmd::Cli;

fn deploy_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            deploy_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn every_concord_command_in_deploy_parses() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let mut files = Vec::new();
    deploy_files(&root, &mut files);
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text.lines() {
            let Some(command) = line.trim().strip_prefix("ExecStart=") else {
                continue;
            };
            let words: Vec<&str> = command.split_whitespace().collect();
            assert!(words[0].ends_with("/concord"), "{}: {command}", file.display());
            if let Err(e) = Cli::try_parse_from(&words) {
                panic!("{}: `{command}` is not accepted by concord:\n{e}", file.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 1, "no concord commands found in deploy/");
}
