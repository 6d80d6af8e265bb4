//! The start-up sweep: removes bytes that no committed object row references (left by a crash
//! between writing and committing, or between committing a delete and removing the bytes),
//! staging files of local writes that never finished, and resumable uploads past their expiry.
//! Only leftovers older than a grace period are touched, so uploads in flight on other nodes
//! sharing the store are safe.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use object_store::path::Path;

use crate::app::State;
use crate::blob::version_of;

/// What a sweep removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Object keys no row referenced.
    pub orphans: usize,
    /// Local staging files of unfinished writes.
    pub staging: usize,
    /// Expired resumable uploads.
    pub uploads: usize,
}

const BATCH: usize = 500;

pub async fn run(state: &State) -> SweepReport {
    let mut report = SweepReport::default();
    match orphans(state).await {
        Ok(n) => report.orphans = n,
        Err(e) => tracing::warn!(error = %e, "storage: sweep of unreferenced bytes failed"),
    }
    report.staging = state
        .blobs
        .remove_stale_staging(state.config.orphan_grace)
        .await;
    match expired_uploads(state).await {
        Ok(n) => report.uploads = n,
        Err(e) => tracing::warn!(error = %e, "storage: sweep of resumable uploads failed"),
    }
    report
}

fn old_enough(meta: &object_store::ObjectMeta, grace: std::time::Duration) -> bool {
    let age = chrono::Utc::now().signed_duration_since(meta.last_modified);
    age.to_std().map(|a| a >= grace).unwrap_or(grace.is_zero())
}

async fn orphans(state: &State) -> Result<usize, crate::ApiError> {
    let grace = state.config.orphan_grace;
    let mut listing = state.blobs.list_objects();
    let mut batch: Vec<(String, Path)> = Vec::new();
    let mut removed = 0;
    while let Some(item) = listing.next().await {
        let meta = item?;
        if !old_enough(&meta, grace) {
            continue;
        }
        if let Some(v) = version_of(&meta.location) {
            batch.push((v, meta.location));
        }
        if batch.len() >= BATCH {
            removed += remove_unreferenced(state, std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        removed += remove_unreferenced(state, batch).await?;
    }
    Ok(removed)
}

async fn remove_unreferenced(
    state: &State,
    batch: Vec<(String, Path)>,
) -> Result<usize, crate::ApiError> {
    let versions: Vec<&str> = batch.iter().map(|(v, _)| v.as_str()).collect();
    let conn = state.db.conn().await?;
    let rows = conn
        .query(
            "SELECT version FROM storage.objects WHERE version = ANY($1)",
            &[&versions],
        )
        .await?;
    let live: HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
    let dead: Vec<Path> = batch
        .into_iter()
        .filter(|(v, _)| !live.contains(v))
        .map(|(_, p)| p)
        .collect();
    let n = dead.len();
    if n > 0 {
        tracing::info!(count = n, "storage: removing unreferenced bytes");
    }
    state.blobs.delete_quietly(dead).await;
    Ok(n)
}

async fn expired_uploads(state: &State) -> Result<usize, crate::ApiError> {
    let all = state.blobs.list(&Path::from("uploads")).await?;
    let mut newest: HashMap<String, chrono::DateTime<chrono::Utc>> = HashMap::new();
    let mut keys: HashMap<String, Vec<Path>> = HashMap::new();
    for m in all {
        let Some(id) = m.location.parts().nth(1).map(|p| p.as_ref().to_string()) else {
            continue;
        };
        let e = newest.entry(id.clone()).or_insert(m.last_modified);
        if m.last_modified > *e {
            *e = m.last_modified;
        }
        keys.entry(id).or_default().push(m.location);
    }
    let mut removed = 0;
    for (id, when) in newest {
        let age = chrono::Utc::now().signed_duration_since(when);
        if age.to_std().is_ok_and(|a| a >= state.config.tus_expiry) {
            state
                .blobs
                .delete_quietly(keys.remove(&id).unwrap_or_default())
                .await;
            removed += 1;
        }
    }
    Ok(removed)
}
