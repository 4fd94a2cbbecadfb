//! The core over HTTPS: a TLS front (rustls, certificate from a test CA) before the protocol
//! stub in `support/`. The device must refuse the certificate while the CA is unknown, and
//! pair, receive the event stream and answer once the CA is a trusted root.
//!
//! Trusted roots come from the platform; on Linux that is the system bundle, which
//! `SSL_CERT_FILE` replaces. The environment cannot be changed inside this (forbid-unsafe)
//! crate, so the trusted case re-runs this test binary with `SSL_CERT_FILE` set.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use support::{PAIRING_CODE, SDK_KEY, Stub};
use tapprove_core::*;

/// Set in the child process: the directory with `ca.pem`, `cert.der` and `key.der`.
const CHILD_DIR: &str = "TAPPROVE_TLS_TEST_DIR";

/// Writes a test CA and a `localhost` server certificate signed by it into `dir`.
fn write_pki(dir: &Path) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Tapprove core test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &*ca)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.der"), cert.der()).unwrap();
    std::fs::write(dir.join("key.der"), key.serialize_der()).unwrap();
}

/// A TLS front on 127.0.0.1 that forwards each connection to the plain-HTTP `stub`.
async fn tls_front(dir: &Path, stub: &Stub) -> u16 {
    let cert = CertificateDer::from(std::fs::read(dir.join("cert.der")).unwrap());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        std::fs::read(dir.join("key.der")).unwrap(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let backend = stub.addr;
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A refused handshake (the untrusted case) just ends this connection.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

fn device(url: &str) -> Authenticator {
    let store = Arc::new(MemoryStore::new());
    let signer = Arc::new(SoftwareSigner::new(store.clone()));
    Authenticator::new(Config::new(url, SDK_KEY).unwrap(), store, signer).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_ca_is_refused_with_a_certificate_error() {
    let dir = tempfile::tempdir().unwrap();
    write_pki(dir.path());
    let stub = Stub::start().await;
    let port = tls_front(dir.path(), &stub).await;
    let auth = device(&format!("https://localhost:{port}"));
    match auth.pair("alice", PAIRING_CODE, None).await {
        Err(CoreError::Network { message }) => {
            assert!(
                message.contains("certificate") || message.contains("UnknownIssuer"),
                "{message}"
            );
            assert!(message.contains(&format!("localhost:{port}")), "{message}");
        }
        other => panic!("expected a certificate error, got {other:?}"),
    }
    assert!(auth.accounts().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_ca_pairs_streams_and_answers_over_https() {
    let Some(dir) = std::env::var_os(CHILD_DIR).map(PathBuf::from) else {
        // Parent: re-run just this test with the test CA as the only trusted root.
        let dir = tempfile::tempdir().unwrap();
        write_pki(dir.path());
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "a_trusted_ca_pairs_streams_and_answers_over_https",
                "--exact",
                "--nocapture",
            ])
            .env(CHILD_DIR, dir.path())
            .env("SSL_CERT_FILE", dir.path().join("ca.pem"))
            .env_remove("SSL_CERT_DIR")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "child failed:\n{text}");
        assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
        return;
    };
    let stub = Stub::start().await;
    let port = tls_front(&dir, &stub).await;
    let auth = device(&format!("https://localhost:{port}"));
    let account = auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    let mut events = auth.events(Some(&account.id));
    let (sid, _, code) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    let request = match tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        RequestEvent::Request(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(request.id, sid);
    let outcome = auth
        .respond(
            &sid,
            Decision::Approve {
                presence_answer: code,
            },
        )
        .await
        .unwrap();
    assert!(outcome.is_accepted());
}
