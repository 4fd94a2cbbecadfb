//! The RADIUS tests' world: a real service on loopback (in-process, temp SQLite, as the other
//! crates' tests start it), a site's trust webhook, a software phone that answers, a NAS that
//! speaks RADIUS over UDP, and a small upstream RADIUS server for the password.

#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tapprove_protocol::{Challenge, Decision, DenyReason};
use tapprove_radius::packet::{self, Attribute, Packet, attr, code};
use tapprove_radius::{Config, RadiusServer};
use tapprove_rp::{ApiKey, AuditQuery, RpClient};
use tapprove_server::{RunningService, SealKey, Service, ServiceConfig, admin};
use tapprove_test_support::device::SoftwareDevice;
use tapprove_test_support::endpoint::Endpoint;
use tapprove_test_support::fixture;
use tapprove_test_support::rp::{FakeRp, TrustMode};
use tokio::net::UdpSocket;

pub mod freeradius;

pub const NAS_SECRET: &str = "nas-shared-secret";
pub const UPSTREAM_SECRET: &str = "upstream-shared-secret";
pub const PASSWORD: &str = "correct horse";

pub struct World {
    pub service: RunningService,
    pub at: Endpoint,
    pub rp: RpClient,
    pub api_key: String,
    pub sdk_key: String,
    pub project_id: String,
    pub database_url: String,
    pub seal: SealKey,
    pub site: FakeRp,
    pub dir: tempfile::TempDir,
}

impl World {
    pub async fn start() -> Self {
        let site = FakeRp::start(TrustMode::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let seal = SealKey::generate().unwrap();
        let config = ServiceConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: format!("sqlite://{}/t.db?mode=rwc", dir.path().display()),
            seal_key: Some(seal.clone()),
            ..ServiceConfig::default()
        };
        let service = Service::start(config.clone()).await.unwrap();
        let project = admin::create_project(
            &config.database_url,
            &seal,
            fixture::PROJECT_NAME,
            &site.trust_url(),
        )
        .await
        .unwrap();
        site.set_credentials(
            &project.webhook_username,
            project.webhook_password.expose(),
            project.webhook_secret.expose(),
        );
        let base = format!("http://{}", service.local_addr());
        let api_key = project.api_key.expose().to_owned();
        let rp = RpClient::new(&base, ApiKey::new(api_key.clone())).unwrap();
        std::fs::write(dir.path().join("api-key"), format!("{api_key}\n")).unwrap();
        Self {
            service,
            at: Endpoint::new(&base),
            rp,
            api_key,
            sdk_key: project.sdk_key.clone(),
            project_id: project.project_id.clone(),
            database_url: config.database_url,
            seal,
            site,
            dir,
        }
    }

    /// Lets the project's sessions be approve-only (what push mode asks for).
    pub async fn allow_approve_only(&self) {
        let policy = tapprove_server::policy::PresencePolicy::new("choose", None)
            .unwrap()
            .with_approve_only(true)
            .unwrap();
        admin::set_policy(&self.database_url, &self.project_id, policy)
            .await
            .unwrap();
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.service.local_addr())
    }

    /// A paired phone for `user` that answers as told.
    pub async fn phone(&self, user: &str) -> Phone {
        let device = SoftwareDevice::new(&self.sdk_key);
        let (status, body) = device.pair(&self.at, user, fixture::PAIRING_CODE).await;
        assert_eq!(status.as_u16(), 201, "{body}");
        let device = Arc::new(device.with_pairing(serde_json::from_value(body).unwrap()));
        Phone::start(device, self.at.clone())
    }

    /// Sessions the service created for `user` (its audit log: one row per push sent).
    pub async fn sessions_created(&self, user: &str) -> usize {
        let mut query = AuditQuery {
            user: Some(user.into()),
            limit: Some(1000),
            ..AuditQuery::default()
        };
        let mut created = 0;
        loop {
            let page = self.rp.audit(&query).await.unwrap();
            created += page
                .events
                .iter()
                .filter(|e| e.action == "session.created")
                .count();
            match page.next_cursor {
                Some(c) if !page.events.is_empty() => query.cursor = Some(c),
                _ => return created,
            }
        }
    }

    /// A config for a server on a free loopback port; `extra` is appended (clients, upstream).
    pub fn config(&self, mode: &str, timeout_seconds: u64, extra: &str) -> Config {
        let text = format!(
            "listen = \"127.0.0.1:0\"\nservice_url = \"{}\"\napi_key_file = \"api-key\"\n\
             mode = \"{mode}\"\ntimeout_seconds = {timeout_seconds}\n{extra}",
            self.base_url()
        );
        let path = self.dir.path().join("radius.toml");
        Config::parse(&text, &path, self.dir.path()).unwrap()
    }

    /// A server for the loopback NAS (127.0.0.1) with `upstream` checking passwords.
    pub async fn radius(
        &self,
        mode: &str,
        timeout: u64,
        upstream: Option<SocketAddr>,
    ) -> RadiusServer {
        let mut extra =
            format!("[[clients]]\naddress = \"127.0.0.1\"\nsecret = \"{NAS_SECRET}\"\n");
        if let Some(up) = upstream {
            extra.push_str(&format!(
                "[upstream]\naddress = \"{up}\"\nsecret = \"{UPSTREAM_SECRET}\"\n"
            ));
        }
        RadiusServer::start(self.config(mode, timeout, &extra))
            .await
            .unwrap()
    }
}

/// What the phone does with a new login request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Approve,
    Deny,
    Ignore,
}

/// A paired software phone polling for requests and answering them after `delay`.
pub struct Phone {
    pub device: Arc<SoftwareDevice>,
    behaviour: Arc<Mutex<(Behaviour, Duration)>>,
    seen: Arc<Mutex<Vec<Challenge>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Phone {
    fn start(device: Arc<SoftwareDevice>, at: Endpoint) -> Self {
        let behaviour = Arc::new(Mutex::new((Behaviour::Approve, Duration::ZERO)));
        let seen: Arc<Mutex<Vec<Challenge>>> = Arc::default();
        let task = tokio::spawn({
            let (device, behaviour, seen) = (device.clone(), behaviour.clone(), seen.clone());
            async move {
                loop {
                    for (_, c) in device.pending(&at).await {
                        if seen
                            .lock()
                            .unwrap()
                            .iter()
                            .any(|s| s.session_id == c.session_id)
                        {
                            continue;
                        }
                        seen.lock().unwrap().push(c.clone());
                        let (what, delay) = *behaviour.lock().unwrap();
                        let (device, at) = (device.clone(), at.clone());
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let (decision, reason) = match what {
                                Behaviour::Approve => (Decision::Approve, None),
                                Behaviour::Deny => (Decision::Deny, Some(DenyReason::Cancelled)),
                                Behaviour::Ignore => return,
                            };
                            let (status, body) =
                                device.answer(&at, &c, decision, None, reason).await;
                            assert_eq!(status.as_u16(), 200, "{body}");
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
        Self {
            device,
            behaviour,
            seen,
            task,
        }
    }

    pub fn set(&self, behaviour: Behaviour, delay: Duration) {
        *self.behaviour.lock().unwrap() = (behaviour, delay);
    }

    /// Requests the phone has received.
    pub fn seen(&self) -> Vec<Challenge> {
        self.seen.lock().unwrap().clone()
    }

    /// The `n`th request (from 1) once the phone has it; panics after 10 s.
    pub async fn nth(&self, n: usize) -> Challenge {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(c) = self.seen.lock().unwrap().get(n - 1) {
                return c.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no request {n} on the phone"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A RADIUS client (a NAS) on its own UDP socket.
pub struct Nas {
    pub socket: UdpSocket,
    pub server: SocketAddr,
    pub secret: Vec<u8>,
}

impl Nas {
    pub async fn new(bind_ip: &str, server: SocketAddr, secret: &str) -> Self {
        let socket = UdpSocket::bind(format!("{bind_ip}:0")).await.unwrap();
        Self {
            socket,
            server,
            secret: secret.as_bytes().to_vec(),
        }
    }

    /// An Access-Request for `user` (with `password` hidden for this NAS's secret), not yet
    /// signed.
    pub fn request(&self, id: u8, user: &str, password: Option<&str>) -> Packet {
        let mut auth = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut auth).unwrap();
        let mut p = Packet::new(code::ACCESS_REQUEST, id, auth);
        p.attributes.push(Attribute::new(attr::USER_NAME, user));
        if let Some(pw) = password {
            let hidden = packet::hide_password(pw.as_bytes(), &self.secret, &auth).unwrap();
            p.attributes
                .push(Attribute::new(attr::USER_PASSWORD, hidden));
        }
        p.attributes
            .push(Attribute::new(attr::NAS_IDENTIFIER, "vpn-gw-1"));
        p
    }

    /// The request signed with a Message-Authenticator.
    pub fn signed(&self, p: &Packet) -> Vec<u8> {
        p.encode_request(&self.secret).unwrap()
    }

    pub async fn send(&self, bytes: &[u8]) {
        self.socket.send_to(bytes, self.server).await.unwrap();
    }

    /// The next reply to `request` within `within`, checked (Response Authenticator and a
    /// required Message-Authenticator), or `None`.
    pub async fn reply(&self, request: &Packet, within: Duration) -> Option<Packet> {
        let mut buf = vec![0u8; 4096];
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let (n, _) = tokio::time::timeout_at(deadline, self.socket.recv_from(&mut buf))
                .await
                .ok()?
                .unwrap();
            let reply = Packet::decode(&buf[..n]).unwrap();
            if reply.identifier != request.identifier {
                continue;
            }
            reply
                .verify_response(request.authenticator, &self.secret, true)
                .expect("the reply is signed with the shared secret");
            return Some(reply);
        }
    }

    /// Sends a signed request and waits for its reply.
    pub async fn ask(&self, request: &Packet, within: Duration) -> Option<Packet> {
        self.send(&self.signed(request)).await;
        self.reply(request, within).await
    }
}

/// A small upstream RADIUS server: Access-Accept for [`PASSWORD`], Access-Reject otherwise.
/// Requests without a valid Message-Authenticator get no answer.
pub struct Upstream {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub async fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let requests = requests.clone();
            async move {
                let mut buf = vec![0u8; 4096];
                let secret = UPSTREAM_SECRET.as_bytes();
                loop {
                    let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                        continue;
                    };
                    let req = Packet::decode(&buf[..n]).unwrap();
                    if req.verify_request(secret).is_err() {
                        continue;
                    }
                    requests.fetch_add(1, Ordering::SeqCst);
                    let pw = packet::reveal_password(
                        req.attr(attr::USER_PASSWORD).unwrap(),
                        secret,
                        &req.authenticator,
                    )
                    .unwrap();
                    let code = if pw.as_slice() == PASSWORD.as_bytes() {
                        code::ACCESS_ACCEPT
                    } else {
                        code::ACCESS_REJECT
                    };
                    let reply = Packet::new(code, req.identifier, [0; 16])
                        .encode_reply(&req, secret)
                        .unwrap();
                    socket.send_to(&reply, from).await.unwrap();
                }
            }
        });
        Self {
            addr,
            requests,
            task,
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The Reply-Message of a reply, as text.
pub fn message(p: &Packet) -> Option<String> {
    p.attr(attr::REPLY_MESSAGE)
        .map(|m| String::from_utf8_lossy(m).into_owned())
}
