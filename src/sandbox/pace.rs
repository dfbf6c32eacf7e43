//! The latency model: a time to first token, then a steady number of tokens per second.
//! Zero for either disables that wait, so benchmarks can run the sandbox flat out.
//!
//! Streamed answers are planned as a list of [`Step`]s (send bytes, wait, stall) and played by
//! a task into a streaming body, so each chunk leaves when the model would have produced it.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::config::sandbox::SandboxSettings;

/// How fast the emulated model answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub first_token: Duration,
    /// Zero means output arrives at once.
    pub tokens_per_second: u32,
}

impl Pace {
    /// The pace configured in `settings`.
    pub fn of(settings: &SandboxSettings) -> Pace {
        Pace {
            first_token: settings.first_token,
            tokens_per_second: settings.tokens_per_second,
        }
    }

    /// Time to produce `tokens` output tokens after the first.
    pub fn for_tokens(self, tokens: u64) -> Duration {
        match self.tokens_per_second {
            0 => Duration::ZERO,
            tps => Duration::from_secs_f64(tokens as f64 / f64::from(tps)),
        }
    }

    /// Time for a whole non-streamed answer of `tokens` tokens.
    pub fn total(self, tokens: u64) -> Duration {
        self.first_token + self.for_tokens(tokens)
    }
}

/// Sleeps for `duration` unless it is zero (so a flat-out sandbox never yields to the timer).
pub async fn wait(duration: Duration) {
    if !duration.is_zero() {
        tokio::time::sleep(duration).await;
    }
}

/// One step of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Send(Bytes),
    Wait(Duration),
    /// Stop sending but keep the connection open until the client gives up.
    Stall,
}

/// Splits `text` into the chunks a stream delivers (a few words each, spaces kept).
pub fn chunks(text: &str) -> Vec<String> {
    const WORDS_PER_CHUNK: usize = 3;
    let mut out = Vec::new();
    let mut current = String::new();
    let mut words = 0;
    for piece in text.split_inclusive(' ') {
        current.push_str(piece);
        words += 1;
        if words == WORDS_PER_CHUNK {
            out.push(std::mem::take(&mut current));
            words = 0;
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A response body that plays `steps` in real time.
pub fn paced_body(steps: Vec<Step>) -> Body {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        for step in steps {
            match step {
                Step::Send(bytes) => {
                    if tx.send(bytes).await.is_err() {
                        return;
                    }
                }
                Step::Wait(duration) => wait(duration).await,
                Step::Stall => {
                    tx.closed().await;
                    return;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<Bytes, Infallible>(bytes), rx))
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_disables_waiting() {
        let flat = Pace {
            first_token: Duration::ZERO,
            tokens_per_second: 0,
        };
        assert_eq!(flat.total(1_000), Duration::ZERO);
        let paced = Pace {
            first_token: Duration::from_millis(250),
            tokens_per_second: 400,
        };
        assert_eq!(paced.total(100), Duration::from_millis(500));
    }

    #[test]
    fn chunks_keep_every_character() {
        let text = "one two three four five six seven";
        let parts = chunks(text);
        assert_eq!(parts, vec!["one two three ", "four five six ", "seven"]);
        assert_eq!(parts.concat(), text);
    }
}
