//! A gRPC client generated from `proto/` by another toolchain (Python's
//! grpcio-tools, installed by `make test`), sharing no code with Concord, can
//! read a timeline with a minted token and is refused without a valid one.

use crate::common;

use std::process::Command;

use common::{TestPlatform, arrest, authorized};
use concord_core::pb;
use concord_core::pb::publish_service_client::PublishServiceClient;
use concord_identity::{Claims, Issuer, Purpose, Role};
use concord_log::kv::Engine;

/// The Python interpreter with grpcio-tools: `CONCORD_TEST_PYTHON`, else the
/// project's `.tools/venv` that `make test` creates.
fn python() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("CONCORD_TEST_PYTHON") {
        return p.into();
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/python");
    assert!(venv.exists(), "{} is missing: run `make test-deps` (or `make test`) first", venv.display());
    venv
}

fn call(addr: &str, subject: &str, token: Option<&str>) -> serde_json::Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/external/timeline_client.py");
    let mut cmd = Command::new(python());
    cmd.arg(script).arg(addr).arg(subject);
    if let Some(t) = token {
        cmd.arg(t);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "client failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn an_external_client_reads_a_timeline_with_a_token() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = rt.block_on(TestPlatform::start(Engine::Redb));
    let police = t.token("police.met.nw", Role::Practitioner, Purpose::CrimePrevention);
    rt.block_on(async {
        let mut client = PublishServiceClient::new(t.channel().await);
        for _ in 0..2 {
            client
                .publish(authorized(
                    pb::PublishRequest { event: Some(arrest("P-ext00001", "")), wait_for_ledger: true },
                    &police,
                ))
                .await
                .unwrap();
        }
    });
    let addr = t.addr.to_string();
    let social = t.token("childrens_services.harrow", Role::Practitioner, Purpose::Safeguarding);
    let ok = call(&addr, "P-ext00001", Some(&social));
    assert_eq!(ok["code"], "OK");
    assert_eq!(ok["events"], 2);
    assert_eq!(ok["names"][0], "Jordan Testcase");

    assert_eq!(call(&addr, "P-ext00001", None)["code"], "UNAUTHENTICATED");
    let issuer = t.layout().issuer().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = Claims {
        sub: "x".into(),
        agency_id: "childrens_services.harrow".into(),
        agency_kind: "childrens_services".into(),
        role: "practitioner".into(),
        purpose: "safeguarding".into(),
        iss: concord::layout::LOCAL_ISSUER.into(),
        aud: concord::layout::AUDIENCE.into(),
        exp: now - 120,
        nbf: now - 600,
        iat: now - 600,
        jti: "j".into(),
    };
    let expired = issuer.mint_claims(&claims).unwrap();
    let wrong_aud = issuer.mint_claims(&Claims { aud: "elsewhere".into(), exp: now + 600, ..claims.clone() }).unwrap();
    let forged = Issuer::generate("local-1", concord::layout::LOCAL_ISSUER, concord::layout::AUDIENCE)
        .mint_claims(&Claims { exp: now + 600, ..claims })
        .unwrap();
    for token in [expired, wrong_aud, forged] {
        assert_eq!(call(&addr, "P-ext00001", Some(&token))["code"], "UNAUTHENTICATED");
    }
}
