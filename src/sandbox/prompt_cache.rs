//! Prompt caching, emulated after the documented rules for Claude on Bedrock.
//!
//! A request marks cache breakpoints (`cache_control` on a tool, system block or message
//! block). The prefix up to and including a marked block is written to the cache on first use
//! (`cache_creation_input_tokens`) and read by later requests within its TTL (five minutes, or
//! an hour with `ttl: "1h"`; each read renews it) as `cache_read_input_tokens`; the rest of
//! the prompt is `input_tokens`. A hit is looked for at each breakpoint and at the 20 blocks
//! before it, so a conversation that moves its last marker forward still reads the prefix it
//! wrote last turn. A prefix shorter than the model's minimum cacheable length is neither
//! written nor read. Prefixes are keyed by account and model and by their content without the
//! markers themselves (moving a marker does not change the text it follows).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::emulated_model::{digest, estimate_tokens};

/// How far before a breakpoint a hit is looked for (Anthropic's documented look-back).
const LOOK_BACK_BLOCKS: usize = 20;

/// The TTL of a marker, Anthropic's `cache_control` or Converse's `cachePoint`: `ttl: "1h"` an
/// hour, else five minutes.
pub fn ttl_of(cache_control: &Value) -> Duration {
    match cache_control.get("ttl").and_then(Value::as_str) {
        Some("1h") => Duration::from_secs(3600),
        _ => Duration::from_secs(300),
    }
}

/// The smallest prefix a Claude model caches (tokens): 4,096 for Haiku 4.5 and Opus 4.5 and
/// later, 2,048 for the Haiku 3 models, 1,024 for the others.
pub fn min_tokens(model_id: &str) -> u64 {
    let id = model_id.rsplit('/').next().unwrap_or(model_id);
    let large = [
        "claude-haiku-4-5",
        "claude-opus-4-5",
        "claude-opus-4-6",
        "claude-opus-4-7",
    ];
    if large.iter().any(|m| id.contains(m)) {
        4096
    } else if id.contains("claude-3-5-haiku") || id.contains("claude-3-haiku") {
        2048
    } else {
        1024
    }
}

/// The blocks of a prompt in cache order (tools, system, messages), each with the digest and
/// tokens of the prefix that ends with it, and the breakpoints among them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CachePoints {
    prefixes: Vec<(u64, u64)>,
    breakpoints: Vec<(usize, Duration)>,
    digest: u64,
    chars: usize,
}

impl CachePoints {
    /// Adds the next block (its JSON, markers included) and its characters.
    pub fn block(&mut self, block: &Value, chars: usize) {
        let marker = block.get("cache_control").map(ttl_of);
        let mut content = block.clone();
        if let Some(map) = content.as_object_mut() {
            map.remove("cache_control");
        }
        self.digest = digest(&[&self.digest.to_le_bytes(), content.to_string().as_bytes()]);
        self.chars += chars;
        self.prefixes
            .push((self.digest, estimate_tokens(self.chars)));
        if let Some(ttl) = marker {
            self.breakpoints.push((self.prefixes.len() - 1, ttl));
        }
    }
}

impl CachePoints {
    /// Marks the prefix through the last block added as a breakpoint (Converse's `cachePoint`
    /// block, which follows what it caches); ignored before any block.
    pub fn mark(&mut self, ttl: Duration) {
        if let Some(last) = self.prefixes.len().checked_sub(1) {
            self.breakpoints.push((last, ttl));
        }
    }
}

/// What a call read from and wrote to the cache (tokens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheUse {
    pub read: u64,
    pub written: u64,
}

/// The cached prefixes of every account and model, with when each expires.
#[derive(Debug, Default)]
pub struct PromptCache {
    entries: HashMap<(String, String, u64), Instant>,
}

impl PromptCache {
    /// Reads and writes the prefixes of `points` for `account` on `model` at `now`.
    pub fn apply(
        &mut self,
        account: &str,
        model: &str,
        points: &CachePoints,
        min_tokens: u64,
        now: Instant,
    ) -> CacheUse {
        let Some(&(last, _)) = points.breakpoints.last() else {
            return CacheUse::default();
        };
        let key = |digest: u64| (account.to_owned(), model.to_owned(), digest);
        self.entries.retain(|_, expires| *expires > now);
        // The furthest cached prefix at or up to 20 blocks before a breakpoint.
        let mut read_at = None;
        for &(at, ttl) in points.breakpoints.iter().rev() {
            let from = at.saturating_sub(LOOK_BACK_BLOCKS);
            let hit = (from..=at)
                .rev()
                .find(|i| self.entries.contains_key(&key(points.prefixes[*i].0)));
            if let Some(i) = hit {
                self.entries.insert(key(points.prefixes[i].0), now + ttl);
                read_at = Some(i);
                break;
            }
        }
        let read = read_at.map_or(0, |i| points.prefixes[i].1);
        let read = if read >= min_tokens { read } else { 0 };
        let mut written = 0;
        for &(at, ttl) in &points.breakpoints {
            let (digest, tokens) = points.prefixes[at];
            if tokens >= min_tokens && read_at.is_none_or(|r| at > r) {
                self.entries.entry(key(digest)).or_insert(now + ttl);
            }
        }
        let last_tokens = points.prefixes[last].1;
        if last_tokens >= min_tokens && last_tokens > read {
            written = last_tokens - read;
        }
        CacheUse { read, written }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn points(blocks: &[Value]) -> CachePoints {
        let mut points = CachePoints::default();
        for block in blocks {
            let chars = block["text"].as_str().map_or(0, str::len) * 40;
            points.block(block, chars);
        }
        points
    }

    fn text(text: &str, marked: bool) -> Value {
        match marked {
            true => json!({"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}),
            false => json!({"type": "text", "text": text}),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_prefix_is_written_once_then_read_within_its_ttl() {
        let mut cache = PromptCache::default();
        let turn = points(&[text("system prompt", true), text("question", true)]);
        let now = Instant::now();
        let first = cache.apply("genai", "m", &turn, 100, now);
        assert_eq!(first.read, 0);
        assert!(first.written > 0);
        let second = cache.apply("genai", "m", &turn, 100, now + Duration::from_secs(60));
        assert_eq!(
            second,
            CacheUse {
                read: first.written,
                written: 0
            }
        );
        // Another account or model shares nothing.
        assert_eq!(cache.apply("test", "m", &turn, 100, now).read, 0);
        // Five minutes after the last read it is gone.
        let later = now + Duration::from_secs(60 + 301);
        assert_eq!(cache.apply("genai", "m", &turn, 100, later).read, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_moved_marker_still_reads_the_prefix_written_last_turn() {
        let mut cache = PromptCache::default();
        let now = Instant::now();
        let one = points(&[text("system prompt", true), text("first question", true)]);
        let wrote = cache.apply("genai", "m", &one, 100, now).written;
        let two = points(&[
            text("system prompt", true),
            text("first question", false),
            text("an answer", false),
            text("second question", true),
        ]);
        let used = cache.apply("genai", "m", &two, 100, now);
        assert_eq!(used.read, wrote, "the prefix through the first question");
        assert_eq!(used.read + used.written, two.prefixes[3].1);
    }

    #[tokio::test(start_paused = true)]
    async fn prefixes_under_the_minimum_are_not_cached() {
        let mut cache = PromptCache::default();
        let now = Instant::now();
        let short = points(&[text("hi", true)]);
        assert_eq!(
            cache.apply("genai", "m", &short, 1_000_000, now),
            CacheUse::default()
        );
        assert_eq!(
            cache.apply("genai", "m", &short, 1_000_000, now),
            CacheUse::default()
        );
        assert_eq!(
            min_tokens("us.anthropic.claude-haiku-4-5-20251001-v1:0"),
            4096
        );
        assert_eq!(min_tokens("us.anthropic.claude-sonnet-4-6"), 1024);
    }
}
