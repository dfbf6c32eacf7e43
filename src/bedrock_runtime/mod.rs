//! Bedrock Runtime's own API as a surface of the gateway (issue 16, in progress): what boto3,
//! the AWS CLI and the AWS SDKs send to `/model/{modelId}/converse` and its siblings.
//!
//! Landed so far: [`converse::to_conversation`], a Converse request body read into the
//! canonical content model, every malformed field refused with Bedrock's ValidationException
//! wording and its path. The routes, the reply writers and the auth come next.

pub mod converse;
