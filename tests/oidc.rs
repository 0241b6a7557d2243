//! Tokens from the partnership's OpenID Connect provider, from the
//! attacker's side. The test is the provider: it serves a discovery document
//! and a JWKS over HTTP on a loopback port and signs its own tokens (RS256,
//! as Entra ID and Keycloak do, with Keycloak's `realm_access.roles` claim);
//! a platform trusting it is called over a real gRPC socket.

use crate::common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use common::{TestPlatform, arrest, authorized, publish};
use concord_core::pb;
use concord_core::pb::query_service_client::QueryServiceClient;
use concord_identity::{ClaimMapping, OidcConfig, Verifier};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use tonic::Code;

const AUDIENCE: &str = "concord-harrow";

const MAPPING: &str = r#"
claim = "realm_access.roles"

[[mapping]]
value = "met-officer"
agency = "police.met.nw"
role = "practitioner"
purpose = "crime_prevention"

[[mapping]]
value = "harrow-social-worker"
agency = "childrens_services.harrow"
role = "practitioner"
purpose = "safeguarding"
"#;

/// One of the provider's RSA signing keys.
struct SigningKey {
    kid: String,
    private: EncodingKey,
    public_pem: String,
    jwk: Value,
}

impl SigningKey {
    fn generate(kid: &str) -> SigningKey {
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        let public = key.to_public_key();
        SigningKey {
            kid: kid.to_string(),
            private: EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes()),
            public_pem: public.to_public_key_pem(LineEnding::LF).unwrap(),
            jwk: json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                "n": B64URL.encode(public.n().to_bytes_be()),
                "e": B64URL.encode(public.e().to_bytes_be()),
            }),
        }
    }

    /// A token with these claims, signed by this key under `kid`.
    fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_string());
        encode(&header, claims, &self.private).unwrap()
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }
}

/// What the provider publishes, and how often its JWKS was fetched.
#[derive(Default)]
struct Published {
    issuer: String,
    jwks: Value,
    jwks_fetches: usize,
}

/// The test's OpenID Connect provider, on a loopback port.
struct Provider {
    addr: SocketAddr,
    published: Arc<Mutex<Published>>,
}

impl Provider {
    async fn start(keys: &[&SigningKey]) -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let published =
            Arc::new(Mutex::new(Published { issuer: format!("http://{addr}/realms/harrow"), ..Default::default() }));
        let provider = Provider { addr, published: published.clone() };
        provider.publish(keys);
        let app = Router::new()
            .route("/realms/harrow/.well-known/openid-configuration", get(discovery))
            .route("/realms/harrow/protocol/openid-connect/certs", get(jwks))
            .with_state(published);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        provider
    }

    fn issuer(&self) -> String {
        self.published.lock().unwrap().issuer.clone()
    }

    /// Publishes exactly these keys (a rotation withdraws the old one).
    fn publish(&self, keys: &[&SigningKey]) {
        self.published.lock().unwrap().jwks = json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() });
    }

    fn jwks_fetches(&self) -> usize {
        self.published.lock().unwrap().jwks_fetches
    }

    /// A configuration trusting this provider with [`MAPPING`], fetching its
    /// keys on an unknown kid at most once a second.
    fn config(&self) -> OidcConfig {
        let mapping = ClaimMapping::parse(MAPPING, "mapping.toml").unwrap();
        OidcConfig { min_refresh: Duration::from_secs(1), ..OidcConfig::new(&self.issuer(), AUDIENCE, mapping) }
    }

    /// Claims for `sub` holding `roles`, valid for ten minutes.
    fn claims(&self, sub: &str, roles: &[&str]) -> Value {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        json!({
            "iss": self.issuer(), "aud": [AUDIENCE, "account"], "sub": sub, "exp": now + 600, "iat": now - 5,
            "jti": format!("jti-{sub}"), "typ": "Bearer", "azp": AUDIENCE, "realm_access": { "roles": roles },
        })
    }
}

async fn discovery(
    State(published): State<Arc<Mutex<Published>>>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let issuer = published.lock().unwrap().issuer.clone();
    let document = json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    ([(CONTENT_TYPE, "application/json")], document.to_string())
}

async fn jwks(State(published): State<Arc<Mutex<Published>>>) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let mut published = published.lock().unwrap();
    published.jwks_fetches += 1;
    ([(CONTENT_TYPE, "application/json")], published.jwks.to_string())
}

fn timeline(subject: &str) -> pb::SubjectTimelineRequest {
    let person = pb::SubjectRef { kind: pb::SubjectKind::Person as i32, key: subject.into() };
    pb::SubjectTimelineRequest { subject: Some(person), ..Default::default() }
}

/// The access records from `from` on (1-based positions).
fn records_from(t: &TestPlatform, from: u64) -> Vec<pb::AccessRecord> {
    let audit = &t.platform.audit;
    (from..=audit.log().size()).map(|position| audit.get(position).unwrap().unwrap()).collect()
}

#[tokio::test]
async fn provider_tokens_work_through_the_claim_mapping_and_after_a_key_rotation() {
    let k1 = SigningKey::generate("k1");
    let provider = Provider::start(&[&k1]).await;
    let t = TestPlatform::start_oidc(provider.config()).await;
    assert_eq!(provider.jwks_fetches(), 1, "the keys are fetched once on start");

    // A police officer publishes and a social worker reads, each as the provider's mapping says.
    let officer = k1.sign(&provider.claims("officer-1", &["offline_access", "met-officer"]));
    publish(&t, arrest("P-oidc0001", "seen at the station"), &officer).await.unwrap();
    let social_worker = k1.sign(&provider.claims("sw-1", &["harrow-social-worker"]));
    let mut query = QueryServiceClient::new(t.channel().await);
    let shown = query.subject_timeline(authorized(timeline("P-oidc0001"), &social_worker)).await.unwrap().into_inner();
    assert_eq!(shown.events.len(), 1);
    let records = records_from(&t, 1);
    let who: Vec<_> = records
        .iter()
        .map(|r| (r.principal.as_str(), r.agency_id.as_str(), r.role.as_str(), r.purpose.as_str()))
        .collect();
    assert_eq!(
        who,
        [
            ("officer-1", "police.met.nw", "practitioner", "crime_prevention"),
            ("sw-1", "childrens_services.harrow", "practitioner", "safeguarding"),
        ]
    );

    // The provider rotates: a new key, the old one withdrawn. The first
    // token under the new kid makes the platform fetch the keys again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let k2 = SigningKey::generate("k2");
    provider.publish(&[&k2]);
    let rotated = k2.sign(&provider.claims("sw-1", &["harrow-social-worker"]));
    query.subject_timeline(authorized(timeline("P-oidc0001"), &rotated)).await.unwrap();
    assert_eq!(provider.jwks_fetches(), 2);
    query.subject_timeline(authorized(timeline("P-oidc0001"), &rotated)).await.unwrap();
    assert_eq!(provider.jwks_fetches(), 2, "a known key is not fetched again");
    // A token under the withdrawn key is refused once the rotated keys are fetched.
    let withdrawn = query.subject_timeline(authorized(timeline("P-oidc0001"), &social_worker)).await.unwrap_err();
    assert_eq!(withdrawn.code(), Code::Unauthenticated, "{withdrawn:?}");

    // A flood of tokens under made-up kids, signed by a key the provider
    // never published: refused, and the provider is asked at most once more
    // (fetches on an unknown kid are at most one a second, one at a time).
    let forger = SigningKey::generate("forged");
    let claims = provider.claims("mallory", &["met-officer"]);
    let flood = (0..40).map(|i| {
        let token = forger.sign_as(&format!("made-up-{i}"), &claims);
        let mut query = query.clone();
        async move { query.subject_timeline(authorized(timeline("P-oidc0001"), &token)).await.unwrap_err().code() }
    });
    let codes = futures::future::join_all(flood).await;
    assert!(codes.iter().all(|c| *c == Code::Unauthenticated), "{codes:?}");
    assert!(provider.jwks_fetches() <= 3, "{} fetches of the JWKS", provider.jwks_fetches());
    // Tokens claiming another issuer never make the provider be asked.
    let before = provider.jwks_fetches();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut foreign = provider.claims("mallory", &["met-officer"]);
    foreign["iss"] = json!("http://127.0.0.1:9/realms/other");
    for i in 0..5 {
        let token = forger.sign_as(&format!("foreign-{i}"), &foreign);
        let refused = query.subject_timeline(authorized(timeline("P-oidc0001"), &token)).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
    }
    assert_eq!(provider.jwks_fetches(), before);
}

#[tokio::test]
async fn forged_misdirected_and_unmapped_provider_tokens_are_refused_and_recorded() {
    let k1 = SigningKey::generate("k1");
    let provider = Provider::start(&[&k1]).await;
    let t = TestPlatform::start_oidc(provider.config()).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let good = provider.claims("sw-2", &["harrow-social-worker"]);
    let with = |field: &str, value: Value| {
        let mut claims = good.clone();
        claims[field] = value;
        claims
    };
    let stranger = SigningKey::generate("k1");
    let payload = B64URL.encode(good.to_string());
    let mut hmac_header = Header::new(Algorithm::HS256);
    hmac_header.kid = Some("k1".into());
    let cases = [
        ("an unknown issuer", k1.sign(&with("iss", json!("https://login.example.org/evil/v2.0"))), "issuer"),
        (
            "claims that do not map",
            k1.sign(&provider.claims("sw-2", &["harrow-admin", "default-roles"])),
            "map to no access",
        ),
        ("an expired token", k1.sign(&with("exp", json!(now - 3600))), "expired"),
        ("a token not yet valid", k1.sign(&with("nbf", json!(now + 3600))), "not valid yet"),
        ("a wrong audience", k1.sign(&with("aud", json!("payroll"))), "audience"),
        ("a key not in the JWKS, under its kid", stranger.sign(&good), "signature"),
        ("a key not in the JWKS, under its own kid", stranger.sign_as("k9", &good), "unknown key"),
        ("alg none", format!("{}.{payload}.", B64URL.encode(r#"{"alg":"none","kid":"k1"}"#)), "malformed"),
        (
            "HS256 keyed with the public key",
            encode(&hmac_header, &good, &EncodingKey::from_secret(k1.public_pem.as_bytes())).unwrap(),
            "algorithm",
        ),
        (
            "no sub",
            k1.sign(&{
                let mut c = good.clone();
                c.as_object_mut().unwrap().remove("sub");
                c
            }),
            "claims",
        ),
    ];
    let mut query = QueryServiceClient::new(t.channel().await);
    let start = t.platform.audit.log().size() + 1;
    for (name, token, reason) in &cases {
        let refused = query.subject_timeline(authorized(timeline("P-any"), token)).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{name}: {refused:?}");
        assert!(refused.message().contains(reason), "{name}: {refused:?}");
    }
    // The same claims, properly signed, are accepted: each refusal was for its one fault.
    query.subject_timeline(authorized(timeline("P-any"), &k1.sign(&good))).await.unwrap();

    let records = records_from(&t, start);
    assert_eq!(records.len(), cases.len() + 1, "{records:?}");
    for ((name, _, _), record) in cases.iter().zip(&records) {
        assert!(record.principal.is_empty() && record.outcome.starts_with("Unauthenticated"), "{name}: {record:?}");
        assert_eq!(record.rpc, "/concord.v1.QueryService/SubjectTimeline");
    }
    assert_eq!((records[cases.len()].principal.as_str(), records[cases.len()].outcome.as_str()), ("sw-2", "ok"));
}

#[tokio::test]
async fn a_provider_whose_discovery_names_another_issuer_is_not_trusted() {
    let k1 = SigningKey::generate("k1");
    let provider = Provider::start(&[&k1]).await;
    let mut config = provider.config();
    config.issuer = format!("http://{}/realms/harrow/", provider.addr);
    let error = Verifier::discover(config).await.err().expect("a mismatched issuer is refused").to_string();
    assert!(error.contains("configure exactly that"), "{error}");
    let mut config = provider.config();
    config.issuer = "http://198.51.100.7/realms/harrow".into();
    let error = Verifier::discover(config).await.err().expect("plain http off loopback is refused").to_string();
    assert!(error.contains("https"), "{error}");
}
