//! How many client connections are open, and which to give up when there are too many.
//!
//! Every connection holds a file descriptor, and a process has a fixed number of them. Once
//! they run out, `accept` fails, and a probe of `/health/readiness` waits in the kernel's
//! backlog behind the connections that hold them: the gateway looks dead while it is only
//! full. So the gateway keeps the number of open connections at most `max_connections`, below
//! the descriptor limit (see [`default_max_connections`]), and keeps accepting at that
//! number: each newcomer sheds the oldest connection that has not sent a request yet (a silent
//! or slow client, the cheapest to lose and the likeliest abuser). Only when every open
//! connection is serving requests is the newcomer itself closed.
//!
//! A connection's [`Slot`] moves `Waiting → Serving` when its first request reaches the
//! service, or `Waiting → Shed` when it is given up; the two are exclusive (compare-and-swap),
//! so a connection that is serving is never shed.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Waker;

/// Descriptors kept for everything but client connections: the listener, the runtime, stdio,
/// logs, Redis and upstream pools beyond one per request.
const RESERVED_FDS: u64 = 128;
/// Connections allowed when the descriptor limit cannot be read.
const FALLBACK_MAX_CONNECTIONS: usize = 512;

/// The connection limit for a process allowed `open_files` descriptors: half of what is left
/// after [`RESERVED_FDS`], since every client connection may hold a second descriptor for its
/// call upstream. At least 16; [`FALLBACK_MAX_CONNECTIONS`] when the limit is unknown.
pub fn default_max_connections(open_files: Option<u64>) -> usize {
    match open_files {
        Some(n) => usize::try_from(n.saturating_sub(RESERVED_FDS) / 2)
            .unwrap_or(usize::MAX)
            .max(16),
        None => FALLBACK_MAX_CONNECTIONS,
    }
}

/// This process's soft limit on open files, from `/proc/self/limits` (Linux); `None` elsewhere
/// or when it is unlimited.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_files(&limits)
}

/// The soft "Max open files" figure of a `/proc/<pid>/limits` text.
fn parse_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

const WAITING: u8 = 0;
const SERVING: u8 = 1;
const SHED: u8 = 2;

/// One connection's standing: waiting for its first request, serving, or shed.
#[derive(Debug, Default)]
pub struct Slot {
    state: AtomicU8,
    /// Woken when the connection is shed, so its read stops waiting.
    waker: Mutex<Option<Waker>>,
}

impl Slot {
    /// The first request arrived: from now on the connection is never shed.
    pub fn serving(&self) {
        let _ = self
            .state
            .compare_exchange(WAITING, SERVING, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Whether no request has arrived yet (and the connection was not shed).
    pub fn is_waiting(&self) -> bool {
        self.state.load(Ordering::Acquire) == WAITING
    }

    /// Whether the connection was given up.
    pub fn is_shed(&self) -> bool {
        self.state.load(Ordering::Acquire) == SHED
    }

    /// Asks to be woken when the connection is shed.
    pub fn wake_on_shed(&self, waker: &Waker) {
        if let Ok(mut slot) = self.waker.lock() {
            match slot.as_ref() {
                Some(old) if old.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
    }

    /// Gives the connection up if it is still waiting; whether it was.
    fn shed(&self) -> bool {
        let shed = self
            .state
            .compare_exchange(WAITING, SHED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if shed
            && let Ok(mut waker) = self.waker.lock()
            && let Some(waker) = waker.take()
        {
            waker.wake();
        }
        shed
    }
}

/// The open connections, counted against `max`.
#[derive(Debug)]
pub struct Capacity {
    max: usize,
    open: AtomicUsize,
    /// Connections in the order they were accepted; those no longer waiting are skipped (and
    /// pruned) when looking for one to shed.
    waiting: Mutex<VecDeque<Weak<Slot>>>,
}

/// An open connection, counted until dropped.
#[derive(Debug)]
pub struct Admitted {
    capacity: Arc<Capacity>,
    slot: Arc<Slot>,
}

impl Admitted {
    /// The connection's slot.
    pub fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.capacity.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Capacity {
    /// Room for `max` connections (at least one).
    pub fn new(max: usize) -> Arc<Capacity> {
        Arc::new(Capacity {
            max: max.max(1),
            open: AtomicUsize::new(0),
            waiting: Mutex::new(VecDeque::new()),
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Admits a new connection, shedding the oldest waiting one when full; `None` when full and
    /// every open connection is serving (close the newcomer).
    pub fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let open = self.open.fetch_add(1, Ordering::AcqRel) + 1;
        if open > self.max && !self.shed_oldest() {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let slot = Arc::new(Slot::default());
        if let Ok(mut waiting) = self.waiting.lock() {
            // Bounded: past twice the limit, forget the entries that are no longer waiting.
            if waiting.len() >= 2 * self.max {
                waiting.retain(|w| w.upgrade().is_some_and(|s| s.is_waiting()));
            }
            waiting.push_back(Arc::downgrade(&slot));
        }
        Some(Admitted {
            capacity: Arc::clone(self),
            slot,
        })
    }

    /// Sheds the oldest connection still waiting for its first request; whether there was one.
    pub fn shed_oldest(&self) -> bool {
        let Ok(mut waiting) = self.waiting.lock() else {
            return false;
        };
        while let Some(entry) = waiting.pop_front() {
            if let Some(slot) = entry.upgrade()
                && slot.shed()
            {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_leaves_descriptors_for_upstream_calls() {
        assert_eq!(default_max_connections(Some(1024)), 448);
        assert_eq!(default_max_connections(Some(20_000)), 9936);
        assert_eq!(default_max_connections(Some(100)), 16);
        assert_eq!(default_max_connections(None), FALLBACK_MAX_CONNECTIONS);
    }

    #[test]
    fn the_soft_open_files_limit_is_read_from_proc_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             63432                63432                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_open_files(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_files(unlimited), None);
    }

    #[test]
    fn when_full_the_oldest_waiting_connection_is_shed_and_serving_ones_never_are() {
        let capacity = Capacity::new(3);
        let first = capacity.admit().unwrap();
        let second = capacity.admit().unwrap();
        let third = capacity.admit().unwrap();
        first.slot().serving();

        // Full: the oldest connection still waiting (the second) makes room.
        let fourth = capacity.admit().unwrap();
        assert!(second.slot().is_shed());
        assert!(!first.slot().is_shed() && !third.slot().is_shed());
        drop(second);
        assert_eq!(capacity.open(), 3);

        // Full again, and everyone is serving: the newcomer is refused.
        third.slot().serving();
        fourth.slot().serving();
        assert!(capacity.admit().is_none());
        assert_eq!(capacity.open(), 3);

        // A connection that closes makes room without shedding anyone.
        drop(first);
        assert!(capacity.admit().is_some());
    }

    #[test]
    fn a_connection_that_is_serving_cannot_be_shed() {
        let slot = Slot::default();
        slot.serving();
        assert!(!slot.shed());
        assert!(!slot.is_shed() && !slot.is_waiting());
    }
}
