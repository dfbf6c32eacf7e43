//! Bedrock Runtime's own API as a surface of the gateway: what boto3, the AWS CLI and the AWS
//! SDKs send to `/model/{modelId}/converse` and its siblings, in the pipeline's terms.
//!
//! - [`converse::to_conversation`]: a Converse request body read into the canonical content
//!   model, every malformed field refused with Bedrock's ValidationException wording and its
//!   path;
//! - [`call`]: the two request kinds the pipeline carries (a Converse conversation, an
//!   InvokeModel body kept as the client's bytes), their reservations and needs;
//! - [`reply`]: Converse's reply and usage written from the canonical blocks, whatever served;
//! - [`eventstream`]: the binary event-stream frames of both streaming calls.
//!
//! The HTTP side (routes, auth, errors) is the gateway's (`gateway::bedrock`).

pub mod call;
pub mod converse;
pub mod eventstream;
pub mod reply;

pub use call::{ConverseCall, CountInput, InvokeCall};
