//! Failed token requests, limited per client id and per source address (API.md "Auth": 429 with
//! Retry-After), so that a secret cannot be guessed at the speed of the network.
//!
//! Each key is a generic cell rate (GCRA): `limit` failures a `period` may come at once, then one
//! every `period / limit`. A key locked out is refused before its secret is checked, even a
//! right one, until its Retry-After; otherwise the limit would only slow the wrong guesses. In
//! memory, per process, with a bounded number of keys: made-up client ids cannot grow it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Failed token requests a client id may have per `period` (0: no limit).
    pub per_client: u32,
    /// Failed token requests a source address may make per `period` (0: no limit).
    pub per_address: u32,
    pub period: Duration,
    /// The most keys of each kind tracked at once.
    pub max_tracked: usize,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            per_client: 10,
            per_address: 50,
            period: Duration::from_secs(60),
            max_tracked: 10_000,
        }
    }
}

/// The token endpoint's memory of failed attempts.
#[derive(Debug)]
pub struct TokenThrottle {
    clients: Mutex<Cells>,
    addresses: Mutex<Cells>,
}

impl Default for TokenThrottle {
    fn default() -> Self {
        TokenThrottle::new(ThrottleSettings::default())
    }
}

impl TokenThrottle {
    pub fn new(settings: ThrottleSettings) -> Self {
        TokenThrottle {
            clients: Mutex::new(Cells::new(settings.per_client, settings)),
            addresses: Mutex::new(Cells::new(settings.per_address, settings)),
        }
    }

    /// How long `client_id` from `address` must wait before trying again; None when it may try now.
    pub fn wait(&self, client_id: &str, address: Option<IpAddr>, now: Instant) -> Option<Duration> {
        let by_client = lock(&self.clients).wait(client_id, now);
        let by_address = address.and_then(|a| lock(&self.addresses).wait(&a.to_string(), now));
        by_client.max(by_address)
    }

    /// Counts a failed attempt against the client id and the address.
    pub fn failed(&self, client_id: &str, address: Option<IpAddr>, now: Instant) {
        lock(&self.clients).fail(client_id, now);
        if let Some(address) = address {
            lock(&self.addresses).fail(&address.to_string(), now);
        }
    }
}

fn lock(cells: &Mutex<Cells>) -> std::sync::MutexGuard<'_, Cells> {
    cells.lock().unwrap_or_else(|p| p.into_inner())
}

/// One GCRA per key: the theoretical time at which the key's failures have drained.
#[derive(Debug)]
struct Cells {
    /// None: no limit.
    interval: Option<Duration>,
    /// How far ahead of now the drain time may be before the key is refused.
    tolerance: Duration,
    max_tracked: usize,
    drained_at: HashMap<String, Instant>,
}

impl Cells {
    fn new(limit: u32, settings: ThrottleSettings) -> Self {
        let interval = (limit > 0).then(|| settings.period / limit);
        Cells {
            interval,
            tolerance: interval.map_or(Duration::ZERO, |i| settings.period.saturating_sub(i)),
            max_tracked: settings.max_tracked.max(1),
            drained_at: HashMap::new(),
        }
    }

    fn wait(&self, key: &str, now: Instant) -> Option<Duration> {
        self.interval?;
        let drained_at = *self.drained_at.get(key)?;
        let ahead = drained_at.checked_duration_since(now)?;
        ahead.checked_sub(self.tolerance).filter(|w| !w.is_zero())
    }

    fn fail(&mut self, key: &str, now: Instant) {
        let Some(interval) = self.interval else {
            return;
        };
        if !self.drained_at.contains_key(key) && self.drained_at.len() >= self.max_tracked {
            // Drained keys are as good as new; if every key is live, the one nearest to
            // draining goes.
            self.drained_at.retain(|_, at| *at > now);
            if self.drained_at.len() >= self.max_tracked {
                let nearest = self
                    .drained_at
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(k, _)| k.clone());
                if let Some(nearest) = nearest {
                    self.drained_at.remove(&nearest);
                }
            }
        }
        let at = self.drained_at.entry(key.to_string()).or_insert(now);
        *at = (*at).max(now) + interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(per_client: u32, per_address: u32, max_tracked: usize) -> ThrottleSettings {
        ThrottleSettings {
            per_client,
            per_address,
            period: Duration::from_secs(60),
            max_tracked,
        }
    }

    #[test]
    fn the_limit_is_a_burst_then_one_failure_per_interval() {
        let t = TokenThrottle::new(settings(10, 0, 100));
        let start = Instant::now();
        for _ in 0..10 {
            assert_eq!(t.wait("c", None, start), None);
            t.failed("c", None, start);
        }
        assert_eq!(t.wait("c", None, start), Some(Duration::from_secs(6)));
        assert_eq!(t.wait("other", None, start), None);
        let later = start + Duration::from_secs(6);
        assert_eq!(t.wait("c", None, later), None);
        t.failed("c", None, later);
        assert_eq!(t.wait("c", None, later), Some(Duration::from_secs(6)));
        // A minute without failures forgets them all.
        let much_later = later + Duration::from_secs(66);
        for _ in 0..10 {
            assert_eq!(t.wait("c", None, much_later), None);
            t.failed("c", None, much_later);
        }
    }

    #[test]
    fn addresses_are_limited_across_client_ids() {
        let t = TokenThrottle::new(settings(0, 3, 100));
        let now = Instant::now();
        let here: IpAddr = "192.0.2.1".parse().unwrap();
        let there: IpAddr = "192.0.2.2".parse().unwrap();
        for i in 0..3 {
            t.failed(&format!("made-up-{i}"), Some(here), now);
        }
        assert!(t.wait("anyone", Some(here), now).is_some());
        assert_eq!(t.wait("anyone", Some(there), now), None);
        assert_eq!(t.wait("anyone", None, now), None);
    }

    #[test]
    fn made_up_keys_cannot_grow_it_past_its_bound() {
        let t = TokenThrottle::new(settings(2, 0, 50));
        let now = Instant::now();
        t.failed("target", None, now);
        t.failed("target", None, now);
        for i in 0..1000 {
            t.failed(&format!("noise-{i}"), None, now + Duration::from_millis(i));
        }
        assert!(lock(&t.clients).drained_at.len() <= 50);
    }
}
