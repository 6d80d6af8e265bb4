//! The project's rate limits, kept as Supabase Realtime keeps its tenant limits: events are
//! counted into buckets of one tick (5 s), the last 12 buckets are kept, and the rate is their
//! mean per second. A limit trips when a closed bucket brings the rate to the limit or over it,
//! and lets go when a later bucket brings it back under. Also the count of connected users
//! (sockets that joined a channel).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Buckets a rate is averaged over.
const BUCKETS: usize = 12;

/// A rate of events per second with a limit.
pub struct RateCounter {
    limit: u64,
    tick: Duration,
    state: Mutex<Window>,
}

struct Window {
    /// When the open bucket started.
    since: Instant,
    /// Events of the open bucket.
    open: u64,
    /// Closed buckets, newest first.
    closed: VecDeque<u64>,
    avg: f64,
    triggered: bool,
}

impl RateCounter {
    /// A counter with `limit` events per second, averaged over buckets of `tick`.
    pub fn new(limit: u64, tick: Duration) -> RateCounter {
        RateCounter {
            limit,
            tick: tick.max(Duration::from_millis(1)),
            state: Mutex::new(Window {
                since: Instant::now(),
                open: 0,
                closed: VecDeque::with_capacity(BUCKETS + 1),
                avg: 0.0,
                triggered: false,
            }),
        }
    }

    /// Close every bucket whose tick has passed.
    fn roll(&self, w: &mut Window) {
        let now = Instant::now();
        let mut ticks = 0;
        while now.duration_since(w.since) >= self.tick {
            w.since += self.tick;
            w.closed.push_front(std::mem::take(&mut w.open));
            w.closed.truncate(BUCKETS);
            let sum: u64 = w.closed.iter().sum();
            w.avg = sum as f64 / w.closed.len() as f64 / self.tick.as_secs_f64();
            w.triggered = w.avg >= self.limit as f64;
            ticks += 1;
            if ticks > BUCKETS {
                // Idle for longer than the window: every bucket is empty now.
                w.since = now;
                w.closed.clear();
                w.avg = 0.0;
                w.triggered = false;
                break;
            }
        }
    }

    /// Count `n` events.
    pub fn add(&self, n: u64) {
        let mut w = self.state.lock();
        self.roll(&mut w);
        w.open += n;
    }

    /// Whether the limit tripped at the last closed bucket.
    pub fn triggered(&self) -> bool {
        let mut w = self.state.lock();
        self.roll(&mut w);
        w.triggered
    }

    /// The rate per second as of the last closed bucket.
    pub fn avg(&self) -> f64 {
        let mut w = self.state.lock();
        self.roll(&mut w);
        w.avg
    }

    /// The limit, events per second.
    pub fn limit(&self) -> u64 {
        self.limit
    }
}

/// The limits of one node.
pub struct Limits {
    /// Channel joins per second (`ClientJoinRateLimitReached`).
    pub joins: RateCounter,
    /// Messages per second: client broadcasts, broadcasts over HTTP and from the database, and
    /// every delivery of a broadcast to a channel (`Too many messages per second`).
    pub events: RateCounter,
    /// Most sockets with a joined channel at once.
    pub max_users: usize,
    users: AtomicUsize,
}

impl Limits {
    /// The limits a configuration asks for.
    pub fn new(c: &crate::Config) -> Limits {
        Limits {
            joins: RateCounter::new(c.max_joins_per_second, c.rate_tick),
            events: RateCounter::new(c.max_events_per_second, c.rate_tick),
            max_users: c.max_concurrent_users,
            users: AtomicUsize::new(0),
        }
    }

    /// No limits at all.
    pub fn unlimited() -> Limits {
        Limits {
            joins: RateCounter::new(u64::MAX, Duration::from_secs(5)),
            events: RateCounter::new(u64::MAX, Duration::from_secs(5)),
            max_users: usize::MAX,
            users: AtomicUsize::new(0),
        }
    }

    /// Sockets counted as connected users now.
    pub fn users(&self) -> usize {
        self.users.load(Ordering::Relaxed)
    }

    /// Count a socket as a connected user until the returned guard is dropped.
    pub fn user(self: &std::sync::Arc<Self>) -> UserGuard {
        self.users.fetch_add(1, Ordering::Relaxed);
        UserGuard(self.clone())
    }
}

/// A socket counted among the connected users.
pub struct UserGuard(std::sync::Arc<Limits>);

impl Drop for UserGuard {
    fn drop(&mut self) {
        self.0.users.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_at_a_closed_bucket_and_lets_go_below_the_limit() {
        let tick = Duration::from_millis(100);
        let c = RateCounter::new(100, tick);
        // 25 events in a 100 ms bucket: 250/s, but nothing is judged before the bucket closes.
        c.add(25);
        assert!(!c.triggered());
        std::thread::sleep(tick + Duration::from_millis(10));
        assert!(c.triggered());
        assert!(c.avg() >= 100.0, "{}", c.avg());
        // Empty buckets bring the mean down: 25 events over 3 buckets of 100 ms is 83/s.
        std::thread::sleep(tick * 2);
        assert!(!c.triggered(), "{}", c.avg());
    }

    #[test]
    fn a_long_idle_counter_starts_over() {
        let tick = Duration::from_millis(2);
        let c = RateCounter::new(1, tick);
        c.add(1000);
        std::thread::sleep(tick * 40);
        assert!(!c.triggered());
        assert_eq!(c.avg(), 0.0);
    }
}
