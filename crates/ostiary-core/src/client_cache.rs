//! A short-lived, per-instance cache of client records for the authentication hot path.
//!
//! Every token request authenticates its client; reading the record from the database each
//! time costs more than signing the token. Entries live `ttl`, so a deleted client or a
//! rotated secret stops working on every instance within that time; where the database
//! announces changes, the server also drops a changed client's copy at once (`forget`).
//! Misses are never cached: a new client works at once, and unknown ids cannot fill the cache.
//!
//! A miss on a URL id goes to the metadata documents (when offered) instead of the store:
//! a hit costs the same for every client, and ordinary ids never pay for documents.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::sync::Cache;

use crate::client::{Client, ClientId};
use crate::metadata_document::MetadataDocuments;
use crate::store::{ClientStore, StoreError};

/// The most clients kept in memory (bounded memory whatever ids arrive); past it, the least
/// used are evicted first.
const MAX_ENTRIES: u64 = 10_000;

pub struct ClientCache {
    store: Arc<dyn ClientStore>,
    ttl: Duration,
    /// Each record with when its read began; `None` when `ttl` is zero.
    entries: Option<Cache<ClientId, (Arc<Client>, Instant)>>,
    /// Where URL ids are looked up; `None`: they are unknown clients.
    documents: Option<Arc<MetadataDocuments>>,
    /// Rises with every `forget`: a read that began before a change was announced may
    /// return the record as it was, and is then not kept.
    forgotten: AtomicU64,
    /// False while changes are not being announced to this instance (its listener is down
    /// or not yet connected): records are then kept [`UNANNOUNCED_MAX_AGE`] at most.
    announced: AtomicBool,
}

/// The longest a record is kept while changes are not announced: a deleted client or a
/// rotated secret stops working within this time, as with no announcements at all.
pub const UNANNOUNCED_MAX_AGE: Duration = Duration::from_secs(1);

impl std::fmt::Debug for ClientCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl ClientCache {
    /// `ttl` zero reads the database on every lookup.
    pub fn new(store: Arc<dyn ClientStore>, ttl: Duration) -> Self {
        let entries = (!ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(MAX_ENTRIES)
                .time_to_live(ttl)
                .build()
        });
        Self {
            store,
            ttl,
            entries,
            documents: None,
            forgotten: AtomicU64::new(0),
            announced: AtomicBool::new(true),
        }
    }

    /// URL ids name metadata documents, looked up in `documents`.
    pub fn with_metadata_documents(mut self, documents: Arc<MetadataDocuments>) -> Self {
        self.documents = Some(documents);
        self
    }

    /// Drops the copy of client `id` (it changed: another instance or the CLI said so).
    pub fn forget(&self, id: &ClientId) {
        self.forgotten.fetch_add(1, Ordering::SeqCst);
        if let Some(entries) = &self.entries {
            entries.invalidate(id);
        }
    }

    /// Whether changes to clients are announced to this instance now. Records are kept for
    /// the cache's time when they are, for [`UNANNOUNCED_MAX_AGE`] at most when not (the
    /// default is announced: a store without announcements has no follower to say so, and its
    /// cache time is chosen for that).
    pub fn set_announced(&self, announced: bool) {
        self.announced.store(announced, Ordering::SeqCst);
    }

    /// How long a record read now may be served.
    fn max_age(&self) -> Duration {
        if self.announced.load(Ordering::Relaxed) {
            self.ttl
        } else {
            self.ttl.min(UNANNOUNCED_MAX_AGE)
        }
    }

    /// Drops every copy (changes may have been missed).
    pub fn forget_all(&self) {
        self.forgotten.fetch_add(1, Ordering::SeqCst);
        if let Some(entries) = &self.entries {
            entries.invalidate_all();
        }
    }

    pub async fn find(&self, id: &ClientId) -> Result<Option<Arc<Client>>, StoreError> {
        // The cache's own expiry counts from the insert; the read began earlier, and a
        // record read just before a change must not outlive the ttl measured from it.
        if let Some((client, read_at)) = self.entries.as_ref().and_then(|e| e.get(id))
            && read_at.elapsed() < self.max_age()
        {
            return Ok(Some(client));
        }
        let read_at = Instant::now();
        let generation = self.forgotten.load(Ordering::SeqCst);
        let found = if id.is_metadata_document() {
            match &self.documents {
                Some(documents) => documents.find(id).await?,
                None => None,
            }
        } else {
            self.store.find_client(id).await?
        };
        let Some(client) = found else {
            if let Some(entries) = &self.entries {
                entries.invalidate(id);
            }
            return Ok(None);
        };
        let client = Arc::new(client);
        if let Some(entries) = &self.entries
            && self.forgotten.load(Ordering::SeqCst) == generation
        {
            entries.insert(id.clone(), (Arc::clone(&client), read_at));
            // A `forget` between the check and the insert would miss the new entry: look
            // again, now that it is in.
            if self.forgotten.load(Ordering::SeqCst) != generation {
                entries.invalidate(id);
            }
        }
        Ok(Some(client))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::SystemClock;
    use crate::admin::register_client;
    use crate::client::ClientRegistration;
    use crate::secret::SecretHash;

    #[derive(Default)]
    struct CountingStore {
        clients: Mutex<Vec<Client>>,
        reads: AtomicUsize,
    }

    #[async_trait]
    impl ClientStore for CountingStore {
        async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
            self.clients.lock().unwrap().push(client.clone());
            Ok(())
        }
        async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(self
                .clients
                .lock()
                .unwrap()
                .iter()
                .find(|c| &c.id == id)
                .cloned())
        }
        async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
            Ok(self.clients.lock().unwrap().clone())
        }
        async fn delete_client(&self, id: &ClientId) -> Result<bool, StoreError> {
            let mut clients = self.clients.lock().unwrap();
            let before = clients.len();
            clients.retain(|c| &c.id != id);
            Ok(clients.len() < before)
        }
        async fn update_client_secret(
            &self,
            _: &ClientId,
            _: &SecretHash,
            _: Option<time::OffsetDateTime>,
        ) -> Result<bool, StoreError> {
            Ok(false)
        }
        async fn update_client_settings(
            &self,
            _: &Client,
            _: Option<time::OffsetDateTime>,
        ) -> Result<bool, StoreError> {
            Ok(false)
        }
    }

    async fn setup(ttl: Duration) -> (Arc<CountingStore>, ClientCache, ClientId) {
        let store = Arc::new(CountingStore::default());
        let registration = ClientRegistration {
            name: "svc".into(),
            client_id: Some(ClientId::parse("svc").unwrap()),
            ..ClientRegistration::default()
        };
        register_client(&*store, &SystemClock, registration)
            .await
            .unwrap();
        let cache = ClientCache::new(store.clone(), ttl);
        (store, cache, ClientId::parse("svc").unwrap())
    }

    #[tokio::test]
    async fn a_forgotten_record_is_read_again_and_unannounced_ones_are_kept_briefly() {
        let (store, cache, id) = setup(Duration::from_secs(30)).await;
        let reads = || store.reads.load(Ordering::SeqCst);
        cache.find(&id).await.unwrap();
        cache.forget(&id);
        cache.find(&id).await.unwrap();
        assert_eq!(reads(), 2, "a forgotten record is read again");
        cache.set_announced(false);
        cache.find(&id).await.unwrap();
        assert_eq!(reads(), 2, "kept within a second");
        tokio::time::sleep(UNANNOUNCED_MAX_AGE + Duration::from_millis(100)).await;
        cache.find(&id).await.unwrap();
        assert_eq!(reads(), 3, "unannounced: read again after a second");
        cache.set_announced(true);
        tokio::time::sleep(UNANNOUNCED_MAX_AGE + Duration::from_millis(100)).await;
        cache.find(&id).await.unwrap();
        assert_eq!(reads(), 3, "announced again: kept for the cache's time");
    }

    #[tokio::test]
    async fn hits_are_served_from_memory_within_the_ttl() {
        let (store, cache, id) = setup(Duration::from_secs(60)).await;
        for _ in 0..5 {
            assert!(cache.find(&id).await.unwrap().is_some());
        }
        assert_eq!(store.reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn expired_entries_and_deleted_clients_are_reread() {
        let (store, cache, id) = setup(Duration::from_millis(20)).await;
        assert!(cache.find(&id).await.unwrap().is_some());
        store.delete_client(&id).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(
            cache.find(&id).await.unwrap().is_none(),
            "deletion seen after the ttl"
        );
    }

    #[tokio::test]
    async fn zero_ttl_and_misses_always_read_the_store() {
        let (store, cache, id) = setup(Duration::ZERO).await;
        cache.find(&id).await.unwrap();
        cache.find(&id).await.unwrap();
        assert_eq!(store.reads.load(Ordering::SeqCst), 2);
        let (store, cache, _) = setup(Duration::from_secs(60)).await;
        let ghost = ClientId::parse("ghost").unwrap();
        cache.find(&ghost).await.unwrap();
        cache.find(&ghost).await.unwrap();
        assert_eq!(
            store.reads.load(Ordering::SeqCst),
            2,
            "misses are not cached"
        );
    }
}
