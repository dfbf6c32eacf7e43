//! Relaying a streamed answer to the client: a task reads the upstream's items, hands each to
//! the surface's [`Encoder`] and sends the bytes on, then settles the call once
//! ([`Settlement`]) with how the stream ended.
//!
//! The upstream going quiet for longer than the call's budget cuts the stream off like an
//! upstream error. An upstream failure after the first byte ends the stream with the surface's
//! error event, never a silent cut. A client that hangs up ends the relay at the next item.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::settlement::{Ending, Settlement};
use crate::openai::Usage;
use crate::provider::{ChunkStream, ErrorKind, ProviderError, StreamItem};

/// A surface's wire format for a streamed answer.
pub trait Encoder: Send + 'static {
    /// The bytes for one upstream item; `None` to send nothing for it.
    fn item(&mut self, item: &StreamItem) -> Option<Bytes>;
    /// The bytes that close a stream that ended well (`data: [DONE]`), if any.
    fn end(&mut self) -> Option<Bytes>;
    /// The error event for a stream the upstream cut off, and the error's kind for the metrics.
    fn failure(&mut self, error: &ProviderError) -> (Bytes, ErrorKind);
}

/// A streamed answer past its first event, with the settlement it owes.
pub struct StreamAnswer {
    pub(super) stream: ChunkStream,
    pub(super) settlement: Settlement,
    /// The longest wait for the next item.
    pub(super) idle_timeout: Duration,
}

/// The bytes a relay sends on: what a response body streams.
pub type Relayed = Result<Bytes, std::io::Error>;

impl StreamAnswer {
    /// Starts relaying on a task of its own; the body to stream to the client.
    pub fn relay(self, encoder: impl Encoder) -> impl Stream<Item = Relayed> + Send + 'static {
        let (tx, rx) = mpsc::channel::<Relayed>(32);
        tokio::spawn(self.run(encoder, tx));
        futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
    }

    async fn run(self, mut encoder: impl Encoder, tx: mpsc::Sender<Relayed>) {
        let StreamAnswer {
            mut stream,
            settlement,
            idle_timeout,
        } = self;
        let mut usage: Option<Usage> = None;
        let end = loop {
            let mut item = match tokio::time::timeout(idle_timeout, stream.next()).await {
                Err(_) => break End::Failed(stalled()),
                Ok(None) => break End::Finished,
                Ok(Some(Err(error))) => break End::Failed(error),
                Ok(Some(Ok(item))) => item,
            };
            if let Some(u) = item.usage() {
                usage = Some(u.clone());
            }
            // The headers left before the usage was known: the usage chunk says the cost.
            if let StreamItem::Usage {
                usage: counts,
                chunk: Some(chunk),
            } = &mut item
                && let (Some(usd), Some(chunk_usage)) =
                    (settlement.cost(counts), chunk.usage.as_mut())
            {
                chunk_usage.extra.insert("cost".into(), usd_json(usd));
            }
            let Some(bytes) = encoder.item(&item) else {
                continue;
            };
            if tx.send(Ok(bytes)).await.is_err() {
                break End::ClientGone;
            }
        };
        let usage = usage.as_ref();
        match end {
            End::Finished => {
                if let Some(bytes) = encoder.end() {
                    let _ = tx.send(Ok(bytes)).await;
                }
                settlement.settle(Ending::Answered(usage)).await;
            }
            End::Failed(error) => {
                let deployment = settlement.deployment_id();
                tracing::warn!(deployment = %deployment, error = %error, "stream failed after its first byte");
                let (bytes, kind) = encoder.failure(&error);
                settlement.count_error(kind);
                let _ = tx.send(Ok(bytes)).await;
                settlement.settle(Ending::CutOff(&error, usage)).await;
            }
            End::ClientGone => settlement.settle(Ending::Abandoned(usage)).await,
        }
    }
}

/// How the relay loop ended.
enum End {
    Finished,
    Failed(ProviderError),
    ClientGone,
}

fn stalled() -> ProviderError {
    ProviderError::Timeout {
        message: "the upstream stream stalled".into(),
    }
}

/// A cost in USD as a JSON number, to the nano-dollar.
fn usd_json(usd: f64) -> serde_json::Value {
    serde_json::Number::from_f64((usd * 1e9).round() / 1e9)
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}
