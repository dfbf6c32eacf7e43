//! STS in the sandbox (awsQuery): `GetCallerIdentity` names the account of the calling key, so
//! `aws sts get-caller-identity` and the SDKs' identity checks work against it.
//!
//! The caller itself comes from the SigV4 scope, read by the shared `sandbox::auth` (every AWS
//! service here signs the same way), so no credential handling is STS's own.
//!
//! - `api`: `GetCallerIdentity`'s XML reply (a stable IAM user id), and the awsQuery XML error
//!   for any other action.
//! - `form`: the awsQuery form body: is this call STS's, and its decoded parameters.

mod api;
mod form;

pub use api::{caller_identity_xml, handle};
pub(super) use form::is_query_call;
