//! Tokens from the attacker's side: forged, expired, misdirected, algorithm
//! confusion, tampered claims. Real keys and real signatures throughout.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use concord_core::AgencyId;
use concord_identity::{AuthError, Claims, Issuer, Purpose, Role, Verifier};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use tonic::metadata::MetadataMap;

const ISS: &str = "test-issuer";
const AUD: &str = "concord";

fn setup() -> (Issuer, Verifier) {
    let issuer = Issuer::generate("k1", ISS, AUD);
    let verifier = Verifier::from_jwks(&issuer.jwks().to_string(), ISS, AUD).unwrap();
    (issuer, verifier)
}

fn claims() -> Claims {
    let now = jiff::Timestamp::now().as_second();
    Claims {
        sub: "sw-42".into(),
        agency_id: "childrens_services.harrow".into(),
        agency_kind: "childrens_services".into(),
        role: "practitioner".into(),
        purpose: "safeguarding".into(),
        iss: ISS.into(),
        aud: AUD.into(),
        exp: now + 300,
        nbf: now - 5,
        iat: now - 5,
        jti: "jti-1".into(),
    }
}

#[test]
fn a_valid_eddsa_token_gives_its_principal() {
    let (issuer, verifier) = setup();
    let agency = AgencyId::parse("police.met.nw").unwrap();
    let token = issuer.mint("pc-1", &agency, Role::BriefingLead, Purpose::Briefing, Duration::from_secs(60)).unwrap();
    let p = verifier.verify(&token).unwrap();
    assert_eq!(
        (p.sub.as_str(), &p.agency, p.role, p.purpose),
        ("pc-1", &agency, Role::BriefingLead, Purpose::Briefing)
    );
}

#[test]
fn an_es256_token_from_a_p256_key_in_the_jwks_is_accepted() {
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let point = secret.public_key().to_encoded_point(false);
    let jwks = serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "ec1", "alg": "ES256", "use": "sig",
        "x": B64URL.encode(point.x().unwrap()), "y": B64URL.encode(point.y().unwrap()),
    }]});
    let verifier = Verifier::from_jwks(&jwks.to_string(), ISS, AUD).unwrap();
    let der = secret.to_pkcs8_der().unwrap();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("ec1".into());
    let token = encode(&header, &claims(), &EncodingKey::from_ec_der(der.as_bytes())).unwrap();
    assert_eq!(verifier.verify(&token).unwrap().agency.as_str(), "childrens_services.harrow");
}

#[test]
fn expired_and_not_yet_valid_tokens_are_refused() {
    let (issuer, verifier) = setup();
    let now = jiff::Timestamp::now().as_second();
    let expired = issuer.mint_claims(&Claims { exp: now - 600, nbf: now - 900, ..claims() }).unwrap();
    assert_eq!(verifier.verify(&expired), Err(AuthError::Expired));
    let early = issuer.mint_claims(&Claims { nbf: now + 600, exp: now + 900, ..claims() }).unwrap();
    assert_eq!(verifier.verify(&early), Err(AuthError::NotYetValid));
}

#[test]
fn wrong_audience_and_wrong_issuer_are_refused() {
    let (issuer, verifier) = setup();
    let token = issuer.mint_claims(&Claims { aud: "payroll".into(), ..claims() }).unwrap();
    assert_eq!(verifier.verify(&token), Err(AuthError::WrongAudience));
    let token = issuer.mint_claims(&Claims { iss: "someone-else".into(), ..claims() }).unwrap();
    assert_eq!(verifier.verify(&token), Err(AuthError::WrongIssuer));
}

#[test]
fn a_token_forged_with_another_key_is_refused() {
    let (_, verifier) = setup();
    let forger = Issuer::generate("k1", ISS, AUD);
    assert_eq!(verifier.verify(&forger.mint_claims(&claims()).unwrap()), Err(AuthError::BadSignature));
    let stranger = Issuer::generate("k9", ISS, AUD);
    assert_eq!(verifier.verify(&stranger.mint_claims(&claims()).unwrap()), Err(AuthError::UnknownKey("k9".into())));
}

#[test]
fn alg_none_and_hmac_confusion_are_refused() {
    let (issuer, verifier) = setup();
    let payload = B64URL.encode(serde_json::to_vec(&claims()).unwrap());
    let none = format!("{}.{payload}.", B64URL.encode(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#));
    assert!(verifier.verify(&none).is_err());
    // HS256 with the public key bytes as the shared secret.
    let x = issuer.jwks()["keys"][0]["x"].as_str().unwrap().to_string();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let hmac = encode(&header, &claims(), &EncodingKey::from_secret(x.as_bytes())).unwrap();
    assert_eq!(verifier.verify(&hmac), Err(AuthError::DisallowedAlgorithm("HS256".into())));
    // A JWKS offering an HMAC key is not loaded at all.
    let oct = serde_json::json!({"keys": [{"kty": "oct", "k": B64URL.encode(b"secret"), "kid": "h"}]});
    assert!(Verifier::from_jwks(&oct.to_string(), ISS, AUD).is_err());
}

#[test]
fn tampered_claims_break_the_signature() {
    let (issuer, verifier) = setup();
    let token = issuer.mint_claims(&claims()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let forged_claims = Claims { agency_id: "police.met.nw".into(), agency_kind: "police".into(), ..claims() };
    let forged = format!("{}.{}.{}", parts[0], B64URL.encode(serde_json::to_vec(&forged_claims).unwrap()), parts[2]);
    assert_eq!(verifier.verify(&forged), Err(AuthError::BadSignature));
}

#[test]
fn incoherent_claims_are_refused() {
    let (issuer, verifier) = setup();
    let mismatch = issuer.mint_claims(&Claims { agency_kind: "police".into(), ..claims() }).unwrap();
    assert!(matches!(verifier.verify(&mismatch), Err(AuthError::BadClaims(_))));
    let role = issuer.mint_claims(&Claims { role: "superuser".into(), ..claims() }).unwrap();
    assert!(matches!(verifier.verify(&role), Err(AuthError::BadClaims(_))));
}

#[tokio::test]
async fn missing_or_non_bearer_metadata_is_unauthenticated() {
    let (issuer, verifier) = setup();
    let mut md = MetadataMap::new();
    assert_eq!(verifier.authenticate(&md).await.unwrap_err().code(), tonic::Code::Unauthenticated);
    let token = issuer.mint_claims(&claims()).unwrap();
    md.insert("authorization", format!("Basic {token}").parse().unwrap());
    let status = verifier.authenticate(&md).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert!(!status.message().contains(&token), "the token is never echoed");
    md.insert("authorization", format!("Bearer {token}").parse().unwrap());
    assert_eq!(verifier.authenticate(&md).await.unwrap().sub, "sw-42");
}

#[test]
fn issuer_files_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = Issuer::generate("k1", ISS, AUD);
    issuer.save(dir.path()).unwrap();
    let loaded = Issuer::load(dir.path()).unwrap();
    let verifier = Verifier::from_jwks_file(&dir.path().join("jwks.json"), ISS, AUD).unwrap();
    let agency = AgencyId::parse("yot.harrow").unwrap();
    let token =
        loaded.mint("x", &agency, Role::Practitioner, Purpose::CaseManagement, Duration::from_secs(60)).unwrap();
    assert_eq!(verifier.verify(&token).unwrap().agency, agency);
}
