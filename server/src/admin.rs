//! Operator actions on the service database (used by `tapprove admin …`): create and list
//! projects, rotate webhook credentials.
//!
//! The credential rules themselves live in `credentials`.

use serde::Serialize;

use crate::credentials::{self, new_webhook_secrets, seal_webhook_credentials};
pub use crate::credentials::{API_KEY_PREFIX, SDK_KEY_PREFIX, WEBHOOK_SECRET_PREFIX};
use crate::crypto::{self, SealKey, SecretString};
use crate::error::ServiceError;
pub use crate::policy::{PolicyKind, PresencePolicy};
use crate::store::{ProjectRow, Store};
pub use crate::webhook::validate_trust_url;

/// Everything a relying party needs, shown once at creation. JSON keys are exactly
/// `project_id, api_key, sdk_key, webhook_username, webhook_password, webhook_secret`.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectCredentials {
    /// Project id (`prj_…`).
    pub project_id: String,
    /// The relying-party API key (secret; only its hash is stored).
    pub api_key: SecretString,
    /// The SDK key apps ship with (public).
    pub sdk_key: String,
    /// HTTP Basic user name the service uses on the trust webhook.
    pub webhook_username: String,
    /// HTTP Basic password the service uses on the trust webhook (secret).
    pub webhook_password: SecretString,
    /// Standard Webhooks signing secret, `whsec_<base64 key>` (secret).
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
    pub webhook_password: SecretString,
    /// The new signing secret.
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
    Ok(WebhookCredentials {
        project_id: project.id,
        webhook_username: project.webhook_username,
        webhook_password,
        webhook_secret,
    })
}
