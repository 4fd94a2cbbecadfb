//! Operator actions on the service database (used by `tapprove admin …`): create and list
//! projects, rotate webhook credentials and API keys, list and revoke devices, rotate the
//! service signing key.
//!
//! The credential rules themselves live in `credentials`.

use serde::Serialize;

use crate::domain::audit::{self, AuditEvent};
pub use crate::domain::audit::{AuditQuery, MAX_ADMIN_ROWS, read_audit};

use crate::crypto::{self, SealKey, SecretString};
use crate::domain::credentials::{self, new_webhook_secrets, seal_webhook_credentials};
pub use crate::domain::credentials::{API_KEY_PREFIX, SDK_KEY_PREFIX, WEBHOOK_SECRET_PREFIX};
pub use crate::domain::policy::{PolicyKind, PresencePolicy};
pub use crate::domain::service_keys::{KeyRotation, ServiceKeySummary};
pub use crate::domain::trust_webhook::validate_trust_url;
use crate::error::ServiceError;
use crate::store::{ProjectRow, Store};

/// Everything a relying party needs, shown once at creation. JSON keys are exactly
/// `project_id, api_key, sdk_key, webhook_username, webhook_password, webhook_secret`.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectCredentials {
    /// Project id (`prj_…`).
    pub project_id: String,
    /// The relying-party API key (secret; only its hash is stored).
    #[serde(serialize_with = "crate::crypto::show_once")]
    pub api_key: SecretString,
    /// The SDK key apps ship with (public).
    pub sdk_key: String,
    /// HTTP Basic user name the service uses on the trust webhook.
    pub webhook_username: String,
    /// HTTP Basic password the service uses on the trust webhook (secret).
    #[serde(serialize_with = "crate::crypto::show_once")]
    pub webhook_password: SecretString,
    /// Standard Webhooks signing secret, `whsec_<base64 key>` (secret).
    #[serde(serialize_with = "crate::crypto::show_once")]
    pub webhook_secret: SecretString,
}

/// New webhook credentials after a rotation (the API and SDK keys do not change).
#[derive(Debug, Clone, Serialize)]
pub struct WebhookCredentials {
    /// Project id.
    pub project_id: String,
    /// HTTP Basic user name (unchanged).
    pub webhook_username: String,
    /// The new HTTP Basic password.
    #[serde(serialize_with = "crate::crypto::show_once")]
    pub webhook_password: SecretString,
    /// The new signing secret.
    #[serde(serialize_with = "crate::crypto::show_once")]
    pub webhook_secret: SecretString,
}

/// What a new project is: name, trust webhook, presence policy, events URL.
#[derive(Debug, Clone)]
pub struct NewProject<'a> {
    /// Display name, shown on phones.
    pub name: &'a str,
    /// The site's trust webhook.
    pub trust_url: &'a str,
    /// The presence policy (default `choose`).
    pub policy: PresencePolicy,
    /// Where `user.fraud_reported` events go (none = not sent).
    pub events_url: Option<&'a str>,
}

/// A project as listed (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectSummary {
    /// Project id.
    pub project_id: String,
    /// Display name.
    pub name: String,
    /// Trust webhook URL.
    pub trust_url: String,
    /// SDK key (public).
    pub sdk_key: String,
    /// Basic-auth user name of the webhook.
    pub webhook_username: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The presence policy.
    pub policy: PresencePolicy,
    /// Where `user.fraud_reported` events go.
    pub events_url: Option<String>,
}

impl From<ProjectRow> for ProjectSummary {
    fn from(p: ProjectRow) -> Self {
        Self {
            policy: PresencePolicy::from_stored(&p.presence_policy, p.entry_digits),
            project_id: p.id,
            name: p.name,
            trust_url: p.trust_url,
            sdk_key: p.sdk_key,
            webhook_username: p.webhook_username,
            created_at: p.created_at,
            events_url: p.events_url,
        }
    }
}

/// Creates a project (policy `choose`, no events URL) on the database at `database_url` and
/// returns its credentials, shown only this once.
pub async fn create_project(
    database_url: &str,
    seal_key: &SealKey,
    name: &str,
    trust_url: &str,
) -> Result<ProjectCredentials, ServiceError> {
    let new = NewProject {
        name,
        trust_url,
        policy: PresencePolicy::default(),
        events_url: None,
    };
    create_project_with(database_url, seal_key, &new).await
}

/// Creates a project as `new` says and returns its credentials, shown only this once.
pub async fn create_project_with(
    database_url: &str,
    seal_key: &SealKey,
    new: &NewProject<'_>,
) -> Result<ProjectCredentials, ServiceError> {
    let store = Store::open(database_url).await?;
    let result = create_project_in(&store, seal_key, new).await;
    store.close().await;
    result
}

pub(crate) async fn create_project_in(
    store: &Store,
    seal_key: &SealKey,
    new: &NewProject<'_>,
) -> Result<ProjectCredentials, ServiceError> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ServiceError::InvalidInput(
            "the project name must be 1 to 100 characters".into(),
        ));
    }
    let trust_url = validate_trust_url(new.trust_url)?;
    let events_url = new.events_url.map(validate_trust_url).transpose()?;
    let project_id = crypto::new_id("prj_")?;
    let api_key = credentials::new_api_key()?;
    let sdk_key = credentials::new_sdk_key()?;
    let (webhook_password, webhook_secret) = new_webhook_secrets()?;
    let (webhook_password_sealed, webhook_secret_sealed) =
        seal_webhook_credentials(seal_key, &project_id, &webhook_password, &webhook_secret)?;
    let api_key_hash = credentials::api_key_hash(api_key.expose())
        .ok_or_else(|| ServiceError::Crypto("a new API key has the wrong shape".into()))?;
    let row = ProjectRow {
        id: project_id.clone(),
        name: name.to_owned(),
        trust_url: trust_url.to_string(),
        api_key_hash,
        sdk_key: sdk_key.clone(),
        webhook_username: project_id.clone(),
        webhook_password_sealed,
        webhook_secret_sealed,
        created_at: crate::now(),
        presence_policy: new.policy.kind.as_str().to_owned(),
        entry_digits: i64::from(new.policy.entry_digits),
        events_url: events_url.map(String::from),
    };
    store.insert_project(&row).await.map_err(ServiceError::db)?;
    tracing::info!(project_id = %project_id, policy = new.policy.kind.as_str(), "created project");
    audit::record(
        store,
        AuditEvent::ProjectCreated {
            project_id: &project_id,
        },
    )
    .await;
    Ok(ProjectCredentials {
        project_id: project_id.clone(),
        api_key,
        sdk_key,
        webhook_username: project_id,
        webhook_password,
        webhook_secret,
    })
}

/// Lists the projects (no secrets), oldest first.
pub async fn list_projects(database_url: &str) -> Result<Vec<ProjectSummary>, ServiceError> {
    let store = Store::open(database_url).await?;
    let rows = store.list_projects().await.map_err(ServiceError::db);
    store.close().await;
    Ok(rows?.into_iter().map(ProjectSummary::from).collect())
}

/// Points a project at a new trust webhook (the site moved). Validated like at creation; takes
/// effect with the next pairing (a running service reads the project on every pairing).
pub async fn set_trust_url(
    database_url: &str,
    project_id: &str,
    trust_url: &str,
) -> Result<ProjectSummary, ServiceError> {
    let url = validate_trust_url(trust_url)?;
    let store = Store::open(database_url).await?;
    let result = async {
        let updated = store
            .update_trust_url(project_id, url.as_str())
            .await
            .map_err(ServiceError::db)?;
        if !updated {
            return Err(ServiceError::UnknownProject(project_id.to_owned()));
        }
        let p = store
            .project_by_id(project_id)
            .await
            .map_err(ServiceError::db)?
            .ok_or_else(|| ServiceError::UnknownProject(project_id.to_owned()))?;
        tracing::info!(project_id = %p.id, trust_url = %p.trust_url, "changed the trust URL");
        Ok(ProjectSummary::from(p))
    }
    .await;
    store.close().await;
    result
}

/// Sets a project's presence policy; takes effect with the next session.
pub async fn set_policy(
    database_url: &str,
    project_id: &str,
    policy: PresencePolicy,
) -> Result<ProjectSummary, ServiceError> {
    update_project(database_url, project_id, |store| async move {
        store
            .update_presence_policy(
                project_id,
                policy.kind.as_str(),
                i64::from(policy.entry_digits),
            )
            .await
    })
    .await
}

/// Sets (or with `None` removes) the URL that receives the project's events, validated like
/// the trust URL; takes effect with the next event.
pub async fn set_events_url(
    database_url: &str,
    project_id: &str,
    events_url: Option<&str>,
) -> Result<ProjectSummary, ServiceError> {
    let url = events_url.map(validate_trust_url).transpose()?;
    let url = url.as_ref().map(url::Url::as_str);
    update_project(database_url, project_id, |store| async move {
        store.update_events_url(project_id, url).await
    })
    .await
}

/// Runs one project UPDATE and returns the project as it is then.
async fn update_project<F, Fut>(
    database_url: &str,
    project_id: &str,
    update: F,
) -> Result<ProjectSummary, ServiceError>
where
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = Result<bool, sqlx::Error>>,
{
    let store = Store::open(database_url).await?;
    let result = async {
        if !update(store.clone()).await.map_err(ServiceError::db)? {
            return Err(ServiceError::UnknownProject(project_id.to_owned()));
        }
        let p = store
            .project_by_id(project_id)
            .await
            .map_err(ServiceError::db)?
            .ok_or_else(|| ServiceError::UnknownProject(project_id.to_owned()))?;
        tracing::info!(project_id = %p.id, "changed the project");
        Ok(ProjectSummary::from(p))
    }
    .await;
    store.close().await;
    result
}

/// Replaces a project's webhook password and signing secret; returns the new ones. The
/// relying party must update its configuration: pairing fails until it does.
pub async fn rotate_webhook_credentials(
    database_url: &str,
    seal_key: &SealKey,
    project_id: &str,
) -> Result<WebhookCredentials, ServiceError> {
    let store = Store::open(database_url).await?;
    let result = rotate_in(&store, seal_key, project_id).await;
    store.close().await;
    result
}

async fn rotate_in(
    store: &Store,
    seal_key: &SealKey,
    project_id: &str,
) -> Result<WebhookCredentials, ServiceError> {
    let project = store
        .project_by_id(project_id)
        .await
        .map_err(ServiceError::db)?
        .ok_or_else(|| ServiceError::UnknownProject(project_id.to_owned()))?;
    // Refuse to rotate under a different seal key than the one the database uses.
    credentials::unseal_webhook_credentials(seal_key, &project)?;
    let (webhook_password, webhook_secret) = new_webhook_secrets()?;
    let (password_sealed, secret_sealed) =
        seal_webhook_credentials(seal_key, &project.id, &webhook_password, &webhook_secret)?;
    let updated = store
        .update_webhook_credentials(&project.id, &password_sealed, &secret_sealed)
        .await
        .map_err(ServiceError::db)?;
    if !updated {
        return Err(ServiceError::UnknownProject(project_id.to_owned()));
    }
    tracing::info!(project_id = %project.id, "rotated webhook credentials");
    audit::record(
        store,
        AuditEvent::WebhookRotated {
            project_id: &project.id,
        },
    )
    .await;
    Ok(WebhookCredentials {
        project_id: project.id,
        webhook_username: project.webhook_username,
        webhook_password,
        webhook_secret,
    })
}

/// A paired device as an operator lists it (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceSummary {
    /// The user it belongs to.
    pub user: String,
    /// What the relying party sees (id, name, platform, times, key protection).
    #[serde(flatten)]
    pub device: tapprove_protocol::api::DeviceView,
}

/// What an operator revocation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevokeSummary {
    /// The project.
    pub project_id: String,
    /// Devices this call revoked (empty when they were revoked before: it is idempotent).
    pub revoked: Vec<String>,
    /// Pending sessions ended (`canceled`, `device_revoked`) because no device was left.
    pub sessions_ended: usize,
}

/// What `tapprove admin device revoke` removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeTarget {
    /// One device (`acc_…`).
    Device(String),
    /// Every device of a user.
    User(String),
}

async fn known_project(store: &Store, project_id: &str) -> Result<(), ServiceError> {
    store
        .project_by_id(project_id)
        .await
        .map_err(ServiceError::db)?
        .map(|_| ())
        .ok_or_else(|| ServiceError::UnknownProject(project_id.to_owned()))
}

/// Lists a project's paired devices (of one user with `user`), by user then age.
pub async fn list_devices(
    database_url: &str,
    project_id: &str,
    user: Option<&str>,
) -> Result<Vec<DeviceSummary>, ServiceError> {
    let store = Store::open(database_url).await?;
    let result = async {
        known_project(&store, project_id).await?;
        let rows = store
            .project_accounts(project_id, user)
            .await
            .map_err(ServiceError::db)?;
        Ok(rows
            .iter()
            .map(|a| DeviceSummary {
                user: a.user_name.clone(),
                device: crate::domain::devices::view(a),
            })
            .collect())
    }
    .await;
    store.close().await;
    result
}

/// Revokes one device or all of a user's (a lost phone). The device's next call gets
/// `403 revoked`; pending sessions left without a device end `canceled`/`device_revoked`.
pub async fn revoke_devices(
    database_url: &str,
    project_id: &str,
    target: RevokeTarget,
) -> Result<RevokeSummary, ServiceError> {
    use crate::domain::devices::{DeviceError, RevokedBy, Target};
    let store = Store::open(database_url).await?;
    let result = async {
        known_project(&store, project_id).await?;
        let target = match target {
            RevokeTarget::Device(id) => Target::Device(id),
            RevokeTarget::User(user) => Target::User(user),
        };
        let (revoked, ended) = crate::domain::devices::revoke_in(
            &store,
            project_id,
            &target,
            RevokedBy::Operator,
            crate::now(),
        )
        .await
        .map_err(|e| match (e, &target) {
            (DeviceError::NotFound, Target::Device(id)) => ServiceError::InvalidInput(format!(
                "project {project_id} has no device {id:?}; list them with \
                             `tapprove admin device list --project {project_id}`"
            )),
            (DeviceError::NotFound, Target::User(_)) => {
                ServiceError::UnknownProject(project_id.to_owned())
            }
            (DeviceError::Database(e), _) => ServiceError::db(e),
        })?;
        // Running instances on PostgreSQL end the devices' event streams and wake the ended
        // sessions' long-polls now, as for a revocation through the API.
        for id in &revoked {
            crate::service::state::publish_from_admin(
                &store,
                crate::domain::bus::BusEvent::Unpaired {
                    account_id: id.clone(),
                },
            )
            .await;
        }
        for (session_id, outcome) in &ended {
            audit::session_decided(&store, session_id, *outcome, true).await;
            let account_ids = store
                .session_accounts(session_id)
                .await
                .map_err(ServiceError::db)?;
            crate::service::state::publish_from_admin(
                &store,
                crate::domain::bus::BusEvent::Decided {
                    session_id: session_id.clone(),
                    outcome: *outcome,
                    account_ids,
                },
            )
            .await;
        }
        Ok(RevokeSummary {
            project_id: project_id.to_owned(),
            revoked,
            sessions_ended: ended.len(),
        })
    }
    .await;
    store.close().await;
    result
}

/// A new API key after a rotation, shown once.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKeyRotation {
    /// Project id.
    pub project_id: String,
    /// The new relying-party API key (secret; only its hash is stored).
    #[serde(serialize_with = "crate::crypto::show_once")]
    pub api_key: SecretString,
    /// When the previous key stops working, Unix seconds (`null`: there was none; now: it was
    /// revoked at once).
    pub old_key_retires_at: Option<i64>,
}

/// Longest grace period for an old API key: 30 days.
pub const MAX_API_KEY_GRACE: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

/// Makes a new API key for the project. The previous key keeps working for `retire_old_after`
/// (zero: it stops at once, for a leak); any key older than that one stops now, so at most two
/// keys work at any time. The new key is returned once; only its hash is stored.
pub async fn rotate_api_key(
    database_url: &str,
    project_id: &str,
    retire_old_after: std::time::Duration,
) -> Result<ApiKeyRotation, ServiceError> {
    if retire_old_after > MAX_API_KEY_GRACE {
        return Err(ServiceError::InvalidInput(
            "the old API key's grace period is at most 30 days (e.g. --retire-old-after 24h)"
                .into(),
        ));
    }
    let store = Store::open(database_url).await?;
    let result = async {
        known_project(&store, project_id).await?;
        let api_key = credentials::new_api_key()?;
        let hash = credentials::api_key_hash(api_key.expose())
            .ok_or_else(|| ServiceError::Crypto("a new API key has the wrong shape".into()))?;
        let now = crate::now();
        let grace = i64::try_from(retire_old_after.as_secs()).unwrap_or(i64::MAX);
        let old_key_retires_at = store
            .rotate_api_key(project_id, &hash, now, now.saturating_add(grace))
            .await
            .map_err(ServiceError::db)?;
        tracing::info!(project_id, ?old_key_retires_at, "rotated the API key");
        let key_id = audit::key_id(&hash);
        let revoked_old = retire_old_after.is_zero();
        audit::record(
            &store,
            AuditEvent::ApiKeyRotated {
                project_id,
                key_id: &key_id,
                revoked_old,
            },
        )
        .await;
        Ok(ApiKeyRotation {
            project_id: project_id.to_owned(),
            api_key,
            old_key_retires_at,
        })
    }
    .await;
    store.close().await;
    result
}

/// Longest grace period for a rotated-out service key: 30 days (devices refuse longer).
pub const MAX_SERVICE_KEY_GRACE: std::time::Duration =
    std::time::Duration::from_secs(crate::domain::service_keys::MAX_GRACE_SECONDS as u64);

/// Makes a new service signing key (docs/PROTOCOL.md §5a). The current key keeps `grace`: until
/// then devices accept it and every device pinned to it gets a key update signed by it (header,
/// pending, event stream). Zero (a suspected leak): it retires now and every device paired
/// before must pair again. Any older key retires now. Running instances pick the new key up
/// within seconds (at once on PostgreSQL); challenges are signed with it from then on.
pub async fn rotate_service_key(
    database_url: &str,
    seal_key: &SealKey,
    grace: std::time::Duration,
) -> Result<KeyRotation, ServiceError> {
    if grace > MAX_SERVICE_KEY_GRACE {
        return Err(ServiceError::InvalidInput(
            "the old service key's grace period is at most 30 days (e.g. --grace 7d)".into(),
        ));
    }
    let store = Store::open(database_url).await?;
    let result = async {
        let grace = i64::try_from(grace.as_secs()).unwrap_or(i64::MAX);
        let rotation = crate::domain::service_keys::rotate(&store, seal_key, grace).await?;
        crate::service::state::publish_from_admin(
            &store,
            crate::domain::bus::BusEvent::ServiceKeyRotated,
        )
        .await;
        audit::record(
            &store,
            AuditEvent::ServiceKeyRotated {
                kid: &rotation.kid,
                immediate: grace == 0,
            },
        )
        .await;
        Ok(rotation)
    }
    .await;
    store.close().await;
    result
}

/// Lists the service keys (public parts, state), oldest first.
pub async fn list_service_keys(database_url: &str) -> Result<Vec<ServiceKeySummary>, ServiceError> {
    let store = Store::open(database_url).await?;
    let result = crate::domain::service_keys::list(&store).await;
    store.close().await;
    result
}
