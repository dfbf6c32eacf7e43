//! Reading request bodies within bounds: at most `gateway.max_request_size_mb` per request
//! (413), within `gateway.body_timeout` once the head is read (408, and the connection is
//! closed), and at most `gateway.max_buffered_body_mb` across every request at once (503 with
//! `Retry-After`).
//!
//! The budget is a counter of bytes ([`BodyBudget`]), each body byte counted
//! [`MEMORY_PER_BODY_BYTE`] times. A request reserves for its declared `Content-Length` before
//! a byte of its body is read, or grows its reservation chunk by chunk
//! when it declares none; a reservation that does not fit is refused before reading more. The
//! refused body is read on and thrown away chunk by chunk, so the client reads the 503 rather
//! than a reset. The reservation travels with the bytes ([`HeldBody`]) and is given back when they are dropped,
//! which is when the handler is done with the request: what it parsed from them (about as much
//! again) lives no longer, so the budget also bounds those copies.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::{HeaderValue, header};

use super::error::{ApiError, Dialect};
use crate::config::MEMORY_PER_BODY_BYTE;

/// How long a client refused for the budget is told to wait: bodies are read in well under it.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Bytes of request bodies held at once, across all requests, against a limit.
#[derive(Debug)]
pub struct BodyBudget {
    limit: usize,
    held: AtomicUsize,
}

impl BodyBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<BodyBudget> {
        Arc::new(BodyBudget {
            limit,
            held: AtomicUsize::new(0),
        })
    }

    /// Bytes reserved now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// Reserves `bytes`, or `None` when they do not fit beside what is held.
    pub fn reserve(self: &Arc<Self>, bytes: usize) -> Option<Reservation> {
        let mut reservation = Reservation {
            budget: Arc::clone(self),
            bytes: 0,
        };
        reservation.grow(bytes).then_some(reservation)
    }

    fn take(&self, bytes: usize) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }
}

/// Bytes reserved against a [`BodyBudget`], given back on drop.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<BodyBudget>,
    bytes: usize,
}

impl Reservation {
    /// Reserves `more` bytes; whether they fit (if not, nothing changes).
    pub fn grow(&mut self, more: usize) -> bool {
        let fits = self.budget.take(more);
        if fits {
            self.bytes += more;
        }
        fits
    }

    /// Makes sure at least `total` bytes are reserved; whether they fit.
    fn cover(&mut self, total: usize) -> bool {
        total <= self.bytes || self.grow(total - self.bytes)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// A request body read in full, holding its share of the budget until dropped.
#[derive(Debug)]
pub struct HeldBody {
    bytes: Bytes,
    _reservation: Reservation,
}

impl HeldBody {
    /// The bytes, shared (a cheap clone): for a request that keeps its body past parsing.
    pub fn bytes(&self) -> Bytes {
        self.bytes.clone()
    }
}

impl Deref for HeldBody {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// The bounds one body is read within.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Largest body accepted (413 past it).
    pub max_bytes: usize,
    /// Time from the start of reading to the last byte (408 past it).
    pub timeout: Duration,
}

/// Why a body was not read: an error for the client, and whether the connection must close
/// (the rest of the body is still on its way).
#[derive(Debug)]
pub struct BodyRefusal {
    pub error: ApiError,
    close: bool,
}

impl BodyRefusal {
    /// The response in `dialect`'s shape.
    pub fn into_response_as(self, dialect: Dialect) -> Response {
        let mut response = self.error.into_response_as(dialect);
        if self.close {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// Reads `body` (which declared `declared` bytes, if it did) within `limits`, holding its bytes
/// against `budget`.
pub async fn read(
    body: Body,
    declared: Option<usize>,
    limits: BodyLimits,
    budget: &Arc<BodyBudget>,
) -> Result<HeldBody, BodyRefusal> {
    let busy = || BodyRefusal {
        error: ApiError::bodies_over_budget(budget.limit, BUSY_RETRY_AFTER),
        close: false,
    };
    let too_large = || BodyRefusal {
        error: ApiError::payload_too_large(limits.max_bytes),
        close: true,
    };
    if declared.is_some_and(|n| n > limits.max_bytes) {
        return Err(too_large());
    }
    let cost = |bytes: usize| bytes.saturating_mul(MEMORY_PER_BODY_BYTE);
    let Some(mut reservation) = budget.reserve(cost(declared.unwrap_or(0))) else {
        discard(body, limits.timeout);
        return Err(busy());
    };
    let mut buffer = BytesMut::with_capacity(declared.unwrap_or(0));
    let mut chunks = body.into_data_stream();
    let reading = async {
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|_| too_large())?;
            let total = buffer.len() + chunk.len();
            if total > limits.max_bytes {
                return Err(too_large());
            }
            if !reservation.cover(cost(total)) {
                return Err(BodyRefusal {
                    close: true,
                    ..busy()
                });
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok(())
    };
    match tokio::time::timeout(limits.timeout, reading).await {
        Ok(Ok(())) => Ok(HeldBody {
            bytes: buffer.freeze(),
            _reservation: reservation,
        }),
        Ok(Err(refusal)) => Err(refusal),
        Err(_) => Err(BodyRefusal {
            error: ApiError::body_timeout(limits.timeout),
            close: true,
        }),
    }
}

/// Reads `body` to its end and drops each chunk as it comes, within `timeout`, on its own task:
/// the refusal is answered at once, and the client, still sending, reads it instead of a reset
/// (a socket closed with unread bytes is reset). Holds no more than one chunk at a time.
fn discard(body: Body, timeout: Duration) {
    tokio::spawn(async move {
        let mut chunks = body.into_data_stream();
        let _ = tokio::time::timeout(timeout, async {
            while let Some(Ok(_)) = chunks.next().await {}
        })
        .await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    const LIMITS: BodyLimits = BodyLimits {
        max_bytes: 100,
        timeout: Duration::from_secs(30),
    };

    #[test]
    fn reservations_fit_the_budget_and_are_given_back_on_drop() {
        let budget = BodyBudget::new(100);
        let a = budget.reserve(60).unwrap();
        assert!(budget.reserve(50).is_none());
        let mut b = budget.reserve(40).unwrap();
        assert!(!b.grow(1));
        assert_eq!(budget.held(), 100);
        drop(a);
        assert!(b.grow(60));
        assert_eq!(budget.held(), 100);
        drop(b);
        assert_eq!(budget.held(), 0);
    }

    #[tokio::test]
    async fn a_declared_body_past_the_budget_is_refused_before_it_is_read() {
        let budget = BodyBudget::new(100);
        let _held = budget.reserve(60).unwrap();
        // 20 bytes would fit as bytes, not with their copies (100).
        let refusal = read(Body::from(vec![b'x'; 20]), Some(20), LIMITS, &budget)
            .await
            .unwrap_err();
        assert_eq!(refusal.error.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refusal.error.retry_after, Some(BUSY_RETRY_AFTER));
        assert_eq!(budget.held(), 60);
    }

    #[tokio::test]
    async fn an_undeclared_body_grows_its_reservation_and_gives_it_back() {
        let budget = BodyBudget::new(100);
        let chunks = futures_util::stream::iter(
            [b"ab".as_slice(), b"cde".as_slice()].map(|c| Ok::<_, std::io::Error>(Bytes::from(c))),
        );
        let body = read(Body::from_stream(chunks), None, LIMITS, &budget)
            .await
            .unwrap();
        assert_eq!(&*body, b"abcde");
        assert_eq!(
            budget.held(),
            5 * MEMORY_PER_BODY_BYTE,
            "each byte costs its copies"
        );
        drop(body);
        assert_eq!(budget.held(), 0);
    }

    #[tokio::test]
    async fn an_undeclared_body_past_the_size_limit_is_413_and_holds_nothing() {
        let budget = BodyBudget::new(1000);
        let body = Body::from(vec![b'x'; 101]);
        let refusal = read(body, None, LIMITS, &budget).await.unwrap_err();
        assert_eq!(refusal.error.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(budget.held(), 0);
    }

    #[tokio::test]
    async fn a_body_that_stalls_is_408_and_closes_the_connection() {
        let budget = BodyBudget::new(1000);
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        sender
            .send(Ok(Bytes::from_static(b"{\"model\"")))
            .await
            .unwrap();
        let stream = futures_util::stream::unfold(receiver, |mut r| async move {
            r.recv().await.map(|item| (item, r))
        });
        // Real time, a short timeout: the test waits for the 408, it never times it.
        let limits = BodyLimits {
            timeout: Duration::from_millis(20),
            ..LIMITS
        };
        let refusal = read(Body::from_stream(stream), Some(50), limits, &budget)
            .await
            .unwrap_err();
        assert_eq!(refusal.error.status, StatusCode::REQUEST_TIMEOUT);
        let response = refusal.into_response_as(Dialect::OpenAi);
        assert_eq!(response.headers()[header::CONNECTION], "close");
        assert_eq!(budget.held(), 0);
        drop(sender);
    }
}
