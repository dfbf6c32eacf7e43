//! What the accept loop does when `accept` fails: a failure of one connection (the peer gave up
//! before it was accepted) is skipped at once; a failure of the listener itself (out of file
//! descriptors: EMFILE, ENFILE; out of buffers or memory) pauses the loop, doubling the pause up
//! to [`MAX_PAUSE`] while it lasts, sheds one connection that has not sent a request yet (so
//! the next accept has a descriptor), and is logged at most once per [`LOG_INTERVAL`] with a
//! count of the failures left unlogged, instead of a line every few milliseconds.

use std::io;
use std::time::{Duration, Instant};

/// First pause after a listener failure.
pub const FIRST_PAUSE: Duration = Duration::from_millis(5);
/// Longest pause between accepts while the listener keeps failing.
pub const MAX_PAUSE: Duration = Duration::from_secs(1);
/// Fewest time between two log lines about the same kind of trouble.
pub const LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Which side an `accept` failure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptFailure {
    /// One connection failed before it was accepted (reset, aborted): nothing to wait for.
    Connection,
    /// The listener cannot accept at all now (no descriptors, buffers or memory): wait.
    Listener,
}

impl AcceptFailure {
    /// Classifies an error from `accept`.
    pub fn of(error: &io::Error) -> AcceptFailure {
        match error.kind() {
            io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted => AcceptFailure::Connection,
            _ => AcceptFailure::Listener,
        }
    }
}

/// At most one log line per [`LOG_INTERVAL`], counting the events it did not log.
#[derive(Debug, Default)]
pub struct LogLimiter {
    last: Option<Instant>,
    unlogged: u64,
}

impl LogLimiter {
    /// Whether to log an event at `now`; `Some(n)` says to, `n` being how many events since the
    /// last line went unlogged.
    pub fn admit(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < LOG_INTERVAL => {
                self.unlogged += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.unlogged))
            }
        }
    }
}

/// What to do after a listener failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// How long to wait before the next accept.
    pub pause: Duration,
    /// `Some(n)`: log a line (`n` failures since the last line went unlogged); `None`: stay quiet.
    pub log: Option<u64>,
}

/// The accept loop's memory of listener failures.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    /// The pause the next failure gets; zero when the last accept succeeded.
    next_pause: Duration,
    log: LogLimiter,
}

impl AcceptBackoff {
    /// A listener failure at `now`.
    pub fn on_failure(&mut self, now: Instant) -> Decision {
        let pause = self.next_pause.max(FIRST_PAUSE);
        self.next_pause = (pause * 2).min(MAX_PAUSE);
        Decision {
            pause,
            log: self.log.admit(now),
        }
    }

    /// A successful accept: the next failure starts again from [`FIRST_PAUSE`] (the log stays
    /// limited, so trouble that comes and goes is still one line a minute).
    pub fn on_accept(&mut self) {
        self.next_pause = Duration::ZERO;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_descriptors_is_a_listener_failure_and_a_reset_peer_is_not() {
        let emfile = io::Error::from_raw_os_error(24);
        assert_eq!(AcceptFailure::of(&emfile), AcceptFailure::Listener);
        let enfile = io::Error::from_raw_os_error(23);
        assert_eq!(AcceptFailure::of(&enfile), AcceptFailure::Listener);
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(AcceptFailure::of(&aborted), AcceptFailure::Connection);
    }

    #[test]
    fn a_flood_of_failures_is_one_log_line_a_minute_with_the_count_it_skipped() {
        let start = Instant::now();
        let mut backoff = AcceptBackoff::default();
        // One failure every 50 ms for three minutes (what a loop without back-off logged).
        let logged: Vec<(u64, Option<u64>)> = (0..3600u64)
            .map(|i| {
                (
                    i,
                    backoff
                        .on_failure(start + Duration::from_millis(50 * i))
                        .log,
                )
            })
            .filter(|(_, log)| log.is_some())
            .collect();
        assert_eq!(
            logged,
            vec![(0, Some(0)), (1200, Some(1199)), (2400, Some(1199))]
        );
    }

    #[test]
    fn the_pause_doubles_up_to_a_second_and_starts_over_after_an_accept() {
        let now = Instant::now();
        let mut backoff = AcceptBackoff::default();
        let pauses: Vec<u128> = (0..10)
            .map(|_| backoff.on_failure(now).pause.as_millis())
            .collect();
        assert_eq!(pauses, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        backoff.on_accept();
        assert_eq!(backoff.on_failure(now).pause, FIRST_PAUSE);
    }
}
