//! The [`Authenticator`]: the public facade. Each responsibility has its own module: the
//! accounts ([`accounts`]), the request cache ([`requests`]), pairing and unpairing
//! ([`pairing`]), verifying requests ([`verification`]) and answering them ([`answers`]), what
//! responses say about an account — revoked, clock moved, key rolled — ([`lifecycle`]); the
//! service calls with their clock correction are `crate::api_client`. The event stream
//! (`crate::events`) sees the authenticator only through [`events::EventSource`].

mod accounts;
mod answers;
mod display;
mod lifecycle;
mod pairing;
mod requests;
mod verification;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tapprove_protocol::api::PushRegistration;
use tapprove_protocol::sealed::PushSecretKey;

use crate::api_client::ApiClient;
use crate::api_client::EventBody;
use crate::background;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, EnrollmentUri};
use crate::error::CoreError;
use crate::events::{self, EventStream};
use crate::model::{
    Account, AccountNeedingRepair, AccountRecord, Decision, EndedRequest, LoginRequest,
    RespondOutcome,
};
use crate::net::HttpClient;
use crate::push_payload::{self, PushChallenge};
use crate::signer::DeviceSigner;
use crate::store::SecureStore;
use crate::transport::{HttpStreamTransport, HttpTransport};
use crate::user_verification::UserVerifier;

use accounts::Accounts;
use requests::RequestCache;

/// The device-side authenticator. Cheap to clone (all clones share one state), `Send + Sync`.
///
/// Several accounts (different services, projects, users) live in one store; each remembers
/// its own server URL, SDK key and pinned service key. The [`Config`] given to
/// [`Authenticator::new`] is only the default for [`Authenticator::pair`].
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

/// The shared state; its fields are private to this module and its children.
struct Inner {
    config: Config,
    signer: Arc<dyn DeviceSigner>,
    api: ApiClient,
    accounts: Accounts,
    requests: RequestCache,
    verifier: RwLock<Option<Arc<dyn UserVerifier>>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("config", &self.inner.config)
            .field("accounts", &self.inner.accounts.len())
            .finish_non_exhaustive()
    }
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
        Self::with_parts(config, store, signer, clock, None)
    }

    /// Like [`Authenticator::new`], sending the device API calls through the app's HTTP stack
    /// (proxies, user CAs, VPN rules apply). The live event stream ([`Authenticator::events`])
    /// still uses the built-in client.
    pub fn with_transport(
        config: Config,
        store: Arc<dyn SecureStore>,
        signer: Arc<dyn DeviceSigner>,
        transport: Arc<dyn HttpTransport>,
    ) -> Result<Self, CoreError> {
        Self::with_parts(
            config,
            store,
            signer,
            Arc::new(SystemClock),
            Some(transport),
        )
    }

    /// An injected clock and, if given, the app's HTTP transport.
    pub fn with_parts(
        config: Config,
        store: Arc<dyn SecureStore>,
        signer: Arc<dyn DeviceSigner>,
        clock: Arc<dyn Clock>,
        transport: Option<Arc<dyn HttpTransport>>,
    ) -> Result<Self, CoreError> {
        Self::with_transports(config, store, signer, clock, transport, None)
    }

    /// The general form: an injected clock, and, if given, the app's HTTP transport for the
    /// calls and its streaming transport for the event stream ([`Authenticator::events`]).
    /// Whatever is not given goes through the built-in client.
    pub fn with_transports(
        config: Config,
        store: Arc<dyn SecureStore>,
        signer: Arc<dyn DeviceSigner>,
        clock: Arc<dyn Clock>,
        transport: Option<Arc<dyn HttpTransport>>,
        streaming: Option<Arc<dyn HttpStreamTransport>>,
    ) -> Result<Self, CoreError> {
        let http = HttpClient::new()?;
        let inner = Inner {
            config,
            api: ApiClient::new(http, transport, streaming, clock, signer.clone()),
            signer,
            accounts: Accounts::load(store),
            requests: RequestCache::default(),
            verifier: RwLock::new(None),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The default configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Sets (or with `None` removes) the prompt that verifies the user before an approval
    /// that asks for it (see [`UserVerifier`], docs/CORE.md "User verification"). Without one,
    /// a request whose policy is `required` cannot be approved
    /// ([`CoreError::UserVerificationUnavailable`]).
    pub fn set_user_verifier(&self, verifier: Option<Arc<dyn UserVerifier>>) {
        *self
            .inner
            .verifier
            .write()
            .unwrap_or_else(|p| p.into_inner()) = verifier;
    }

    /// Applies a service key update (docs/PROTOCOL.md §5a) for `account_id` received by other
    /// means than the service's responses, which the core already reads (a silent push, a
    /// test vector). Verified with the pinned key; then the new key is pinned and the old one
    /// accepted until `old_key_valid_until`. Offline. [`CoreError::KeyUpdateRefused`] keeps
    /// the pinned key.
    pub fn accept_key_update(&self, account_id: &str, token: &str) -> Result<Account, CoreError> {
        Ok(self.inner.accept_key_update(account_id, token)?.account())
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
        self.inner.accounts.save(record)
    }

    /// The paired accounts, sorted by pairing time. No network.
    pub fn accounts(&self) -> Result<Vec<Account>, CoreError> {
        self.inner.accounts.reload()?;
        Ok(self
            .inner
            .accounts
            .all()
            .iter()
            .map(|r| r.account())
            .collect())
    }

    /// The accounts whose records could not be read at the last reload (reload with
    /// [`Authenticator::accounts`]): show them as needing re-pairing and remove them with
    /// [`Authenticator::forget_account`]. They are never used for anything else.
    pub fn accounts_needing_repair(&self) -> Vec<AccountNeedingRepair> {
        self.inner.accounts.needing_repair()
    }

    /// Removes an account from this device only, readable or not: its record, and for a
    /// readable one its device and push keys. The service is not told (use
    /// [`Authenticator::unpair`] for that while the account can still be read).
    pub fn forget_account(&self, account_id: &str) -> Result<(), CoreError> {
        match self.inner.accounts.cached(account_id) {
            Some(account) => self.inner.remove_local(&account),
            None => self.inner.accounts.forget_record(account_id),
        }
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
    ///
    /// A sealed payload (`tapprove_sealed`, docs/PROTOCOL.md §11) is opened with the named
    /// account's push key first, then verified the same way; one that does not open is
    /// [`CoreError::NotDecryptable`].
    pub fn handle_push(&self, payload_json: &str) -> Result<Option<LoginRequest>, CoreError> {
        match push_payload::challenge(payload_json)? {
            None => Ok(None),
            Some(PushChallenge::Plain(token)) => self
                .inner
                .accept_challenge_from(&token, None, true)
                .map(Some),
            Some(PushChallenge::Sealed { sealed, account }) => {
                let token = self.inner.open_sealed(&account, &sealed)?;
                self.inner
                    .accept_challenge(&token, Some(&account))
                    .map(Some)
            }
        }
    }

    /// Stores `key` as the push key of `account_id` (an account added with
    /// [`Authenticator::import_account`]; pairing makes its own): its sealed pushes then open.
    /// Provisioning and tests with the shared vectors' keys. Offline.
    pub fn import_push_key(&self, account_id: &str, key: &PushSecretKey) -> Result<(), CoreError> {
        let account = self.inner.accounts.get(account_id)?;
        self.inner.accounts.save_push_key(&account.key_alias, key)
    }

    /// Answers a request seen through [`Authenticator::handle_push`],
    /// [`Authenticator::pending`] or [`Authenticator::events`] (an id not seen yet is looked up
    /// with `pending` first). Checks the decision locally (presence answer required and among
    /// the options), signs the answer with the account's device key and sends it.
    ///
    /// Answering the same request twice is [`CoreError::AlreadyAnswered`] without a network
    /// call; the service's `409` is the same error and `410` is [`CoreError::Expired`] (the
    /// request is then kept as ended). A request that ended unanswered
    /// ([`Authenticator::ended_requests`]) takes only "not me"; anything else is
    /// [`CoreError::RequestEnded`] without a network call.
    pub async fn respond(
        &self,
        request_id: &str,
        decision: Decision,
    ) -> Result<RespondOutcome, CoreError> {
        let request_id = request_id.to_owned();
        self.background(move |inner| inner.respond(&request_id, decision))
            .await
    }

    /// The code of a code-to-phone request ([`LoginRequest::display_code`]) to show in the
    /// app, never on the lock screen, with "This wasn't me" beside it. When the request's policy
    /// asks, the app's [`crate::UserVerifier`] verifies the user first, and the service is
    /// told (signed, `POST /v1/device/shown`) that the code was shown to a verified user:
    /// under `nist-aal2` the service accepts the code typed at the login only after that.
    /// Call it when the user opens the request. The user approves by typing the code at the
    /// login prompt; [`Authenticator::respond`] takes only a deny for these requests.
    pub async fn show_code(&self, request_id: &str) -> Result<String, CoreError> {
        let request_id = request_id.to_owned();
        self.background(move |inner| inner.show_code(&request_id))
            .await
    }

    /// The requests this device saw that ended before anyone answered them (superseded,
    /// canceled by the site, expired) in the last 10 minutes, for one account or all, newest
    /// first. Offline. Never pending and never approvable: the one answer
    /// [`Authenticator::respond`] takes for them is `Decision::Deny` with `DenyReason::NotMe`
    /// ("this wasn't me"), any other is [`CoreError::RequestEnded`]. The core learns the end
    /// from the event stream's decided events and from the service's answer to an answer.
    /// Kept in memory (at most 32).
    pub fn ended_requests(&self, account_id: Option<&str>) -> Vec<EndedRequest> {
        self.inner
            .requests
            .ended(account_id, self.inner.api.device_now())
    }

    /// Whether a request was answered (or is being answered) from this device.
    pub fn is_answered(&self, request_id: &str) -> bool {
        self.inner.requests.is_answered(request_id)
    }

    /// A live stream of requests and decisions over Server-Sent Events, for one account or all
    /// (`GET /v1/device/events`). Reconnects with backoff (1 s doubling to 30 s), re-reads
    /// pending requests on reconnect, and delivers each request id once. Transient failures
    /// arrive as `Err` items and the stream goes on; it ends after a fatal error
    /// ([`CoreError::NotPaired`], [`CoreError::UpdateRequired`], [`CoreError::UnknownAccount`],
    /// [`CoreError::InvalidSdkKey`], [`CoreError::InvalidConfig`]). The stream goes through the
    /// app's streaming transport when one was given ([`Authenticator::with_transports`]), else
    /// the built-in client. Drop the stream to stop listening. Works with any async
    /// runtime (each account's stream is read on a thread of its own), and without one through
    /// [`EventStream::blocking_next`].
    pub fn events(&self, account_id: Option<&str>) -> EventStream {
        let accounts = match account_id {
            Some(id) => match self
                .inner
                .accounts
                .get(id)
                .and_then(|a| self.inner.check_usable(&a).map(|()| a))
            {
                Ok(a) => vec![a],
                Err(e) => return events::failed(e),
            },
            None => self.inner.accounts.active(),
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

/// What the event stream needs from the authenticator, and nothing more.
impl events::EventSource for Inner {
    fn accept_challenge(&self, token: &str, account_id: &str) -> Result<LoginRequest, CoreError> {
        Inner::accept_challenge(self, token, Some(account_id))
    }

    fn fetch_pending(&self, account: &AccountRecord) -> Result<Vec<LoginRequest>, CoreError> {
        Inner::fetch_pending(self, account)
    }

    fn is_answered(&self, request_id: &str) -> bool {
        self.requests.is_answered(request_id)
    }

    fn request_over(&self, request_id: &str, status: tapprove_protocol::api::SessionStatus) {
        self.requests.end(request_id, status, self.api.device_now());
    }

    fn accept_key_update(&self, token: &str, account_id: &str) -> Result<(), CoreError> {
        Inner::accept_key_update(self, account_id, token).map(|_| ())
    }

    fn open_events(&self, account: &AccountRecord, idle: Duration) -> Result<EventBody, CoreError> {
        let result = self.api.open_events(account, idle);
        self.persist_clock(&account.server_url);
        match result {
            Err(CoreError::Revoked { revoked_at, .. }) => {
                Err(self.mark_revoked(account, revoked_at))
            }
            other => other,
        }
    }
}
