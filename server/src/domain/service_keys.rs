//! The service's signing keys (docs/PROTOCOL.md §5a): the key that signs challenges, the key
//! in its grace period with the key update it signed, rotating, and which update each device
//! gets.
//!
//! Every instance reads the keys from the database, the one source of truth shared by all
//! instances: a read is reused for at most [`REFRESH`], the sweep re-reads them when that has
//! passed, and on PostgreSQL a rotation's NOTIFY makes every instance re-read at once. So an
//! instance signs with a rotated-out key for at most [`REFRESH`] plus one sweep interval (on
//! PostgreSQL, the NOTIFY's delay) — harmless during a grace period, when devices still accept
//! it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tapprove_protocol::{Es256Signer as _, KeyUpdate, PROTOCOL_VERSION, PublicKey, SoftwareKey};
use tokio::sync::watch;

use crate::crypto::{self, SealKey};
use crate::error::ServiceError;
use crate::store::{Rotation, ServiceKeyRow, Store};

/// Longest time an instance reuses its read of the keys.
pub(crate) const REFRESH: Duration = Duration::from_secs(5);

/// Longest grace period (the protocol's limit: devices refuse a longer one).
pub(crate) const MAX_GRACE_SECONDS: i64 = tapprove_protocol::key_update::MAX_GRACE_SECONDS;

/// The key that signs challenges now.
pub(crate) struct SigningKey {
    pub kid: String,
    pub key: SoftwareKey,
    pub public: PublicKey,
}

/// A rotated-out key still in its grace period.
#[derive(Debug, Clone)]
pub(crate) struct RetiringKey {
    pub kid: String,
    pub public: PublicKey,
    pub retires_at: i64,
    /// Signed by this key, naming the signing key.
    pub key_update: String,
}

/// The keys as one instance last read them.
pub(crate) struct KeySet {
    pub signing: Arc<SigningKey>,
    pub retiring: Vec<RetiringKey>,
}

impl KeySet {
    /// The key update for a device pinned to `service_kid` at `now`: its key is in its grace
    /// period. `None` for a device on the signing key, or whose key retired (it must re-pair).
    pub(crate) fn update_for(&self, service_kid: Option<&str>, now: i64) -> Option<&str> {
        let kid = service_kid?;
        if kid == self.signing.kid {
            return None;
        }
        self.retiring
            .iter()
            .find(|r| r.kid == kid && r.retires_at > now)
            .map(|r| r.key_update.as_str())
    }

    /// The key (kid, public key) a device pinned to `service_kid` pins: that key while it is
    /// in its grace period, else the signing key.
    pub(crate) fn pinned(&self, service_kid: Option<&str>, now: i64) -> (&str, &PublicKey) {
        match self
            .retiring
            .iter()
            .find(|r| Some(r.kid.as_str()) == service_kid && r.retires_at > now)
        {
            Some(r) => (&r.kid, &r.public),
            None => (&self.signing.kid, &self.signing.public),
        }
    }

    fn same_keys(&self, other: &KeySet) -> bool {
        self.signing.kid == other.signing.kid
            && self
                .retiring
                .iter()
                .map(|r| (&r.kid, r.retires_at))
                .eq(other.retiring.iter().map(|r| (&r.kid, r.retires_at)))
    }
}

/// One instance's view of the keys; event streams watch it to announce a rotation.
pub(crate) struct ServiceKeys {
    current: watch::Sender<Arc<KeySet>>,
    loaded_at: Mutex<Instant>,
    /// One re-read at a time; the others use its result.
    reading: tokio::sync::Mutex<()>,
}

impl ServiceKeys {
    /// Reads the keys, creating the first signing key on a new database.
    pub(crate) async fn open(store: &Store, seal_key: &SealKey) -> Result<Self, ServiceError> {
        if store
            .service_key()
            .await
            .map_err(ServiceError::db)?
            .is_none()
        {
            let key = SoftwareKey::generate().map_err(|e| ServiceError::Crypto(e.to_string()))?;
            let (kid, public, sealed) = seal_new(seal_key, &key)?;
            store
                .insert_service_key(&kid, &public, &sealed)
                .await
                .map_err(ServiceError::db)?;
            tracing::info!(kid = %kid, "generated the service signing key");
        }
        // Re-read: if two processes raced on first start, both use the one stored first.
        let set = read(store, seal_key, None).await?;
        Ok(Self {
            current: watch::Sender::new(Arc::new(set)),
            loaded_at: Mutex::new(Instant::now()),
            reading: tokio::sync::Mutex::new(()),
        })
    }

    /// The keys as last read (no database access): for a first look.
    pub(crate) fn cached(&self) -> Arc<KeySet> {
        self.current.borrow().clone()
    }

    /// Follows re-reads that changed the keys (event streams announce a rotation).
    pub(crate) fn watch(&self) -> watch::Receiver<Arc<KeySet>> {
        self.current.subscribe()
    }

    fn fresh(&self) -> bool {
        self.loaded_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
            < REFRESH
    }

    /// The keys, re-read when the last read is older than [`REFRESH`] (or always, `force`).
    pub(crate) async fn current(
        &self,
        store: &Store,
        seal_key: &SealKey,
        force: bool,
    ) -> Result<Arc<KeySet>, ServiceError> {
        if !force && self.fresh() {
            return Ok(self.cached());
        }
        let _one = self.reading.lock().await;
        if !force && self.fresh() {
            return Ok(self.cached());
        }
        let set = Arc::new(read(store, seal_key, Some(&self.cached())).await?);
        *self.loaded_at.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.current.send_if_modified(|cur| {
            let changed = !cur.same_keys(&set);
            if changed {
                tracing::info!(kid = %set.signing.kid, "the service signing key changed");
            }
            *cur = Arc::clone(&set);
            changed
        });
        Ok(set)
    }
}

fn seal_new(
    seal_key: &SealKey,
    key: &SoftwareKey,
) -> Result<(String, String, String), ServiceError> {
    let public = key.public_key();
    let kid = public.key_id();
    let sealed = crypto::seal(
        seal_key,
        &format!("service_key:{kid}"),
        key.secret_pkcs8_der(),
    )?;
    Ok((kid, public.to_base64url(), sealed))
}

fn unseal(seal_key: &SealKey, row: &ServiceKeyRow) -> Result<SoftwareKey, ServiceError> {
    let der = crypto::unseal(
        seal_key,
        &format!("service_key:{}", row.kid),
        &row.sealed_pkcs8,
    )?;
    SoftwareKey::from_pkcs8(&der).map_err(|e| ServiceError::Crypto(e.to_string()))
}

fn public_of(row: &ServiceKeyRow) -> Result<PublicKey, ServiceError> {
    PublicKey::from_base64url(&row.public_key).map_err(|e| {
        ServiceError::Crypto(format!("stored service key {} is invalid: {e}", row.kid))
    })
}

/// Reads the signing key (unsealed only when it changed since `previous`) and the keys in
/// their grace period.
async fn read(
    store: &Store,
    seal_key: &SealKey,
    previous: Option<&Arc<KeySet>>,
) -> Result<KeySet, ServiceError> {
    let now = crate::now();
    let rows = store
        .live_service_keys(now)
        .await
        .map_err(ServiceError::db)?;
    let row = rows
        .iter()
        .find(|r| r.retires_at.is_none())
        .ok_or_else(|| {
            ServiceError::Database("the database holds no service signing key".into())
        })?;
    let signing = match previous {
        Some(p) if p.signing.kid == row.kid => Arc::clone(&p.signing),
        _ => {
            let key = unseal(seal_key, row)?;
            let public = key.public_key();
            Arc::new(SigningKey {
                kid: row.kid.clone(),
                key,
                public,
            })
        }
    };
    let mut retiring = Vec::new();
    for r in &rows {
        if let (Some(retires_at), Some(key_update)) = (r.retires_at, &r.key_update) {
            retiring.push(RetiringKey {
                kid: r.kid.clone(),
                public: public_of(r)?,
                retires_at,
                key_update: key_update.clone(),
            });
        }
    }
    Ok(KeySet { signing, retiring })
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyRotation {
    /// The new signing key's id.
    pub kid: String,
    /// The new signing key (base64url SEC1 P-256), as devices will pin it.
    pub public_key: String,
    /// The key it replaces.
    pub old_kid: String,
    /// Until when (Unix seconds) devices accept the old key and the service sends them the
    /// key update; equal to the rotation time for `--grace 0`.
    pub old_key_valid_until: i64,
}

/// Makes a new signing key, sealed like the first: the current one keeps `grace_seconds` (0
/// to 30 days) during which devices pinned to it get a key update it signed; any older key
/// retires now.
pub(crate) async fn rotate(
    store: &Store,
    seal_key: &SealKey,
    grace_seconds: i64,
) -> Result<KeyRotation, ServiceError> {
    if !(0..=MAX_GRACE_SECONDS).contains(&grace_seconds) {
        return Err(ServiceError::InvalidInput(
            "the old service key's grace period is 0 to 30 days (e.g. --grace 7d)".into(),
        ));
    }
    let old = store
        .service_keys()
        .await
        .map_err(ServiceError::db)?
        .into_iter()
        .find(|r| r.retires_at.is_none())
        .ok_or_else(|| {
            ServiceError::InvalidInput(
                "this database has no service key yet: start `tapprove serve` once first".into(),
            )
        })?;
    let old_key = unseal(seal_key, &old)?;
    let new_key = SoftwareKey::generate().map_err(|e| ServiceError::Crypto(e.to_string()))?;
    let (new_kid, new_public, new_sealed) = seal_new(seal_key, &new_key)?;
    let now = crate::now();
    let old_key_valid_until = now + grace_seconds;
    let token = KeyUpdate {
        ver: PROTOCOL_VERSION,
        new_key: new_key.public_key(),
        old_key_valid_until,
        iat: now,
    }
    .sign(&old_key)
    .map_err(|e| ServiceError::Crypto(e.to_string()))?;
    let won = store
        .rotate_service_key(&Rotation {
            old_kid: &old.kid,
            old_retires_at: old_key_valid_until,
            key_update: &token,
            new_kid: &new_kid,
            new_public_key: &new_public,
            new_sealed_pkcs8: &new_sealed,
            now,
        })
        .await
        .map_err(ServiceError::db)?;
    if !won {
        return Err(ServiceError::InvalidInput(
            "another rotation of the service key finished at the same time; list the keys \
             (`tapprove admin service-key list`) before rotating again"
                .into(),
        ));
    }
    tracing::info!(kid = %new_kid, old_kid = %old.kid, old_key_valid_until, "rotated the service signing key");
    Ok(KeyRotation {
        kid: new_kid,
        public_key: new_public,
        old_kid: old.kid,
        old_key_valid_until,
    })
}

/// A service key as an operator lists it (public parts only).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServiceKeySummary {
    /// Key id (what challenges name in `kid`).
    pub kid: String,
    /// The public key, base64url SEC1 P-256.
    pub public_key: String,
    /// When it was made, Unix seconds.
    pub created_at: i64,
    /// `signing` (signs challenges), `grace` (rotated out, still accepted and announcing its
    /// successor until `retires_at`), `retired`, or `unused` (lost a first-start race).
    pub state: &'static str,
    /// End of its grace period (`null` for the signing key).
    pub retires_at: Option<i64>,
}

/// Every key, oldest first.
pub(crate) async fn list(store: &Store) -> Result<Vec<ServiceKeySummary>, ServiceError> {
    let now = crate::now();
    let rows = store.service_keys().await.map_err(ServiceError::db)?;
    let mut signing_seen = false;
    Ok(rows
        .into_iter()
        .map(|r| ServiceKeySummary {
            state: match r.retires_at {
                // The oldest unretired key signs; a later one lost a first-start race.
                None if !signing_seen => {
                    signing_seen = true;
                    "signing"
                }
                None => "unused",
                Some(t) if t > now && r.key_update.is_some() => "grace",
                Some(_) => "retired",
            },
            kid: r.kid,
            public_key: r.public_key,
            created_at: r.created_at,
            retires_at: r.retires_at,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(retires_at: i64) -> KeySet {
        let key = SoftwareKey::generate().expect("key");
        let public = key.public_key();
        let old = SoftwareKey::generate().expect("key").public_key();
        KeySet {
            signing: Arc::new(SigningKey {
                kid: public.key_id(),
                key,
                public,
            }),
            retiring: vec![RetiringKey {
                kid: old.key_id(),
                public: old,
                retires_at,
                key_update: "update-token".into(),
            }],
        }
    }

    #[test]
    fn only_devices_on_the_key_in_its_grace_period_get_the_update() {
        let keys = set(1_000);
        let old = keys.retiring[0].kid.clone();
        let signing = keys.signing.kid.clone();
        assert_eq!(keys.update_for(Some(&old), 999), Some("update-token"));
        assert_eq!(keys.update_for(Some(&old), 1_000), None, "grace over");
        assert_eq!(keys.update_for(Some(&signing), 999), None);
        assert_eq!(keys.update_for(Some("unknown"), 999), None);
        assert_eq!(keys.update_for(None, 999), None);
        // A repeated pairing answers with the key the account pins while it is valid.
        assert_eq!(keys.pinned(Some(&old), 999).0, old);
        assert_eq!(keys.pinned(Some(&old), 1_000).0, signing);
        assert_eq!(keys.pinned(None, 999).0, signing);
        assert!(keys.same_keys(&keys));
        assert!(!keys.same_keys(&set(1_000)));
    }
}
