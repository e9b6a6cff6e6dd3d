//! The trusted key set at run time: pinned, cached, refreshed carefully.
//!
//! * Keys come from a source fixed by configuration: the environment's JWKS URL (from discovery) or
//!   pinned certificates / a JWKS file. A token never names where keys come from.
//! * Last-known-good: when a refresh fails, the keys we had stay in use and the failure is logged
//!   (`jwks_refresh_failed`) and counted ([`crate::metrics::JWKS_LAST_KNOWN_GOOD`], which raises an
//!   alarm), so a JWKS outage does not become a sign-in outage and does not go unnoticed either. A JWKS source may be
//!   *seeded* with the environment's pinned certificate, which then serves until the first successful
//!   fetch replaces it.
//! * An unknown `kid` may trigger a refresh, but at most one per `min_refresh_interval`, and
//!   concurrent callers share one fetch (single-flight). A thousand forged `kid`s cost SuperOffice at
//!   most one request.
//! * A successful fetch *replaces* the set: a key removed from the JWKS stops being trusted.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use url::Url;

use crate::clock::Clock;
use crate::keys::{KeyError, KeySet, SkippedKey};
use crate::metrics::{EmfStdout, JWKS_LAST_KNOWN_GOOD, Metrics};
use crate::transport::{HttpRequest, Transport, TransportError};

#[derive(Debug, Clone)]
pub struct KeyStoreSettings {
    /// At most one fetch per this interval, whatever triggers it.
    pub min_refresh_interval: Duration,
    /// Keys older than this are refreshed on the next use (failures keep the old ones).
    pub max_age: Duration,
    pub fetch_timeout: Duration,
}

impl Default for KeyStoreSettings {
    fn default() -> Self {
        Self {
            min_refresh_interval: Duration::from_secs(60),
            max_age: Duration::from_secs(3600),
            fetch_timeout: Duration::from_secs(3),
        }
    }
}

pub enum KeySource {
    /// A fixed set (certificates or a JWKS file); never refreshed.
    Pinned(KeySet),
    /// A JWKS URL from the environment's discovery document, optionally seeded with pinned keys.
    Jwks { url: Url, seed: Option<KeySet> },
}

#[derive(Debug, thiserror::Error)]
pub enum KeysUnavailable {
    #[error("the JWKS could not be fetched")]
    Fetch(#[source] TransportError),
    #[error("the JWKS endpoint answered HTTP {0}")]
    Status(u16),
    #[error("the JWKS has no usable key")]
    Keys(#[source] KeyError),
    #[error("a JWKS fetch was tried less than the refresh interval ago and no keys are loaded")]
    RateLimited,
}

impl KeysUnavailable {
    pub fn code(&self) -> &'static str {
        match self {
            KeysUnavailable::Fetch(e) => e.code(),
            KeysUnavailable::Status(_) => "jwks_http_error",
            KeysUnavailable::Keys(_) => "jwks_no_usable_key",
            KeysUnavailable::RateLimited => "jwks_rate_limited",
        }
    }
}

struct Loaded {
    keys: Arc<KeySet>,
    /// When these keys were fetched; `None` for pinned or seed keys (always due for a fetch).
    fetched_at: Option<SystemTime>,
    generation: u64,
}

struct RefreshBook {
    last_attempt: Option<SystemTime>,
}

pub struct KeyStore {
    source: KeySource,
    settings: KeyStoreSettings,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    loaded: RwLock<Option<Loaded>>,
    refresh: tokio::sync::Mutex<RefreshBook>,
    metrics: Arc<dyn Metrics>,
}

/// The key set in use and its generation (to tell whether a refresh happened since).
#[derive(Clone)]
pub struct KeySnapshot {
    pub keys: Arc<KeySet>,
    pub generation: u64,
}

impl KeyStore {
    pub fn new(
        source: KeySource,
        settings: KeyStoreSettings,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let loaded = match &source {
            KeySource::Pinned(set) => Some(Loaded {
                keys: Arc::new(set.clone()),
                fetched_at: None,
                generation: 1,
            }),
            KeySource::Jwks {
                seed: Some(seed), ..
            } => Some(Loaded {
                keys: Arc::new(seed.clone()),
                fetched_at: None,
                generation: 1,
            }),
            KeySource::Jwks { seed: None, .. } => None,
        };
        Self {
            source,
            settings,
            transport,
            clock,
            loaded: RwLock::new(loaded),
            refresh: tokio::sync::Mutex::new(RefreshBook { last_attempt: None }),
            metrics: Arc::new(EmfStdout),
        }
    }

    /// Counts metrics somewhere else than EMF lines on stdout (tests).
    pub fn with_metrics(mut self, metrics: Arc<dyn Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    fn snapshot(&self) -> Option<(KeySnapshot, Option<SystemTime>)> {
        let guard = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(|l| {
            (
                KeySnapshot {
                    keys: l.keys.clone(),
                    generation: l.generation,
                },
                l.fetched_at,
            )
        })
    }

    /// The keys to validate with now. Fetches on first use; refreshes stale keys when allowed; on
    /// failure keeps the last good keys.
    pub async fn current(&self) -> Result<KeySnapshot, KeysUnavailable> {
        let KeySource::Jwks { .. } = &self.source else {
            return self
                .snapshot()
                .map(|(s, _)| s)
                .ok_or(KeysUnavailable::RateLimited);
        };
        match self.snapshot() {
            Some((snap, Some(fetched_at)))
                if self
                    .clock
                    .now()
                    .duration_since(fetched_at)
                    .unwrap_or_default()
                    < self.settings.max_age =>
            {
                Ok(snap)
            }
            Some((snap, _)) => {
                // Stale or only seeded: try a refresh, but serve what we have if it fails.
                match self.refresh_after(snap.generation).await {
                    Ok(Some(fresh)) => Ok(fresh),
                    Ok(None) => Ok(snap),
                    Err(_) => {
                        self.metrics
                            .count(JWKS_LAST_KNOWN_GOOD, "jwks_refresh_failed");
                        Ok(snap)
                    }
                }
            }
            None => match self.refresh_after(0).await {
                Ok(Some(fresh)) => Ok(fresh),
                Ok(None) => self
                    .snapshot()
                    .map(|(s, _)| s)
                    .ok_or(KeysUnavailable::RateLimited),
                Err(e) => Err(e),
            },
        }
    }

    /// Called when a token names a key we do not have. Returns new keys if a fetch happened (now, or
    /// by another caller since `seen_generation`), `None` when rate-limited or when the source is
    /// pinned.
    pub async fn refresh_for_unknown_kid(&self, seen_generation: u64) -> Option<KeySnapshot> {
        self.refresh_after(seen_generation).await.ok().flatten()
    }

    async fn refresh_after(
        &self,
        seen_generation: u64,
    ) -> Result<Option<KeySnapshot>, KeysUnavailable> {
        let KeySource::Jwks { url, .. } = &self.source else {
            return Ok(None);
        };
        let mut book = self.refresh.lock().await;
        // Someone refreshed while we waited for the lock: use their result.
        if let Some((snap, _)) = self.snapshot()
            && snap.generation != seen_generation
        {
            return Ok(Some(snap));
        }
        let now = self.clock.now();
        if let Some(last) = book.last_attempt
            && now.duration_since(last).unwrap_or_default() < self.settings.min_refresh_interval
        {
            return Ok(None);
        }
        book.last_attempt = Some(now);
        match self.fetch(url).await {
            Ok(set) => {
                let mut guard = self.loaded.write().unwrap_or_else(|p| p.into_inner());
                let generation = guard.as_ref().map_or(0, |l| l.generation) + 1;
                let keys = Arc::new(set);
                *guard = Some(Loaded {
                    keys: keys.clone(),
                    fetched_at: Some(now),
                    generation,
                });
                tracing::info!(
                    reason = "jwks_refreshed",
                    keys = keys.len(),
                    "signing keys loaded"
                );
                Ok(Some(KeySnapshot { keys, generation }))
            }
            Err(e) => {
                tracing::warn!(
                    reason = "jwks_refresh_failed",
                    cause = e.code(),
                    error = %e,
                    "could not refresh signing keys; the last good keys stay in use"
                );
                Err(e)
            }
        }
    }

    async fn fetch(&self, url: &Url) -> Result<KeySet, KeysUnavailable> {
        let (set, skipped) = fetch_jwks(&*self.transport, url, self.settings.fetch_timeout).await?;
        for s in skipped {
            tracing::warn!(
                reason = "jwks_key_skipped",
                kid = s.kid.as_deref().unwrap_or("(none)"),
                why = %s.reason,
                "a JWKS key does not meet the key policy and is not trusted"
            );
        }
        Ok(set)
    }

    /// Whether the keys in use came from a successful JWKS fetch: `false` for a pinned set, and for a
    /// JWKS source still serving its seed (no fetch has succeeded yet).
    pub fn serves_fetched_keys(&self) -> bool {
        let guard = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().is_some_and(|l| l.fetched_at.is_some())
    }
}

/// One GET of a JWKS (256 kB cap): the keys the key policy admits, and those it skipped and why.
/// The key store's fetch; public so operator tools (`soapp doctor`) check exactly what it loads.
pub async fn fetch_jwks(
    transport: &dyn Transport,
    url: &Url,
    timeout: Duration,
) -> Result<(KeySet, Vec<SkippedKey>), KeysUnavailable> {
    let request = HttpRequest::get(url.clone(), timeout)
        .accept_json()
        .max_response_bytes(256 * 1024);
    let response = transport
        .send(request)
        .await
        .map_err(KeysUnavailable::Fetch)?;
    if !response.status.is_success() {
        return Err(KeysUnavailable::Status(response.status.as_u16()));
    }
    KeySet::from_jwks(&response.body).map_err(KeysUnavailable::Keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::metrics::MetricsRecorder;
    use crate::testing::{ScriptedTransport, TestSigner};

    #[tokio::test]
    async fn catalogue_39_a_jwks_outage_keeps_the_keys_and_is_counted_once_per_failed_refresh() {
        let signer = TestSigner::generate("k1");
        let transport = ScriptedTransport::new();
        transport.push_status(200, &signer.jwks_json());
        let transport = transport.always(503, "unavailable");
        let clock = Arc::new(ManualClock::at_unix(1_700_000_000));
        let metrics = Arc::new(MetricsRecorder::default());
        let store = KeyStore::new(
            KeySource::Jwks {
                url: "https://online.superoffice.com/login/.well-known/jwks"
                    .parse()
                    .unwrap(),
                seed: None,
            },
            KeyStoreSettings::default(),
            transport.clone(),
            clock.clone(),
        )
        .with_metrics(metrics.clone());
        store.current().await.unwrap();
        assert!(metrics.counted().is_empty(), "a good fetch counts nothing");

        // Ten minutes of 503s once the keys are due for a refresh: the known key stays usable.
        clock.advance(Duration::from_secs(3601));
        for _ in 0..10 {
            let snap = store.current().await.expect("last known good keys");
            assert_eq!(snap.keys.kids(), vec!["k1".to_owned()]);
            clock.advance(Duration::from_secs(60));
        }
        let fetches = transport.count() - 1;
        assert!(
            fetches >= 9,
            "a refresh is tried once per interval: {fetches}"
        );
        assert_eq!(
            metrics.counted(),
            vec![(JWKS_LAST_KNOWN_GOOD, "jwks_refresh_failed"); fetches],
            "one count per failed refresh, none for calls the interval turned away"
        );

        // The endpoint recovers: nothing more is counted.
        transport.push_status(200, &signer.jwks_json());
        clock.advance(Duration::from_secs(60));
        store.current().await.unwrap();
        assert_eq!(metrics.counted().len(), fetches);
        assert!(store.serves_fetched_keys());
    }
}
