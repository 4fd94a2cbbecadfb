//! Operator actions on the service database (used by `tapprove admin …`): create and list
//! projects, rotate webhook credentials.
//!
//! Keys: the API key (`tap_api_` + 43 base64url chars, 256 bits) is stored only as a SHA-256
//! hash and shown once; the SDK key (`tap_sdk_` + 22 chars) is a public identifier; the webhook
//! password and HMAC secret are stored sealed (AES-256-GCM under the seal key) because the
//! service must use them.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::config::SealKey;
use crate::crypto::{self, SecretString};
use crate::error::ServiceError;
use crate::store::{ProjectRow, Store};

/// Prefix of API keys.
pub const API_KEY_PREFIX: &str = "tap_api_";
/// Prefix of SDK keys.
pub const SDK_KEY_PREFIX: &str = "tap_sdk_";
/// Prefix of webhook signing secrets (Standard Webhooks convention: the rest is base64 of the
/// HMAC key bytes).
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";

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
}

/// Checks a trust URL: absolute http(s), https unless the host is loopback.
pub fn validate_trust_url(trust_url: &str) -> Result<url::Url, ServiceError> {
    let bad = |reason: &str| ServiceError::InvalidTrustUrl {
        url: trust_url.to_owned(),
        reason: reason.to_owned(),
    };
    let url = url::Url::parse(trust_url).map_err(|e| {
        bad(&format!(
            "{e}; give an absolute URL like https://example.com/users/trust"
        ))
    })?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&url) => {}
        "http" => {
            return Err(bad(
                "plain http is only allowed for loopback hosts; use https",
            ));
        }
        _ => return Err(bad("the scheme must be https")),
    }
    if url.host().is_none() {
        return Err(bad("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "do not put credentials in the URL; the service sends its own Basic auth",
        ));
    }
    Ok(url)
}

/// Whether the URL's host is `localhost` or a loopback IP.
pub(crate) fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

fn new_webhook_secrets() -> Result<(SecretString, SecretString), ServiceError> {
    let password = SecretString::new(crypto::random_b64url(24)?);
    let mut key = Zeroizing::new([0u8; 32]);
    crypto::fill_random(key.as_mut_slice())?;
    let secret = SecretString::new(format!(
        "{WEBHOOK_SECRET_PREFIX}{}",
        STANDARD.encode(key.as_slice())
    ));
    Ok((password, secret))
}

pub(crate) fn password_aad(project_id: &str) -> String {
    format!("webhook_password:{project_id}")
}

pub(crate) fn secret_aad(project_id: &str) -> String {
    format!("webhook_secret:{project_id}")
}

/// Creates a project on the database at `database_url` and returns its credentials, shown
/// only this once.
pub async fn create_project(
    database_url: &str,
    seal_key: &SealKey,
    name: &str,
    trust_url: &str,
) -> Result<ProjectCredentials, ServiceError> {
    let store = Store::open(database_url).await?;
    let result = create_project_in(&store, seal_key, name, trust_url).await;
    store.close().await;
    result
}

pub(crate) async fn create_project_in(
    store: &Store,
    seal_key: &SealKey,
    name: &str,
    trust_url: &str,
) -> Result<ProjectCredentials, ServiceError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ServiceError::InvalidInput(
            "the project name must be 1 to 100 characters".into(),
        ));
    }
    let trust_url = validate_trust_url(trust_url)?;
    let project_id = crypto::new_id("prj_")?;
    let api_key = SecretString::new(format!("{API_KEY_PREFIX}{}", crypto::random_b64url(32)?));
    let sdk_key = format!("{SDK_KEY_PREFIX}{}", crypto::random_b64url(16)?);
    let (webhook_password, webhook_secret) = new_webhook_secrets()?;
    let row = ProjectRow {
        id: project_id.clone(),
        name: name.to_owned(),
        trust_url: trust_url.to_string(),
        api_key_hash: crypto::sha256_hex(api_key.expose().as_bytes()),
        sdk_key: sdk_key.clone(),
        webhook_username: project_id.clone(),
        webhook_password_sealed: crypto::seal(
            seal_key,
            &password_aad(&project_id),
            webhook_password.expose().as_bytes(),
        )?,
        webhook_secret_sealed: crypto::seal(
            seal_key,
            &secret_aad(&project_id),
            webhook_secret.expose().as_bytes(),
        )?,
        created_at: crate::now(),
    };
    store.insert_project(&row).await.map_err(ServiceError::db)?;
    tracing::info!(project_id = %project_id, "created project");
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
    Ok(rows?
        .into_iter()
        .map(|p| ProjectSummary {
            project_id: p.id,
            name: p.name,
            trust_url: p.trust_url,
            sdk_key: p.sdk_key,
            webhook_username: p.webhook_username,
            created_at: p.created_at,
        })
        .collect())
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
        Ok(ProjectSummary {
            project_id: p.id,
            name: p.name,
            trust_url: p.trust_url,
            sdk_key: p.sdk_key,
            webhook_username: p.webhook_username,
            created_at: p.created_at,
        })
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
    crypto::unseal(
        seal_key,
        &password_aad(&project.id),
        &project.webhook_password_sealed,
    )?;
    let (webhook_password, webhook_secret) = new_webhook_secrets()?;
    let updated = store
        .update_webhook_credentials(
            &project.id,
            &crypto::seal(
                seal_key,
                &password_aad(&project.id),
                webhook_password.expose().as_bytes(),
            )?,
            &crypto::seal(
                seal_key,
                &secret_aad(&project.id),
                webhook_secret.expose().as_bytes(),
            )?,
        )
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

/// The webhook credentials of a project, unsealed (for calling its trust webhook).
pub(crate) fn unseal_webhook_credentials(
    seal_key: &SealKey,
    project: &ProjectRow,
) -> Result<(SecretString, SecretString), ServiceError> {
    let password = crypto::unseal(
        seal_key,
        &password_aad(&project.id),
        &project.webhook_password_sealed,
    )?;
    let secret = crypto::unseal(
        seal_key,
        &secret_aad(&project.id),
        &project.webhook_secret_sealed,
    )?;
    let text = |b: &[u8]| {
        String::from_utf8(b.to_vec())
            .map(SecretString::new)
            .map_err(|_| ServiceError::Database("a sealed webhook credential is not UTF-8".into()))
    };
    Ok((text(&password)?, text(&secret)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_urls() {
        assert!(validate_trust_url("https://bank.example/users/trust").is_ok());
        assert!(validate_trust_url("http://127.0.0.1:3000/users/trust").is_ok());
        assert!(validate_trust_url("http://localhost/users/trust").is_ok());
        assert!(validate_trust_url("http://[::1]:9/x").is_ok());
        let e = validate_trust_url("http://bank.example/users/trust").expect_err("http");
        assert!(e.to_string().contains("https"), "{e}");
        assert!(validate_trust_url("ftp://x/y").is_err());
        assert!(validate_trust_url("/users/trust").is_err());
        assert!(validate_trust_url("https://u:p@bank.example/").is_err());
    }
}
