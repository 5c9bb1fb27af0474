//! The worker task that loads and manages the caches ([`crate::cache::manager`]):
//! one worker runs it (slot 0, which also runs the health probes).

use std::collections::HashSet;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use super::Worker;
use crate::cache::manager::{load, manage};

/// How often the manager looks.
const TICK: Duration = Duration::from_millis(500);

/// Loads and manages every configured cache until the worker starts to shut down.
pub async fn run(worker: Rc<Worker>) {
    let mut loaded: HashSet<(String, PathBuf)> = HashSet::new();
    while !worker.draining.get() {
        let snap = worker.snapshot.load_full();
        let paths = snap
            .config
            .http
            .as_ref()
            .map(|h| h.cache_paths.clone())
            .unwrap_or_default();
        for p in &paths {
            let Some(cache) = worker.cache(&snap.tls_shared.zones, p) else {
                continue;
            };
            if loaded.insert((p.name.clone(), p.path.clone())) {
                let (files, bytes) = load(&cache);
                worker.error_log.notice(&format!(
                    "http file cache: {} {:.3}M, {files} files loaded",
                    p.path.display(),
                    bytes as f64 / 1_048_576.0
                ));
            }
            manage(&cache);
        }
        monoio::time::sleep(TICK).await;
    }
}
