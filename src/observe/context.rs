//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>): the `traceparent` a client sends
//! is honoured (its trace id kept, its span the parent of the request's), and each upstream
//! call carries one naming its attempt's span.

use std::hash::BuildHasher;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// A trace id: 16 bytes, never all zero.
pub type TraceId = [u8; 16];
/// A span id: 8 bytes, never all zero.
pub type SpanId = [u8; 8];

/// The caller's place in a trace, read from its `traceparent` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// The caller sampled the trace (`flags & 01`).
    pub sampled: bool,
}

/// Reads a `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`); `None` for anything the
/// specification says to ignore (a bad length, upper-case or non-hex digits, all-zero ids,
/// version `ff`). A later version may append fields after a `-`, which are ignored.
pub fn parse_traceparent(header: &str) -> Option<Parent> {
    let bytes = header.as_bytes();
    if bytes.len() < 55 || bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
        return None;
    }
    let version = hex_bytes::<1>(&header[0..2])?[0];
    match (version, bytes.len()) {
        (0xff, _) => return None,
        (0, 55) => {}
        (0, _) => return None,
        (_, 55) => {}
        (_, _) if bytes[55] == b'-' => {}
        _ => return None,
    }
    let trace_id = hex_bytes::<16>(&header[3..35])?;
    let span_id = hex_bytes::<8>(&header[36..52])?;
    let flags = hex_bytes::<1>(&header[53..55])?[0];
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some(Parent {
        trace_id,
        span_id,
        sampled: flags & 1 == 1,
    })
}

/// The `traceparent` of a call made from span `span_id` of trace `trace_id`.
pub fn traceparent(trace_id: &TraceId, span_id: &SpanId, sampled: bool) -> String {
    let mut out = String::with_capacity(55);
    out.push_str("00-");
    push_hex(&mut out, trace_id);
    out.push('-');
    push_hex(&mut out, span_id);
    out.push_str(if sampled { "-01" } else { "-00" });
    out
}

/// Lower-case hex, as the header and OTLP/JSON write ids.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

/// `N` bytes from `2N` lower-case hex digits.
fn hex_bytes<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0; N];
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// Fresh ids: random per process, a counter apart (ids must be unique, not secret).
fn next_random() -> u128 {
    static SEED: LazyLock<u64> = LazyLock::new(|| {
        std::collections::hash_map::RandomState::new().hash_one(std::process::id())
    });
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    SmallRng::seed_from_u64(*SEED ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15)).random()
}

/// A new trace id.
pub fn new_trace_id() -> TraceId {
    loop {
        let id = next_random().to_be_bytes();
        if id != [0; 16] {
            return id;
        }
    }
}

/// A new span id.
pub fn new_span_id() -> SpanId {
    loop {
        let id = (next_random() as u64).to_be_bytes();
        if id != [0; 8] {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_specifications_example_reads_and_writes_back() {
        let parent = parse_traceparent(SAMPLE).expect("valid");
        assert_eq!(hex(&parent.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex(&parent.span_id), "00f067aa0ba902b7");
        assert!(parent.sampled);
        assert_eq!(traceparent(&parent.trace_id, &parent.span_id, true), SAMPLE);
    }

    #[test]
    fn what_the_specification_says_to_ignore_is_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_later_version_may_append_fields() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what-next";
        let parent = parse_traceparent(later).expect("a later version's prefix is read");
        assert!(!parent.sampled);
    }

    #[test]
    fn fresh_ids_differ_and_are_never_zero() {
        let (a, b) = (new_trace_id(), new_trace_id());
        assert_ne!(a, b);
        assert_ne!(new_span_id(), [0; 8]);
    }
}
