//! HTTP clients: reqwest over rustls with the ring provider (no process-wide provider needed),
//! trusting either the built-in Mozilla roots or only the CA file the configuration names.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::PushConfigError;

/// The trust roots for provider connections.
pub(crate) fn roots(ca_file: Option<&Path>) -> Result<Arc<RootCertStore>, PushConfigError> {
    let Some(path) = ca_file else {
        return Ok(Arc::new(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }));
    };
    let bad = |detail: String| PushConfigError::BadCaFile {
        path: path.to_owned(),
        detail,
    };
    let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| bad(format!("not a PEM certificate file: {e}")))?;
        store
            .add(cert)
            .map_err(|e| bad(format!("a certificate is not a usable trust anchor: {e}")))?;
    }
    if store.is_empty() {
        return Err(bad("it holds no `-----BEGIN CERTIFICATE-----` block".into()));
    }
    Ok(Arc::new(store))
}

/// How a client talks to its provider.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Protocol {
    /// HTTP/2 only (APNs): ALPN `h2`, or h2c on a loopback `http://` override.
    Http2Only,
    /// HTTP/2 preferred, HTTP/1.1 accepted (Google endpoints).
    Negotiate,
}

/// Builds one pooled client. Every request through it shares the pool: for HTTP/2 that is one
/// connection per host, multiplexing concurrent sends within the server's stream limit.
pub(crate) fn client(
    roots: Arc<RootCertStore>,
    protocol: Protocol,
) -> Result<reqwest::Client, PushConfigError> {
    builder(roots, protocol)?
        .build()
        .map_err(|e| PushConfigError::Client(e.to_string()))
}

/// [`client`] resolving host names with `resolver` (Web Push: only permitted addresses).
pub(crate) fn client_with_resolver(
    roots: Arc<RootCertStore>,
    protocol: Protocol,
    resolver: Arc<dyn reqwest::dns::Resolve>,
) -> Result<reqwest::Client, PushConfigError> {
    builder(roots, protocol)?
        .dns_resolver(resolver)
        .build()
        .map_err(|e| PushConfigError::Client(e.to_string()))
}

fn builder(
    roots: Arc<RootCertStore>,
    protocol: Protocol,
) -> Result<reqwest::ClientBuilder, PushConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PushConfigError::Client(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = match protocol {
        Protocol::Http2Only => vec![b"h2".to_vec()],
        Protocol::Negotiate => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    };
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tapprove-push/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(60))
        .http2_keep_alive_timeout(Duration::from_secs(20));
    if let Protocol::Http2Only = protocol {
        // APNs wants long-lived connections: keep the pooled one open and pinged while idle.
        builder = builder
            .http2_prior_knowledge()
            .pool_idle_timeout(None)
            .http2_keep_alive_while_idle(true);
    }
    Ok(builder)
}
