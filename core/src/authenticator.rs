//! The [`Authenticator`]: pairing, accounts, verified login requests and signed answers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use serde::Deserialize;
use tapprove_protocol::api::{
    AnswerRequest, AnswerResponse, PairRequest, PairResponse, PendingResponse, PushRegistration,
};
use tapprove_protocol::challenge::CHALLENGE_TYP;
use tapprove_protocol::jws::Unverified;
use tapprove_protocol::{Answer, Challenge, PROTOCOL_VERSION, PresenceMode, ProtocolError};
use tracing::{debug, info, warn};

use crate::background;
use crate::clock::{Clock, Offsets, SKEW_SECONDS, SystemClock};
use crate::config::{Config, EnrollmentUri};
use crate::error::{CoreError, StoreError};
use crate::events::{self, EventStream};
use crate::http::{self, Auth};
use crate::model::{
    ACCOUNT_PREFIX, Account, AccountRecord, Decision, LoginRequest, RespondOutcome,
};
use crate::net::{Head, HttpClient, Method, Request};
use crate::push;
use crate::secret::SecretBytes;
use crate::signer::{AliasSigner, DeviceSigner};
use crate::store::SecureStore;

/// How long answered or expired request ids are remembered after their expiry, seconds.
const REMEMBER_AFTER_EXPIRY: i64 = 600;

/// The device-side authenticator. Cheap to clone (all clones share one state), `Send + Sync`.
///
/// Several accounts (different services, projects, users) live in one store; each remembers
/// its own server URL, SDK key and pinned service key. The [`Config`] given to
/// [`Authenticator::new`] is only the default for [`Authenticator::pair`].
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    config: Config,
    pub(crate) store: Arc<dyn SecureStore>,
    pub(crate) signer: Arc<dyn DeviceSigner>,
    clock: Arc<dyn Clock>,
    pub(crate) http: HttpClient,
    offsets: Offsets,
    accounts: RwLock<HashMap<String, Arc<AccountRecord>>>,
    requests: Mutex<RequestCache>,
}

/// One in-memory cache of login requests keyed by session id: the same challenge arriving by
/// push, poll and event stream is one request; answered ids are remembered so a second answer
/// never reaches the network.
#[derive(Default)]
struct RequestCache {
    pending: HashMap<String, Cached>,
    /// Answered (or being answered) ids → their expiry, for pruning.
    answered: HashMap<String, i64>,
}

#[derive(Clone)]
struct Cached {
    request: LoginRequest,
    nonce: String,
}

impl RequestCache {
    fn prune(&mut self, now: i64) {
        let keep = |exp: i64| exp.saturating_add(REMEMBER_AFTER_EXPIRY) >= now;
        self.pending.retain(|_, c| keep(c.request.expires_at));
        self.answered.retain(|_, exp| keep(*exp));
    }
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("config", &self.inner.config)
            .field("accounts", &self.inner.accounts_read().len())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Route {
    /// Optional here so that a payload of a newer version with another schema can still be
    /// verified (with each pinned key) and reported as "update the app".
    #[serde(default)]
    account_id: Option<String>,
}

#[derive(Deserialize)]
struct VersionOnly {
    ver: u32,
}

impl Authenticator {
    /// Creates an authenticator over `store` (account metadata) and `signer` (device keys),
    /// with `config` as the default service for [`Authenticator::pair`]. Loads the accounts
    /// already in the store. No network.
    pub fn new(
        config: Config,
        store: Arc<dyn SecureStore>,
        signer: Arc<dyn DeviceSigner>,
    ) -> Result<Self, CoreError> {
        Self::with_clock(config, store, signer, Arc::new(SystemClock))
    }

    /// Like [`Authenticator::new`] with an injected clock (tests move time with it).
    pub fn with_clock(
        config: Config,
        store: Arc<dyn SecureStore>,
        signer: Arc<dyn DeviceSigner>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CoreError> {
        let inner = Inner {
            config,
            store,
            signer,
            clock,
            http: HttpClient::new()?,
            offsets: Offsets::default(),
            accounts: RwLock::new(HashMap::new()),
            requests: Mutex::new(RequestCache::default()),
        };
        inner.reload_accounts()?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The default configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Pairs with the default service: `user` and `pairing_code` as shown by the site, and
    /// where to push (if anywhere). Creates a new device key for the account, sends its public
    /// key, and pins the service key returned.
    pub async fn pair(
        &self,
        user: &str,
        pairing_code: &str,
        push: Option<PushRegistration>,
    ) -> Result<Account, CoreError> {
        let config = self.inner.config.clone();
        self.pair_with(config, user, pairing_code, push).await
    }

    /// Pairs with the service and project of `config`.
    pub async fn pair_with(
        &self,
        config: Config,
        user: &str,
        pairing_code: &str,
        push: Option<PushRegistration>,
    ) -> Result<Account, CoreError> {
        let (user, code) = (user.to_owned(), pairing_code.to_owned());
        self.background(move |inner| inner.pair(config, &user, &code, push))
            .await
    }

    /// Pairs from an enrollment link (`tapprove://pair?…`, usually read from a QR code).
    pub async fn pair_uri(
        &self,
        uri: &str,
        push: Option<PushRegistration>,
    ) -> Result<Account, CoreError> {
        let e = EnrollmentUri::parse(uri)?;
        self.pair_with(e.config.clone(), &e.user, &e.code, push)
            .await
    }

    /// Adds an account record without a service round trip (provisioning, tests with the
    /// shared vectors' keys). The device key under `record.key_alias` must already exist in
    /// the signer if the account is to answer. Validates the server URL and SDK key.
    pub fn import_account(&self, record: AccountRecord) -> Result<Account, CoreError> {
        Config::new(&record.server_url, &record.sdk_key)?;
        if record.id.is_empty() {
            return Err(CoreError::config("the account id must not be empty"));
        }
        self.inner.save_account(record)
    }

    /// The paired accounts, sorted by pairing time. No network.
    pub fn accounts(&self) -> Result<Vec<Account>, CoreError> {
        self.inner.reload_accounts()?;
        let mut list: Vec<Account> = self
            .inner
            .accounts_read()
            .values()
            .map(|r| r.account())
            .collect();
        list.sort_by(|a, b| (a.paired_at, &a.id).cmp(&(b.paired_at, &b.id)));
        Ok(list)
    }

    /// Sends a new push registration (e.g. a rotated APNs/FCM token) for every account. Tries
    /// all accounts and returns the first failure, if any.
    pub async fn update_push_token(&self, push: PushRegistration) -> Result<(), CoreError> {
        self.background(move |inner| inner.update_push_token(&push))
            .await
    }

    /// Unpairs an account: tells the service (`DELETE /v1/device`), then removes the account and
    /// its key from this device. The local removal happens even when the service cannot be
    /// reached; then the result is [`CoreError::UnpairedLocallyOnly`] (the account is gone from
    /// this device either way). A service that already forgot the device counts as success.
    pub async fn unpair(&self, account_id: &str) -> Result<(), CoreError> {
        let account_id = account_id.to_owned();
        self.background(move |inner| inner.unpair(&account_id))
            .await
    }

    /// Login requests waiting for an answer, from the service (`GET /v1/device/pending`), for
    /// one account or all. Verified like pushes; answered and invalid ones are left out
    /// (invalid ones are logged). With several accounts, an account whose service fails is
    /// skipped (logged) unless all fail, then the first error is returned. Oldest first.
    pub async fn pending(&self, account_id: Option<&str>) -> Result<Vec<LoginRequest>, CoreError> {
        let account_id = account_id.map(str::to_owned);
        self.background(move |inner| inner.pending(account_id.as_deref()))
            .await
    }

    /// Reads a push payload: the APNs `userInfo` JSON or the FCM data map JSON. Returns
    /// `Ok(None)` when the notification is not Tapprove's, the verified request otherwise.
    /// Synchronous and offline (for a Notification Service Extension).
    ///
    /// Errors: [`CoreError::UnknownAccount`] (not for an account on this device),
    /// [`CoreError::BadSignature`] (not signed by the pinned service key),
    /// [`CoreError::Expired`], [`CoreError::AlreadyAnswered`] (answered already on this
    /// device: do not show it again), [`CoreError::UpdateRequired`] (newer protocol),
    /// [`CoreError::InvalidPayload`].
    pub fn handle_push(&self, payload_json: &str) -> Result<Option<LoginRequest>, CoreError> {
        let Some(token) = push::challenge_token(payload_json)? else {
            return Ok(None);
        };
        self.inner.accept_challenge(&token, None).map(Some)
    }

    /// Answers a request seen through [`Authenticator::handle_push`],
    /// [`Authenticator::pending`] or [`Authenticator::events`] (an id not seen yet is looked up
    /// with `pending` first). Checks the decision locally (presence answer required and among
    /// the options), signs the answer with the account's device key and sends it.
    ///
    /// Answering the same request twice is [`CoreError::AlreadyAnswered`] without a network
    /// call; the service's `409` is the same error and `410` is [`CoreError::Expired`].
    pub async fn respond(
        &self,
        request_id: &str,
        decision: Decision,
    ) -> Result<RespondOutcome, CoreError> {
        let request_id = request_id.to_owned();
        self.background(move |inner| inner.respond(&request_id, decision))
            .await
    }

    /// Whether a request was answered (or is being answered) from this device.
    pub fn is_answered(&self, request_id: &str) -> bool {
        self.inner.requests().answered.contains_key(request_id)
    }

    /// A live stream of requests and decisions over Server-Sent Events, for one account or all
    /// (`GET /v1/device/events`). Reconnects with backoff (1 s doubling to 30 s), re-reads
    /// pending requests on reconnect, and delivers each request id once. Transient failures
    /// arrive as `Err` items and the stream goes on; it ends after a fatal error
    /// ([`CoreError::NotPaired`], [`CoreError::UpdateRequired`], [`CoreError::UnknownAccount`],
    /// [`CoreError::InvalidSdkKey`]). Drop the stream to stop listening. Works with any async
    /// runtime (each account's stream is read on a thread of its own), and without one through
    /// [`EventStream::blocking_next`].
    pub fn events(&self, account_id: Option<&str>) -> EventStream {
        let accounts = match account_id {
            Some(id) => match self.inner.account(id) {
                Ok(a) => vec![a],
                Err(e) => return events::failed(e),
            },
            None => self.inner.all_accounts(),
        };
        events::stream(self.inner.clone(), accounts)
    }

    /// Runs `work` with the shared state on a thread of its own (see `background.rs`).
    fn background<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, CoreError> + Send + 'static,
    ) -> impl Future<Output = Result<T, CoreError>> + Send + 'static {
        let inner = self.inner.clone();
        background::run(move || work(&inner))
    }
}

impl Inner {
    // ------------------------------------------------------------ accounts

    fn accounts_read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<AccountRecord>>> {
        self.accounts.read().unwrap_or_else(|p| p.into_inner())
    }

    fn accounts_write(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<AccountRecord>>> {
        self.accounts.write().unwrap_or_else(|p| p.into_inner())
    }

    fn requests(&self) -> MutexGuard<'_, RequestCache> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Re-reads every `account/*` record (another process, e.g. the app while this is the
    /// notification extension, may have paired or unpaired). Unreadable records are skipped
    /// and logged, so one broken record cannot hide the others.
    fn reload_accounts(&self) -> Result<(), CoreError> {
        let mut map = HashMap::new();
        for key in self.store.list_keys(ACCOUNT_PREFIX)? {
            let Some(bytes) = self.store.get(&key)? else {
                continue;
            };
            match serde_json::from_slice::<AccountRecord>(bytes.expose_secret()) {
                Ok(r) => {
                    if let Some(o) = self.offsets.get(&r.server_url) {
                        debug!(account_id = %r.id, offset = o, "clock offset known");
                    }
                    map.insert(r.id.clone(), Arc::new(r));
                }
                Err(e) => warn!(key = %key, error = %e, "skipping unreadable account record"),
            }
        }
        *self.accounts_write() = map;
        Ok(())
    }

    pub(crate) fn account(&self, id: &str) -> Result<Arc<AccountRecord>, CoreError> {
        if let Some(a) = self.accounts_read().get(id) {
            return Ok(a.clone());
        }
        self.reload_accounts()?;
        self.accounts_read()
            .get(id)
            .cloned()
            .ok_or_else(|| CoreError::UnknownAccount {
                account_id: id.to_owned(),
            })
    }

    fn all_accounts(&self) -> Vec<Arc<AccountRecord>> {
        let mut list: Vec<_> = self.accounts_read().values().cloned().collect();
        list.sort_by(|a, b| (a.paired_at, &a.id).cmp(&(b.paired_at, &b.id)));
        list
    }

    fn save_account(&self, record: AccountRecord) -> Result<Account, CoreError> {
        let json = serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt {
            key: record.store_key(),
            message: e.to_string(),
        })?;
        self.store
            .set(&record.store_key(), SecretBytes::new(json))?;
        let account = record.account();
        self.accounts_write()
            .insert(record.id.clone(), Arc::new(record));
        Ok(account)
    }

    fn remove_local(&self, account: &AccountRecord) -> Result<(), CoreError> {
        self.store.delete(&account.store_key())?;
        self.accounts_write().remove(&account.id);
        if let Err(e) = self.signer.delete_key(&account.key_alias) {
            // The account is gone; a leftover key is harmless but worth a log line.
            warn!(account_id = %account.id, error = %e, "could not delete the device key");
        }
        self.requests()
            .pending
            .retain(|_, c| c.request.account_id != account.id);
        Ok(())
    }

    // ------------------------------------------------------------ time

    /// Device time corrected by the last offset learnt from `account`'s service.
    pub(crate) fn now_for(&self, account: &AccountRecord) -> i64 {
        let offset = self
            .offsets
            .get(&account.server_url)
            .unwrap_or(account.clock_offset);
        self.clock.now_unix().saturating_add(offset)
    }

    pub(crate) fn observe_date(&self, server: &str, head: &Head) {
        if let Some(date) = head.header("date") {
            self.offsets
                .observe_date(server, date, self.clock.now_unix());
        }
    }

    // ------------------------------------------------------------ HTTP

    /// A device API call with a request proof; returns the success body. If the service
    /// refuses the proof (`401 unauthorized`) and its `Date` shows that the clock offset used
    /// was off by more than 30 s (the device clock was changed), retries once with the
    /// corrected time.
    fn call(
        &self,
        account: &AccountRecord,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<bytes_body::Body, CoreError> {
        let mut retried = false;
        loop {
            let now = self.now_for(account);
            let auth = Auth::Proof {
                account,
                signer: self.signer.as_ref(),
                now,
            };
            let req = http::request(&account.server_url, method, path, body.clone(), auth)?;
            match self.send(&account.server_url, req) {
                Err(CoreError::Service {
                    status: 401, code, ..
                }) if !retried
                    && code == "unauthorized"
                    && (self.now_for(account) - now).abs() > 30 =>
                {
                    debug!(account_id = %account.id, "clock offset changed; retrying with the corrected time");
                    retried = true;
                }
                other => return other,
            }
        }
    }

    pub(crate) fn send(&self, server: &str, req: Request) -> Result<bytes_body::Body, CoreError> {
        let resp = self.http.send(req)?;
        self.observe_date(server, &resp.head);
        if resp.head.is_success() {
            Ok(bytes_body::Body {
                status: resp.head.status,
                bytes: resp.body,
            })
        } else {
            Err(http::error_from_response(&resp.head, &resp.body))
        }
    }

    // ------------------------------------------------------------ calls

    fn update_push_token(&self, push: &PushRegistration) -> Result<(), CoreError> {
        let body = serde_json::to_vec(push).map_err(|e| CoreError::InvalidPayload {
            message: e.to_string(),
        })?;
        let mut first_error = None;
        for account in self.all_accounts() {
            let result = self.call(
                &account,
                Method::Put,
                "/v1/device/push-token",
                Some(body.clone()),
            );
            if let Err(e) = result {
                warn!(account_id = %account.id, error = %e, "push token update failed");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn unpair(&self, account_id: &str) -> Result<(), CoreError> {
        let account = self.account(account_id)?;
        let remote = self.call(&account, Method::Delete, "/v1/device", None);
        self.remove_local(&account)?;
        match remote {
            Ok(_) | Err(CoreError::NotPaired) => {
                info!(account_id = %account.id, "unpaired");
                Ok(())
            }
            Err(e) => {
                warn!(account_id = %account.id, error = %e, "unpaired locally; the service could not be told");
                Err(CoreError::UnpairedLocallyOnly {
                    reason: e.to_string(),
                })
            }
        }
    }

    fn pending(&self, account_id: Option<&str>) -> Result<Vec<LoginRequest>, CoreError> {
        let accounts = match account_id {
            Some(id) => vec![self.account(id)?],
            None => self.all_accounts(),
        };
        let mut out = Vec::new();
        let mut first_error = None;
        let mut any_ok = accounts.is_empty();
        for account in &accounts {
            match self.fetch_pending(account) {
                Ok(list) => {
                    any_ok = true;
                    out.extend(list);
                }
                Err(e) => {
                    warn!(account_id = %account.id, error = %e, "could not read pending requests");
                    first_error.get_or_insert(e);
                }
            }
        }
        if let (false, Some(e)) = (any_ok, first_error) {
            return Err(e);
        }
        out.sort_by(|a, b| (a.issued_at, &a.id).cmp(&(b.issued_at, &b.id)));
        Ok(out)
    }

    // ------------------------------------------------------------ pairing

    fn pair(
        &self,
        config: Config,
        user: &str,
        pairing_code: &str,
        push: Option<PushRegistration>,
    ) -> Result<Account, CoreError> {
        let user = user.trim();
        let code = pairing_code.trim();
        if user.is_empty() {
            return Err(CoreError::config(
                "enter your user name at the site to pair",
            ));
        }
        if code.is_empty() {
            return Err(CoreError::config(
                "enter the pairing code the site shows to pair",
            ));
        }
        let alias = format!("tapprove-{}", crate::random_id(16));
        let device_key = self.signer.create_key(&alias)?;
        let result = self.pair_with_key(&config, user, code, push, &alias, &device_key);
        if result.is_err()
            && let Err(e) = self.signer.delete_key(&alias)
        {
            warn!(error = %e, "could not delete the unused device key");
        }
        result
    }

    fn pair_with_key(
        &self,
        config: &Config,
        user: &str,
        code: &str,
        push: Option<PushRegistration>,
        alias: &str,
        device_key: &tapprove_protocol::PublicKey,
    ) -> Result<Account, CoreError> {
        let request = PairRequest {
            user: user.to_owned(),
            pairing_code: code.to_owned(),
            public_key: device_key.clone(),
            push,
            device_name: config.device_name().map(str::to_owned),
        };
        let body = serde_json::to_vec(&request).map_err(|e| CoreError::InvalidPayload {
            message: e.to_string(),
        })?;
        let server = config.server_url();
        let req = http::request(
            server,
            Method::Post,
            "/v1/device/pair",
            Some(body),
            Auth::SdkKey(config.sdk_key()),
        )?;
        let resp = self.send(server, req)?;
        let pair: PairResponse = resp.json()?;
        if pair.account_id.is_empty() {
            return Err(CoreError::Service {
                status: resp.status,
                code: "invalid_response".into(),
                message: "the service returned an empty account id".into(),
            });
        }
        let clock_offset = pair.server_time.saturating_sub(self.clock.now_unix());
        self.offsets.set(server, clock_offset);
        let previous = self.accounts_read().get(&pair.account_id).cloned();
        let record = AccountRecord {
            id: pair.account_id,
            project_id: pair.project_id,
            project_name: pair.project_name,
            user: pair.user,
            server_url: server.to_owned(),
            sdk_key: config.sdk_key().to_owned(),
            service_key: pair.service_key,
            key_alias: alias.to_owned(),
            device_key: device_key.clone(),
            clock_offset,
            paired_at: pair.server_time,
        };
        let account = self.save_account(record)?;
        if let Some(old) = previous.filter(|p| p.key_alias != alias) {
            let _ = self.signer.delete_key(&old.key_alias);
        }
        info!(account_id = %account.id, project_id = %account.project_id, "paired");
        Ok(account)
    }

    // ------------------------------------------------------------ challenges

    /// Verifies a challenge token with its account's pinned key, checks its time with the
    /// corrected clock, and records it in the request cache. With `expected_account`, a
    /// challenge for another account is refused.
    ///
    /// The token is parsed once; the order of checks is the protocol's (§2).
    pub(crate) fn accept_challenge(
        &self,
        token: &str,
        expected_account: Option<&str>,
    ) -> Result<LoginRequest, CoreError> {
        let jws = Unverified::parse(token, CHALLENGE_TYP).map_err(CoreError::from_challenge)?;
        // Routing only: which pinned key to verify with. Trusted after the signature check.
        let route: Route = jws
            .payload_unverified()
            .map_err(CoreError::from_challenge)?;
        let account = match (route.account_id, expected_account) {
            (Some(id), Some(expected)) if id != expected => {
                return Err(CoreError::InvalidPayload {
                    message: format!(
                        "the service sent a request for account {id:?} to account {expected:?}"
                    ),
                });
            }
            (Some(id), _) => {
                let account = self.account(&id)?;
                account
                    .service_key
                    .verify(jws.signing_input(), jws.signature())
                    .map_err(|_| CoreError::BadSignature)?;
                account
            }
            (None, expected) => {
                // No routable account id: accept only if a pinned key verifies it (the
                // version/schema checks below then say what is wrong with it).
                let candidates = match expected {
                    Some(id) => vec![self.account(id)?],
                    None => self.all_accounts(),
                };
                candidates
                    .into_iter()
                    .find(|a| {
                        a.service_key
                            .verify(jws.signing_input(), jws.signature())
                            .is_ok()
                    })
                    .ok_or_else(|| CoreError::InvalidPayload {
                        message: "it names no account of this device".into(),
                    })?
            }
        };
        let VersionOnly { ver } = jws
            .payload_unverified()
            .map_err(CoreError::from_challenge)?;
        if ver != PROTOCOL_VERSION {
            return Err(CoreError::from_challenge(
                ProtocolError::UnsupportedVersion(ver),
            ));
        }
        let challenge: Challenge = jws
            .payload_unverified()
            .map_err(CoreError::from_challenge)?;
        challenge.validate().map_err(CoreError::from_challenge)?;
        let now = self.now_for(&account);
        challenge
            .check_time(now, SKEW_SECONDS)
            .map_err(CoreError::from_challenge)?;

        let nonce = challenge.nonce.clone();
        let request = LoginRequest::from_challenge(challenge);
        let mut cache = self.requests();
        if cache.answered.contains_key(&request.id) {
            return Err(CoreError::AlreadyAnswered);
        }
        if cache.pending.len() > 64 {
            cache.prune(now);
        }
        let entry = cache
            .pending
            .entry(request.id.clone())
            .or_insert_with(|| Cached {
                request: request.clone(),
                nonce: nonce.clone(),
            });
        if entry.nonce != nonce {
            // A re-issued challenge for the same session (e.g. after a service restart): the
            // newest verified one wins.
            *entry = Cached {
                request: request.clone(),
                nonce,
            };
        }
        Ok(request)
    }

    /// Removes a request the service says is over.
    pub(crate) fn forget_request(&self, request_id: &str) {
        self.requests().pending.remove(request_id);
    }

    pub(crate) fn is_answered(&self, request_id: &str) -> bool {
        self.requests().answered.contains_key(request_id)
    }

    pub(crate) fn fetch_pending(
        &self,
        account: &AccountRecord,
    ) -> Result<Vec<LoginRequest>, CoreError> {
        let body = self.call(account, Method::Get, "/v1/device/pending", None)?;
        let pending: PendingResponse = body.json()?;
        let mut out = Vec::new();
        for token in &pending.challenges {
            match self.accept_challenge(token, Some(&account.id)) {
                Ok(r) => out.push(r),
                Err(CoreError::AlreadyAnswered) => {}
                Err(e) => warn!(account_id = %account.id, error = %e, "ignoring a pending request"),
            }
        }
        Ok(out)
    }

    // ------------------------------------------------------------ answers

    fn respond(&self, request_id: &str, decision: Decision) -> Result<RespondOutcome, CoreError> {
        let cached = {
            let cache = self.requests();
            if cache.answered.contains_key(request_id) {
                return Err(CoreError::AlreadyAnswered);
            }
            cache.pending.get(request_id).cloned()
        };
        let cached = match cached {
            Some(c) => c,
            None => {
                // Not seen yet (e.g. the app was restarted): look it up with the service.
                let accounts = self.all_accounts();
                for account in &accounts {
                    if let Err(e) = self.fetch_pending(account) {
                        warn!(account_id = %account.id, error = %e, "could not read pending requests");
                    }
                }
                let cache = self.requests();
                if cache.answered.contains_key(request_id) {
                    return Err(CoreError::AlreadyAnswered);
                }
                cache
                    .pending
                    .get(request_id)
                    .cloned()
                    .ok_or_else(|| CoreError::UnknownRequest {
                        request_id: request_id.to_owned(),
                    })?
            }
        };
        let request = &cached.request;
        let (proto_decision, presence_answer, deny_reason) = check_decision(request, decision)?;
        let account = self.account(&request.account_id)?;
        let now = self.now_for(&account);
        if now > request.expires_at.saturating_add(SKEW_SECONDS) {
            self.forget_request(request_id);
            return Err(CoreError::Expired);
        }
        // Reserve the id so a concurrent second answer fails without a network call.
        {
            let mut cache = self.requests();
            if cache.answered.contains_key(request_id) {
                return Err(CoreError::AlreadyAnswered);
            }
            cache
                .answered
                .insert(request_id.to_owned(), request.expires_at);
        }
        let result = self.send_answer(
            &account,
            request,
            &cached.nonce,
            proto_decision,
            presence_answer,
            deny_reason,
            now,
        );
        match &result {
            Ok(_) | Err(CoreError::AlreadyAnswered) | Err(CoreError::Expired) => {
                self.forget_request(request_id);
            }
            Err(_) => {
                // Nothing was decided: allow another try.
                self.requests().answered.remove(request_id);
            }
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn send_answer(
        &self,
        account: &AccountRecord,
        request: &LoginRequest,
        nonce: &str,
        decision: tapprove_protocol::Decision,
        presence_answer: Option<String>,
        deny_reason: Option<tapprove_protocol::DenyReason>,
        now: i64,
    ) -> Result<RespondOutcome, CoreError> {
        let answer = Answer {
            ver: PROTOCOL_VERSION,
            session_id: request.id.clone(),
            account_id: account.id.clone(),
            decision,
            presence_answer,
            deny_reason,
            iat: now,
            nonce: nonce.to_owned(),
        };
        let alias_signer = AliasSigner::new(
            self.signer.as_ref(),
            &account.key_alias,
            &account.device_key,
        );
        let token = answer
            .sign(&alias_signer)
            .map_err(|e| CoreError::Signer(alias_signer.take_error(e)))?;
        let body = serde_json::to_vec(&AnswerRequest { answer: token }).map_err(|e| {
            CoreError::InvalidPayload {
                message: e.to_string(),
            }
        })?;
        let req = http::request(
            &account.server_url,
            Method::Post,
            "/v1/device/answers",
            Some(body),
            Auth::None,
        )?;
        let resp = match self.send(&account.server_url, req) {
            Err(CoreError::Service { status: 404, .. }) => {
                return Err(CoreError::UnknownRequest {
                    request_id: request.id.clone(),
                });
            }
            other => other?,
        };
        let answer: AnswerResponse = resp.json()?;
        info!(request_id = %request.id, status = answer.status.as_str(), "answered");
        Ok(RespondOutcome {
            request_id: request.id.clone(),
            status: answer.status,
            reason: answer.reason,
        })
    }
}

/// Checks a decision against the request's presence mode; returns the wire fields.
fn check_decision(
    request: &LoginRequest,
    decision: Decision,
) -> Result<
    (
        tapprove_protocol::Decision,
        Option<String>,
        Option<tapprove_protocol::DenyReason>,
    ),
    CoreError,
> {
    match decision {
        Decision::Deny { reason } => Ok((tapprove_protocol::Decision::Deny, None, Some(reason))),
        Decision::Approve { presence_answer } => {
            let answer = presence_answer
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty());
            let answer = match request.presence_mode {
                PresenceMode::None => None,
                PresenceMode::Entry => Some(answer.ok_or(CoreError::PresenceAnswerRequired)?),
                PresenceMode::Choose => {
                    let a = answer.ok_or(CoreError::PresenceAnswerRequired)?;
                    if !request.options.contains(&a) {
                        return Err(CoreError::PresenceAnswerNotAmongOptions);
                    }
                    Some(a)
                }
            };
            Ok((tapprove_protocol::Decision::Approve, answer, None))
        }
    }
}

/// A successful response body.
pub(crate) mod bytes_body {
    use serde::de::DeserializeOwned;

    use crate::error::CoreError;

    pub(crate) struct Body {
        pub(crate) status: u16,
        pub(crate) bytes: Vec<u8>,
    }

    impl Body {
        pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, CoreError> {
            serde_json::from_slice(&self.bytes).map_err(|e| CoreError::Service {
                status: self.status,
                code: "invalid_response".into(),
                message: format!("the service's answer could not be read ({e}); the service may be a different version"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapprove_protocol::{Context, DenyReason};

    fn request(mode: PresenceMode) -> LoginRequest {
        LoginRequest {
            id: "ses_1".into(),
            account_id: "acc_1".into(),
            user: "alice".into(),
            title: "t".into(),
            body: "b".into(),
            context: Context::default(),
            presence_mode: mode,
            options: if mode == PresenceMode::Choose {
                vec!["17".into(), "42".into(), "88".into()]
            } else {
                vec![]
            },
            issued_at: 0,
            expires_at: 100,
        }
    }

    fn approve(a: Option<&str>) -> Decision {
        Decision::Approve {
            presence_answer: a.map(str::to_owned),
        }
    }

    #[test]
    fn choose_mode_needs_one_of_the_options() {
        let r = request(PresenceMode::Choose);
        assert!(matches!(
            check_decision(&r, approve(None)),
            Err(CoreError::PresenceAnswerRequired)
        ));
        assert!(matches!(
            check_decision(&r, approve(Some("  "))),
            Err(CoreError::PresenceAnswerRequired)
        ));
        assert!(matches!(
            check_decision(&r, approve(Some("43"))),
            Err(CoreError::PresenceAnswerNotAmongOptions)
        ));
        let (d, a, reason) = check_decision(&r, approve(Some("42"))).expect("ok");
        assert_eq!(
            (d, a.as_deref(), reason),
            (tapprove_protocol::Decision::Approve, Some("42"), None)
        );
    }

    #[test]
    fn entry_mode_needs_a_code_and_none_mode_ignores_it() {
        let r = request(PresenceMode::Entry);
        assert!(matches!(
            check_decision(&r, approve(None)),
            Err(CoreError::PresenceAnswerRequired)
        ));
        let (_, a, _) = check_decision(&r, approve(Some(" 42 "))).expect("ok");
        assert_eq!(a.as_deref(), Some("42"));
        let r = request(PresenceMode::None);
        let (_, a, _) = check_decision(&r, approve(Some("42"))).expect("ok");
        assert_eq!(a, None);
    }

    #[test]
    fn deny_carries_the_reason_only() {
        for mode in [
            PresenceMode::Choose,
            PresenceMode::Entry,
            PresenceMode::None,
        ] {
            let (d, a, reason) = check_decision(
                &request(mode),
                Decision::Deny {
                    reason: DenyReason::NotMe,
                },
            )
            .expect("ok");
            assert_eq!(
                (d, a, reason),
                (
                    tapprove_protocol::Decision::Deny,
                    None,
                    Some(DenyReason::NotMe)
                )
            );
        }
    }
}
