//! The certificate presented at each handshake, replaced when its files change (a renewal)
//! and kept when the new files cannot be served.

use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::task::JoinHandle;

use super::{TlsError, TlsFiles, load_certified_key, summary};

/// How a file looked: a file rewritten in place changes its modification time or size, one
/// replaced by a rename (or a symlink switched, as certbot and Kubernetes do) its inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
    device: u64,
}

impl Stamp {
    /// Follows symlinks: what matters is the file they lead to.
    fn of(path: &std::path::Path) -> std::io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        Ok(Self {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode: meta.ino(),
            device: meta.dev(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamps {
    cert: Stamp,
    key: Stamp,
}

impl Stamps {
    fn of(files: &TlsFiles) -> Result<Self, TlsError> {
        let stamp = |var, path: &std::path::Path| {
            Stamp::of(path).map_err(|source| TlsError::Read {
                var,
                path: path.display().to_string(),
                source,
            })
        };
        Ok(Self {
            cert: stamp("OAUTH2_TLS_CERT", &files.cert)?,
            key: stamp("OAUTH2_TLS_KEY", &files.key)?,
        })
    }
}

/// What a check of the files did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refresh {
    /// The files are as they were when last loaded.
    Unchanged,
    /// They changed and what they hold now is served.
    Reloaded,
    /// They changed but cannot be served: the previous certificate stays, for this reason.
    Kept(String),
}

/// The resolver rustls asks at every handshake.
#[derive(Debug)]
pub(super) struct CurrentCert {
    files: TlsFiles,
    served: RwLock<Arc<CertifiedKey>>,
    state: Mutex<ReloadState>,
}

#[derive(Debug)]
struct ReloadState {
    /// The files as they were when `served` was read from them.
    loaded: Option<Stamps>,
    /// The last failure, so that files left in a bad state are warned about once, not at
    /// every check.
    failed: Option<(Option<Stamps>, String)>,
}

impl CurrentCert {
    pub(super) fn load(files: TlsFiles) -> Result<Self, TlsError> {
        // Stamped before reading: a change while reading shows at the next check.
        let stamps = Stamps::of(&files).ok();
        let key = load_certified_key(&files)?;
        log_served(&key, &files, "TLS certificate loaded");
        Ok(Self {
            files,
            served: RwLock::new(Arc::new(key)),
            state: Mutex::new(ReloadState {
                loaded: stamps,
                failed: None,
            }),
        })
    }

    pub(super) fn served(&self) -> Arc<CertifiedKey> {
        self.served
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the files again if they changed since they were last loaded. A failure is
    /// retried at every check until the files change into something servable: a failure
    /// may be a file caught half written, or a certificate whose new key is not there yet.
    pub(super) fn refresh(&self) -> Refresh {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Stamps::of(&self.files);
        let stamps = now.as_ref().ok().copied();
        if stamps.is_some() && stamps == state.loaded {
            return Refresh::Unchanged;
        }
        match now.and_then(|_| load_certified_key(&self.files)) {
            Ok(key) => {
                log_served(&key, &self.files, "TLS certificate reloaded");
                *self.served.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
                *state = ReloadState {
                    loaded: stamps,
                    failed: None,
                };
                Refresh::Reloaded
            }
            Err(e) => {
                let failure = (stamps, e.to_string());
                if state.failed.as_ref() != Some(&failure) {
                    tracing::warn!(
                        error = %failure.1,
                        "the TLS files changed but cannot be served; the previous certificate stays"
                    );
                }
                let reason = failure.1.clone();
                state.failed = Some(failure);
                Refresh::Kept(reason)
            }
        }
    }
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.served())
    }
}

fn log_served(key: &CertifiedKey, files: &TlsFiles, message: &'static str) {
    let summary = summary(key);
    tracing::info!(
        cert = %files.cert.display(),
        names = summary.as_ref().map(|s| s.names.join(" ")).unwrap_or_default(),
        serial = summary.as_ref().map(|s| s.serial.as_str()).unwrap_or_default(),
        chain = key.cert.len(),
        "{message}"
    );
}

/// Checks the files every `every` until `current` is dropped with the last listener.
pub(super) fn watch(current: Weak<CurrentCert>, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; the files were just read.
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(current) = current.upgrade() else {
                break;
            };
            // File system calls block: off the runtime's workers, so a slow mount cannot
            // stall requests.
            if tokio::task::spawn_blocking(move || current.refresh())
                .await
                .is_err()
            {
                tracing::error!("the TLS certificate check panicked");
            }
        }
    })
}
