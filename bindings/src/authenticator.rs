//! The exported [`Authenticator`]: one-line delegations to `tapprove_core::Authenticator`.

use std::collections::HashMap;
use std::sync::Arc;

use tapprove_core::{self as core, AccountRecord, PublicKey, push_payload};

use crate::cancel::{self, CancelToken};
use crate::error::AuthError;
use crate::foreign::{
    Clock, ClockBridge, DeviceSigner, SecureStore, SignerBridge, StoreBridge, UserVerifier,
    VerifierBridge,
};
use crate::listen::{self, ListenHandle, RequestListener};
use crate::transport::{
    HttpStreamTransport, HttpTransport, StreamTransportBridge, TransportBridge,
};
use crate::types::{
    Account, AccountImport, AccountNeedingRepair, Decision, EndedRequest, LoginRequest,
    PushRegistration, RespondOutcome, ServiceConfig,
};

/// The device-side authenticator: pairs accounts, receives login requests (push, polling or
/// live listening) and answers them with the account's device key.
///
/// Create one per process and share it (it is thread-safe). Several accounts, on different
/// services, projects and users, live in the one `store`.
#[derive(uniffi::Object)]
pub struct Authenticator {
    core: core::Authenticator,
    signer: Arc<SignerBridge>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.core.fmt(f)
    }
}

impl Authenticator {
    fn build(
        config: ServiceConfig,
        store: Arc<dyn SecureStore>,
        signer: Arc<dyn DeviceSigner>,
        clock: Option<Arc<dyn Clock>>,
        transport: Option<Arc<dyn HttpTransport>>,
        streaming: Option<Arc<dyn HttpStreamTransport>>,
    ) -> Result<Arc<Self>, AuthError> {
        let config = config.to_core()?;
        let store = Arc::new(StoreBridge(store));
        let signer = Arc::new(SignerBridge(signer));
        let clock: Arc<dyn core::Clock> = match clock {
            Some(clock) => Arc::new(ClockBridge(clock)),
            None => Arc::new(core::SystemClock),
        };
        let transport =
            transport.map(|t| Arc::new(TransportBridge(t)) as Arc<dyn core::HttpTransport>);
        let streaming = streaming
            .map(|t| Arc::new(StreamTransportBridge(t)) as Arc<dyn core::HttpStreamTransport>);
        let core = core::Authenticator::with_transports(
            config,
            store,
            signer.clone(),
            clock,
            transport,
            streaming,
        )?;
        Ok(Arc::new(Self { core, signer }))
    }
}

#[uniffi::export]
impl Authenticator {
    /// An authenticator over the app's secure `store` (account metadata) and `signer` (device
    /// keys), with `config` as the service [`Authenticator::pair`] uses. Loads the accounts
    /// already in the store; no network.
    #[uniffi::constructor]
    pub fn new(
        config: ServiceConfig,
        store: Arc<dyn SecureStore>,
        signer: Arc<dyn DeviceSigner>,
    ) -> Result<Arc<Self>, AuthError> {
        Self::build(config, store, signer, None, None, None)
    }

    /// Like [`Authenticator::new`] with an injected clock. For tests and tools only.
    #[uniffi::constructor]
    pub fn with_clock(
        config: ServiceConfig,
        store: Arc<dyn SecureStore>,
        signer: Arc<dyn DeviceSigner>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, AuthError> {
        Self::build(config, store, signer, Some(clock), None, None)
    }

    /// Like [`Authenticator::new`], sending every device API call through the app's HTTP
    /// stack (`transport`), so that proxies, user-installed CAs, Network Security Config and
    /// VPN rules apply; with `streaming`, `listen` goes through the app's stack too (else the
    /// built-in client, which in the phone build without built-in TLS reaches only plain
    /// `http://` services). The phone library's default.
    #[uniffi::constructor(default(streaming = None))]
    pub fn with_transport(
        config: ServiceConfig,
        store: Arc<dyn SecureStore>,
        signer: Arc<dyn DeviceSigner>,
        transport: Arc<dyn HttpTransport>,
        streaming: Option<Arc<dyn HttpStreamTransport>>,
    ) -> Result<Arc<Self>, AuthError> {
        Self::build(config, store, signer, None, Some(transport), streaming)
    }

    /// Pairs `user` with the configured service using the pairing code the site shows.
    /// Creates a device key for the account and pins the service's key.
    #[uniffi::method(default(cancel = None))]
    pub async fn pair(
        &self,
        user: String,
        pairing_code: String,
        push: Option<PushRegistration>,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<Account, AuthError> {
        let call = self.core.pair(&user, &pairing_code, push.map(Into::into));
        Ok(cancel::run(cancel, call).await?.into())
    }

    /// Pairs with another service or project than the configured one.
    #[uniffi::method(default(cancel = None))]
    pub async fn pair_with(
        &self,
        config: ServiceConfig,
        user: String,
        pairing_code: String,
        push: Option<PushRegistration>,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<Account, AuthError> {
        let config = config.to_core()?;
        let call = self
            .core
            .pair_with(config, &user, &pairing_code, push.map(Into::into));
        Ok(cancel::run(cancel, call).await?.into())
    }

    /// Pairs from an enrollment link (`tapprove://pair?…`, from the pairing QR code).
    #[uniffi::method(default(cancel = None))]
    pub async fn pair_uri(
        &self,
        uri: String,
        push: Option<PushRegistration>,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<Account, AuthError> {
        let call = self.core.pair_uri(&uri, push.map(Into::into));
        Ok(cancel::run(cancel, call).await?.into())
    }

    /// Adds an account without a pairing round trip (provisioning; tests pinned to the shared
    /// test-vector keys). The key `key_alias` must already exist in the signer.
    pub fn import_account(&self, account: AccountImport) -> Result<Account, AuthError> {
        let service_key = PublicKey::from_base64url(&account.service_key)
            .map_err(|_| AuthError::invalid("the service key is not a base64url P-256 point"))?;
        let device_key = core::DeviceSigner::public_key(self.signer.as_ref(), &account.key_alias)
            .map_err(core::CoreError::from)?;
        let record = AccountRecord {
            retiring_key: None,
            revoked_at: None,
            vapid_public_key: None,
            user_verification: None,
            id: account.id,
            project_id: account.project_id,
            project_name: account.project_name,
            user: account.user,
            server_url: account.server_url,
            sdk_key: account.sdk_key,
            service_key,
            key_alias: account.key_alias,
            device_key,
            clock_offset: 0,
            paired_at: account.paired_at,
        };
        Ok(self.core.import_account(record)?.into())
    }

    /// The paired accounts, oldest first. No network.
    pub fn accounts(&self) -> Result<Vec<Account>, AuthError> {
        Ok(self.core.accounts()?.into_iter().map(Into::into).collect())
    }

    /// Sends a new push token (APNs/FCM rotate them) to every account whose service does not
    /// have it yet; an unchanged token costs no request. Call on every app start and whenever
    /// the platform reports a new token.
    #[uniffi::method(default(cancel = None))]
    pub async fn update_push_token(
        &self,
        push: PushRegistration,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<(), AuthError> {
        cancel::run(cancel, self.core.update_push_token(push.into())).await
    }

    /// Unpairs an account: tells the service, then removes it and its key from this device.
    /// The local removal happens even offline; then the error is
    /// [`AuthError::UnpairedLocallyOnly`].
    #[uniffi::method(default(cancel = None))]
    pub async fn unpair(
        &self,
        account_id: String,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<(), AuthError> {
        cancel::run(cancel, self.core.unpair(&account_id)).await
    }

    /// The accounts whose stored records could not be read when the accounts were last
    /// loaded (construction, [`Authenticator::accounts`]): after a backup restore without the
    /// store's key, or a damaged record. Show them as needing re-pairing; remove them with
    /// [`Authenticator::forget_account`]. No network.
    pub fn accounts_needing_repair(&self) -> Vec<AccountNeedingRepair> {
        self.core
            .accounts_needing_repair()
            .into_iter()
            .map(Into::into)
            .collect()
    }

    /// Removes an account from this device only (readable or needing repair); the service is
    /// not told (use [`Authenticator::unpair`] for a readable one). No network.
    pub fn forget_account(&self, account_id: String) -> Result<(), AuthError> {
        Ok(self.core.forget_account(&account_id)?)
    }

    /// Login requests waiting for an answer, for one account or all (`None`). Oldest first.
    #[uniffi::method(default(cancel = None))]
    pub async fn pending(
        &self,
        account_id: Option<String>,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<Vec<LoginRequest>, AuthError> {
        let call = self.core.pending(account_id.as_deref());
        Ok(cancel::run(cancel, call)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Reads a push payload (APNs `userInfo` or FCM data map, as JSON). `None` when the
    /// notification is not Tapprove's; the verified request otherwise. Offline and synchronous:
    /// a Notification Service Extension may call it.
    pub fn handle_push(&self, payload_json: String) -> Result<Option<LoginRequest>, AuthError> {
        Ok(self.core.handle_push(&payload_json)?.map(Into::into))
    }

    /// Reads an FCM data message (`RemoteMessage.getData()`: every value a string). `None` when
    /// it has neither a `tapprove` nor a `tapprove_sealed` member (not Tapprove's); otherwise
    /// like [`Authenticator::handle_push`] (a sealed one is opened with the account's key).
    /// Only those members and `account` are read, so nothing has to encode the map as JSON first.
    pub fn handle_push_data(
        &self,
        data: HashMap<String, String>,
    ) -> Result<Option<LoginRequest>, AuthError> {
        let ours: serde_json::Map<String, serde_json::Value> = push_payload::PAYLOAD_KEYS
            .iter()
            .filter_map(|k| data.get(*k).map(|v| ((*k).to_owned(), v.clone().into())))
            .collect();
        if !ours.contains_key(push_payload::PAYLOAD_KEY)
            && !ours.contains_key(push_payload::SEALED_PAYLOAD_KEY)
        {
            return Ok(None);
        }
        let payload = serde_json::Value::Object(ours).to_string();
        Ok(self.core.handle_push(&payload)?.map(Into::into))
    }

    /// Answers a request seen through `handle_push`, `pending` or `listen`. Checks the decision
    /// locally first (a presence answer is required and must be among the options).
    #[uniffi::method(default(cancel = None))]
    pub async fn respond(
        &self,
        request_id: String,
        decision: Decision,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<RespondOutcome, AuthError> {
        let call = self.core.respond(&request_id, decision.into());
        Ok(cancel::run(cancel, call).await?.into())
    }

    /// The code of a code-to-phone request (`PresenceMode.DISPLAY`) to show in the app: runs
    /// the user verifier first when the policy asks and tells the service the code was shown.
    #[uniffi::method(default(cancel = None))]
    pub async fn show_code(
        &self,
        request_id: String,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<String, AuthError> {
        cancel::run(cancel, self.core.show_code(&request_id)).await
    }

    /// Sets (or with `None` removes) the prompt run before an approval that asks for user
    /// verification ([`LoginRequest::user_verification`]). Without one, a `Required` request
    /// cannot be approved (`AuthError::UserVerification` with `Unavailable`).
    pub fn set_user_verifier(&self, verifier: Option<Arc<dyn UserVerifier>>) {
        self.core.set_user_verifier(
            verifier.map(|v| Arc::new(VerifierBridge(v)) as Arc<dyn core::UserVerifier>),
        )
    }

    /// Applies a service key update received outside the SDK's own calls (a silent push); the
    /// SDK already reads those the service sends. Offline. `AuthError::KeyUpdateRefused` keeps
    /// the pinned key.
    pub fn accept_key_update(
        &self,
        account_id: String,
        token: String,
    ) -> Result<Account, AuthError> {
        Ok(self.core.accept_key_update(&account_id, &token)?.into())
    }

    /// The requests that ended unanswered in the last 10 minutes (superseded, canceled by the
    /// site, expired), for one account or all (`None`), newest first. Offline. Their one
    /// action is "This wasn't me" (`respond` with `Decision.Deny(DenyReason.NOT_ME)`); any
    /// other answer is `AuthError.RequestClosed(ClosedReason.ENDED)`.
    pub fn ended_requests(&self, account_id: Option<String>) -> Vec<EndedRequest> {
        self.core
            .ended_requests(account_id.as_deref())
            .into_iter()
            .map(Into::into)
            .collect()
    }

    /// Whether a request was answered from this device.
    pub fn is_answered(&self, request_id: String) -> bool {
        self.core.is_answered(&request_id)
    }

    /// Listens for login requests live, for one account or all (`None`), until the handle is
    /// cancelled or dropped. Reconnects by itself; see [`RequestListener`].
    pub fn listen(
        &self,
        account_id: Option<String>,
        listener: Arc<dyn RequestListener>,
    ) -> Result<Arc<ListenHandle>, AuthError> {
        listen::spawn(self.core.events(account_id.as_deref()), listener)
    }
}
