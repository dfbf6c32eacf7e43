//! The deadline for a connection's first request, counted from accept.
//!
//! hyper's own `header_read_timeout` starts only once its HTTP/1 parser runs, and hyper-util's
//! `auto::Builder` first reads the protocol preface to choose between HTTP/1 and HTTP/2 with no
//! timer at all: a client that connects and sends nothing held its socket forever. So the
//! stream itself carries the deadline. [`FirstRequestDeadline`] wraps the accepted socket:
//! while the connection's [`Slot`] is still waiting (no request has reached the service yet),
//! a read that is still pending at the deadline fails with `TimedOut`, and a read on a shed
//! connection fails with `ConnectionAborted`; hyper then drops the connection and the socket
//! closes. This covers the preface sniffing, HTTP/1 heads and HTTP/2 prior knowledge alike
//! (the HTTP/2 preface, SETTINGS and the first HEADERS frame must all arrive in time). Once the
//! first request arrives the deadline is off: later HTTP/1 heads are bounded by hyper's timer,
//! which also closes idle keep-alive connections.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::capacity::Slot;

/// A stream whose first request must arrive before a deadline.
pub struct FirstRequestDeadline<S> {
    inner: S,
    slot: Arc<Slot>,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
}

impl<S> FirstRequestDeadline<S> {
    /// `inner`, accepted now, whose first request must arrive within `timeout`.
    pub fn new(inner: S, slot: Arc<Slot>, timeout: Duration) -> Self {
        FirstRequestDeadline {
            inner,
            slot,
            deadline: Box::pin(tokio::time::sleep_until(Instant::now() + timeout)),
            timeout,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstRequestDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.slot.is_shed() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection shed: the gateway is at max_connections and no request had arrived",
            )));
        }
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if read.is_pending() && this.slot.is_waiting() {
            this.slot.wake_on_shed(cx.waker());
            if this.slot.is_shed() {
                cx.waker().wake_by_ref();
            } else if this.deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no request within {:?} of accept (gateway.header_timeout)",
                        this.timeout
                    ),
                )));
            }
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstRequestDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // Real time, short deadlines: tokio's paused clock needs the `test-util` feature, and the
    // tests wait for the event (the error, the bytes), never assert how long it took.
    const SHORT: Duration = Duration::from_millis(20);

    #[tokio::test]
    async fn a_silent_peer_is_cut_off_at_the_deadline() {
        let (client, server) = tokio::io::duplex(64);
        let slot = Arc::new(Slot::default());
        let mut stream = FirstRequestDeadline::new(server, slot, SHORT);
        let mut buf = [0u8; 8];
        let error = stream.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(
            error.to_string().contains("gateway.header_timeout"),
            "{error}"
        );
        drop(client);
    }

    #[tokio::test]
    async fn after_the_first_request_reads_wait_past_the_deadline() {
        let (mut client, server) = tokio::io::duplex(64);
        let slot = Arc::new(Slot::default());
        let mut stream = FirstRequestDeadline::new(server, Arc::clone(&slot), SHORT);
        slot.serving();
        // The deadline passes while nothing is sent; the stream must still deliver what comes.
        let late = tokio::spawn(async move {
            tokio::time::sleep(SHORT * 3).await;
            client.write_all(b"late").await.unwrap();
            client
        });
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"late");
        drop(late.await.unwrap());
    }

    #[tokio::test]
    async fn a_shed_connection_stops_waiting_for_its_first_bytes() {
        let (client, server) = tokio::io::duplex(64);
        let capacity = super::super::capacity::Capacity::new(1);
        let first = capacity.admit().unwrap();
        let mut stream =
            FirstRequestDeadline::new(server, Arc::clone(first.slot()), Duration::from_secs(3600));
        let reading = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            stream.read(&mut buf).await.map(|_| ())
        });
        // A newcomer at the limit sheds the waiting connection, whose pending read then fails.
        let _second = capacity.admit().unwrap();
        let error = reading.await.unwrap().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionAborted);
        drop(client);
    }
}
