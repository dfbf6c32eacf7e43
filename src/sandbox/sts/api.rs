//! The STS operations: `GetCallerIdentity` names the account of the calling key; any other
//! action gets the awsQuery XML error STS sends for it.
//!
//! The caller is an IAM user `arn:aws:iam::ACCOUNT:user/PRINCIPAL` whose user id is derived
//! from the account and principal, so it is stable across runs like a real one.

use std::hash::{BuildHasher, RandomState};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::form::form_value;

/// The namespace of every STS reply.
const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Answers one STS call (a form-encoded body) for the caller `principal` in `account_id`.
pub fn handle(account_id: &str, principal: &str, body: &[u8]) -> Response {
    let form = String::from_utf8_lossy(body);
    let request_id = request_id();
    match form_value(&form, "Action").as_deref() {
        Some("GetCallerIdentity") => xml_response(
            StatusCode::OK,
            caller_identity_xml(account_id, principal, &request_id),
        ),
        Some(other) => error_xml(
            "InvalidAction",
            &format!("Could not find operation {other} for version 2011-06-15"),
            &request_id,
        ),
        None => error_xml("MissingAction", "Missing Action", &request_id),
    }
}

/// The `GetCallerIdentity` reply.
pub fn caller_identity_xml(account_id: &str, principal: &str, request_id: &str) -> String {
    let account = escape(account_id);
    let arn = format!("arn:aws:iam::{account}:user/{}", escape(principal));
    let user_id = user_id(account_id, principal);
    format!(
        "<GetCallerIdentityResponse xmlns=\"{XMLNS}\"><GetCallerIdentityResult><Arn>{arn}</Arn>\
         <UserId>{user_id}</UserId><Account>{account}</Account></GetCallerIdentityResult>\
         <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
    )
}

fn error_xml(code: &str, message: &str, request_id: &str) -> Response {
    let body = format!(
        "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>Sender</Type><Code>{code}</Code>\
         <Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        escape(message)
    );
    xml_response(StatusCode::BAD_REQUEST, body)
}

fn xml_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// `AIDA` and 17 base-32 characters from an FNV-1a hash of the account and principal.
fn user_id(account_id: &str, principal: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for byte in account_id.bytes().chain([b':']).chain(principal.bytes()) {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    let suffix: String = (0..17)
        .map(|i| char::from(ALPHABET[((hash >> (i * 5)) & 31) as usize]))
        .collect();
    format!("AIDA{suffix}")
}

/// A fresh request id in the service's UUID shape.
fn request_id() -> String {
    let high = RandomState::new().hash_one(0u8);
    let low = RandomState::new().hash_one(high);
    let hex = format!("{high:016x}{low:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> (StatusCode, String, String) {
        let status = response.status();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            content_type,
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn get_caller_identity_names_the_account_and_user() {
        let (status, content_type, xml) = body_of(handle(
            "111111111111",
            "genai",
            b"Action=GetCallerIdentity&Version=2011-06-15",
        ))
        .await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::OK, "text/xml")
        );
        assert!(xml.starts_with(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult>\
             <Arn>arn:aws:iam::111111111111:user/genai</Arn><UserId>AIDA"
        ));
        assert!(xml.contains("</UserId><Account>111111111111</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>"));
        assert!(xml.ends_with("</RequestId></ResponseMetadata></GetCallerIdentityResponse>"));
    }

    #[test]
    fn user_ids_are_stable_and_differ_by_caller() {
        let id = user_id("111111111111", "genai");
        assert_eq!(id, user_id("111111111111", "genai"));
        assert_ne!(id, user_id("222222222222", "genai"));
        assert_eq!(id.len(), 21);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
    }

    #[test]
    fn principals_are_escaped() {
        assert!(
            caller_identity_xml("1", "a<b&c", "r")
                .contains("<Arn>arn:aws:iam::1:user/a&lt;b&amp;c</Arn>")
        );
    }

    #[tokio::test]
    async fn other_actions_get_an_awsquery_error() {
        let (status, _, xml) =
            body_of(handle("1", "p", b"Action=AssumeRole&Version=2011-06-15")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            xml.contains("<Error><Type>Sender</Type><Code>InvalidAction</Code><Message>"),
            "{xml}"
        );
        assert!(xml.contains("</Error><RequestId>"));
        let (status, _, xml) = body_of(handle("1", "p", b"Version=2011-06-15")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(xml.contains("<Code>MissingAction</Code>"));
    }
}
