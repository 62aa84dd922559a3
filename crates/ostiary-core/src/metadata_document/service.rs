//! The clients that metadata documents describe, as the client cache asks for them: served
//! from the store while the fetched copy is fresh, fetched again (once, whatever the number of
//! requests waiting) when it has expired, and refused for a while after a failure.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use time::{Duration, OffsetDateTime};
use url::Url;

use super::fetch::{FetchError, Fetcher};
use super::freshness::{FAILURE_RETRY, freshness};
use super::{DocumentPolicy, document};
use crate::Clock;
use crate::admin::Admin;
use crate::client::{Client, ClientId};
use crate::error::{AdminError, error_chain};
use crate::registration::RegistrationPolicy;
use crate::store::{Store, StoreError};

/// Beyond this many remembered failures, the expired ones are dropped (and, if that is not
/// enough, all of them): bounded memory.
const MAX_FAILURES: usize = 10_000;

/// Metadata document clients: fetched, checked, stored (a client row, so that codes, grants
/// and consents can refer to it) and kept fresh.
///
/// A copy is used until it expires (the `freshness` module: the document's
/// `max-age` within a minute and a day, an hour without one). Then the document is fetched
/// again, and if that fails the client is unknown: the stale copy is not used, since the
/// document may have been withdrawn or changed on purpose (a compromised client, redirect
/// URIs taken back) and a server that cannot check it cannot tell. A failure is remembered
/// for [`FAILURE_RETRY`], so requests naming the client do not each fetch again.
pub struct MetadataDocuments {
    policy: DocumentPolicy,
    registration: RegistrationPolicy,
    fetcher: Fetcher,
    admin: Admin,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// Until when each recently failed id is refused without fetching.
    failures: Mutex<HashMap<ClientId, OffsetDateTime>>,
    /// One lock per id being fetched: requests arriving meanwhile wait for its result.
    in_flight: Mutex<HashMap<ClientId, Arc<tokio::sync::Mutex<()>>>>,
}

/// One lookup's place in `in_flight`: taken on entry, given back when the lookup ends however
/// it ends (a request dropped mid-fetch included), so the map never keeps a lock of a lookup
/// that is gone.
struct InFlight<'a> {
    owner: &'a MetadataDocuments,
    id: &'a ClientId,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl<'a> InFlight<'a> {
    fn enter(owner: &'a MetadataDocuments, id: &'a ClientId) -> Self {
        let lock = Arc::clone(owner.lock_in_flight().entry(id.clone()).or_default());
        Self { owner, id, lock }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut in_flight = self.owner.lock_in_flight();
        // Only this lookup's lock: a later request may have put a new one there already.
        // Lookups still waiting on this one keep their own handle to it.
        if in_flight
            .get(self.id)
            .is_some_and(|lock| Arc::ptr_eq(lock, &self.lock))
        {
            in_flight.remove(self.id);
        }
    }
}

impl std::fmt::Debug for MetadataDocuments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataDocuments")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Why a document was not made a client.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("the document is refused: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl MetadataDocuments {
    /// Documents under `policy`, checked under the registration policy (the scopes and
    /// audiences the operator offers registered clients), stored through `admin` (which
    /// audits `client.created` with actor `metadata_document`).
    pub fn new(
        policy: DocumentPolicy,
        registration: RegistrationPolicy,
        admin: Admin,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, FetchError> {
        Ok(Self {
            fetcher: Fetcher::new(policy.loopback_http)?,
            policy,
            registration,
            admin,
            store,
            clock,
            failures: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    pub fn policy(&self) -> &DocumentPolicy {
        &self.policy
    }

    /// The client `id` names: `None` when its host is not allowed (nothing fetched), or its
    /// document cannot be fetched or is refused. Errors: the store's.
    pub async fn find(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        let Some(url) = self.policy.url_of(id) else {
            return Ok(None);
        };
        if let Some(client) = self.fresh(id).await? {
            return Ok(Some(client));
        }
        if self.failed_recently(id) {
            return Ok(None);
        }
        let flight = InFlight::enter(self, id);
        let _turn = flight.lock.lock().await;
        // Whoever held the lock before may have fetched it, or failed to.
        match self.fresh(id).await {
            Ok(Some(client)) => Ok(Some(client)),
            Ok(None) if self.failed_recently(id) => Ok(None),
            Ok(None) => self.fetch(id, &url).await,
            Err(e) => Err(e),
        }
    }

    /// The stored client, if its copy has not expired.
    async fn fresh(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        match self.store.document_expires_at(id).await? {
            Some(expires_at) if self.clock.now() < expires_at => self.store.find_client(id).await,
            _ => Ok(None),
        }
    }

    async fn fetch(&self, id: &ClientId, url: &Url) -> Result<Option<Client>, StoreError> {
        match self.fetch_and_store(id, url).await {
            Ok(client) => Ok(Some(client)),
            Err(Failure::Store(e)) => Err(e),
            // Our own fetch slots were full: nothing is known about the document, and
            // remembering it would let whoever filled them lock the client out for longer.
            Err(Failure::Fetch(FetchError::Busy)) => {
                tracing::warn!(client_id = %id, "client metadata document not fetched: busy");
                Ok(None)
            }
            Err(failure) => {
                tracing::warn!(client_id = %id, reason = %failure, "client metadata document not usable");
                self.remember_failure(id);
                Ok(None)
            }
        }
    }

    async fn fetch_and_store(&self, id: &ClientId, url: &Url) -> Result<Client, Failure> {
        let fetched = self.fetcher.fetch(url).await?;
        let registration = document::registration(id, &fetched.body, &self.registration)
            .map_err(Failure::Invalid)?;
        let fetched_at = self.clock.now_seconds();
        let fresh_for = Duration::try_from(freshness(fetched.max_age)).unwrap_or(Duration::HOUR);
        self.admin
            .store_document_client(registration, fetched_at, fetched_at + fresh_for)
            .await
            .map_err(|e| match e {
                AdminError::Store(e) => Failure::Store(e),
                other => Failure::Invalid(error_chain(&other)),
            })
    }

    fn failed_recently(&self, id: &ClientId) -> bool {
        let now = self.clock.now();
        self.lock_failures()
            .get(id)
            .is_some_and(|until| now < *until)
    }

    fn remember_failure(&self, id: &ClientId) {
        let now = self.clock.now();
        let mut failures = self.lock_failures();
        if failures.len() >= MAX_FAILURES {
            failures.retain(|_, until| now < *until);
            if failures.len() >= MAX_FAILURES {
                failures.clear();
            }
        }
        let retry = Duration::try_from(FAILURE_RETRY).unwrap_or(Duration::SECOND);
        failures.insert(id.clone(), now + retry);
    }

    /// Lookups holding a place in `in_flight` now (for tests of its bound).
    #[cfg(any(test, feature = "test-support"))]
    pub fn lookups_in_flight(&self) -> usize {
        self.lock_in_flight().len()
    }

    fn lock_failures(&self) -> std::sync::MutexGuard<'_, HashMap<ClientId, OffsetDateTime>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_in_flight(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ClientId, Arc<tokio::sync::Mutex<()>>>> {
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
