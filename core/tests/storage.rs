//! Storage trouble never stops the authenticator: a record the store cannot read (a backup
//! restore without the key that unlocks the store) or a damaged one is reported as needing
//! re-pairing and can be removed, while the other accounts keep working. Pairing runs over
//! loopback HTTP against the protocol stub in `support/`.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use support::{PAIRING_CODE, Stub};
use tapprove_core::*;

/// A store over a [`MemoryStore`] whose `get` fails for chosen keys, and whose `list_keys`
/// can fail altogether.
#[derive(Default)]
struct FlakyStore {
    inner: MemoryStore,
    unreadable: Mutex<HashSet<String>>,
    list_fails: Mutex<bool>,
}

impl SecureStore for FlakyStore {
    fn get(&self, key: &str) -> Result<Option<SecretBytes>, StoreError> {
        if self.unreadable.lock().unwrap().contains(key) {
            return Err(StoreError::Backend {
                message: "the Keystore key that sealed this value is gone".into(),
            });
        }
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: SecretBytes) -> Result<(), StoreError> {
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key)
    }
    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        if *self.list_fails.lock().unwrap() {
            return Err(StoreError::Backend {
                message: "the preferences file cannot be opened".into(),
            });
        }
        self.inner.list_keys(prefix)
    }
}

fn authenticator(stub: &Stub, store: &Arc<FlakyStore>) -> Result<Authenticator, CoreError> {
    let signer = Arc::new(SoftwareSigner::new(store.clone()));
    Authenticator::new(stub.config(), store.clone(), signer)
}

#[tokio::test]
async fn an_unreadable_record_is_reported_and_the_others_keep_working() {
    let stub = Stub::start().await;
    let store = Arc::new(FlakyStore::default());
    let first = authenticator(&stub, &store).unwrap();
    let alice = first.pair("alice", PAIRING_CODE, None).await.unwrap();
    let bob = first.pair("bob", PAIRING_CODE, None).await.unwrap();
    store
        .inner
        .set("account/acc_damaged", SecretBytes::from_slice(b"{not json"))
        .unwrap();
    drop(first);

    // The restore: bob's record comes back, the key that unlocks it does not.
    store
        .unreadable
        .lock()
        .unwrap()
        .insert(format!("account/{}", bob.id));
    let auth = authenticator(&stub, &store).expect("storage trouble must not stop the app");
    let ids: Vec<_> = auth.accounts().unwrap().into_iter().map(|a| a.id).collect();
    assert_eq!(ids, vec![alice.id.clone()]);
    let mut broken = auth.accounts_needing_repair();
    broken.sort_by(|a, b| a.account_id.cmp(&b.account_id));
    let mut expected = vec![
        AccountNeedingRepair {
            account_id: bob.id.clone(),
            cause: RepairCause::Unreadable,
        },
        AccountNeedingRepair {
            account_id: "acc_damaged".into(),
            cause: RepairCause::Corrupt,
        },
    ];
    expected.sort_by(|a, b| a.account_id.cmp(&b.account_id));
    assert_eq!(broken, expected);

    // The readable account still answers.
    let (session, _, code) = stub.create_session(&alice.id, PresenceMode::Choose, 120);
    let request = auth.pending(Some(&alice.id)).await.unwrap().remove(0);
    assert_eq!(request.id, session);
    let outcome = auth
        .respond(
            &session,
            Decision::Approve {
                presence_answer: code,
            },
        )
        .await
        .unwrap();
    assert!(outcome.is_accepted());

    // Removing them: forget (local only), or unpair, which cannot tell the service.
    auth.forget_account(&bob.id).unwrap();
    assert!(matches!(
        auth.unpair("acc_damaged").await,
        Err(CoreError::UnpairedLocallyOnly { .. })
    ));
    assert!(auth.accounts_needing_repair().is_empty());
    assert_eq!(
        store.inner.list_keys("account/").unwrap(),
        vec![format!("account/{}", alice.id)]
    );
    auth.accounts().unwrap();
    assert!(auth.accounts_needing_repair().is_empty(), "gone for good");
}

#[tokio::test]
async fn a_store_that_cannot_be_listed_does_not_stop_construction() {
    let stub = Stub::start().await;
    let store = Arc::new(FlakyStore::default());
    *store.list_fails.lock().unwrap() = true;
    let auth = authenticator(&stub, &store).expect("construction never fails for storage");
    // The call that needs the list says why.
    assert!(matches!(auth.accounts(), Err(CoreError::Storage(_))));
    *store.list_fails.lock().unwrap() = false;
    assert!(auth.accounts().unwrap().is_empty());
}
