//! A small expiring map for delegated review answers: each entry lives for the TTL its value
//! chose (Kubernetes' delegating server keeps allowed and denied answers for different times).
//! Time is tokio's, so tests can pause the clock.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// At most this many answers are kept; past it, expired entries go, then everything.
const MAX_ENTRIES: usize = 4096;

#[derive(Debug)]
pub struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K, V> Default for TtlCache<K, V> {
    fn default() -> Self {
        TtlCache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    /// The value, while it has not expired.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (expires, value) = entries.get(key)?;
        (Instant::now() < *expires).then(|| value.clone())
    }

    /// Keeps `value` for `ttl` (a zero TTL keeps nothing).
    pub fn insert(&self, key: K, value: V, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (expires, _)| now < *expires);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (now + ttl, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn entries_expire_after_their_own_ttl() {
        let cache = TtlCache::default();
        cache.insert("allowed", true, Duration::from_secs(10));
        cache.insert("denied", false, Duration::from_secs(2));
        cache.insert("never", true, Duration::ZERO);
        assert_eq!(cache.get(&"never"), None);
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(cache.get(&"allowed"), Some(true));
        assert_eq!(cache.get(&"denied"), None);
        tokio::time::advance(Duration::from_secs(8)).await;
        assert_eq!(cache.get(&"allowed"), None);
    }

    #[test]
    fn a_full_cache_makes_room() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let cache = TtlCache::default();
            for i in 0..MAX_ENTRIES + 10 {
                cache.insert(i, i, Duration::from_secs(60));
            }
            assert_eq!(cache.get(&(MAX_ENTRIES + 9)), Some(MAX_ENTRIES + 9));
            let len = cache.entries.lock().unwrap().len();
            assert!(len <= MAX_ENTRIES, "{len}");
        });
    }
}
