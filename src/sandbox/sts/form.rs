//! The awsQuery request shape STS speaks: an `application/x-www-form-urlencoded` body whose
//! `Action` names the operation. Only STS uses it here, so `POST /` hands every such form to STS.

use axum::http::HeaderMap;

/// Whether a `POST /` is an awsQuery call: a form body that names an `Action`.
pub fn is_query_call(headers: &HeaderMap, body: &[u8]) -> bool {
    is_form(headers) && form_action(body).is_some()
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// The `Action` of an awsQuery form body.
fn form_action(body: &[u8]) -> Option<&str> {
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
}

/// The decoded value of `key` in an `application/x-www-form-urlencoded` body.
pub fn form_value(form: &str, key: &str) -> Option<String> {
    form.split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| percent_decode(k) == key)
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_actions_are_found_among_parameters() {
        assert_eq!(
            form_action(b"Action=GetCallerIdentity&Version=2011-06-15"),
            Some("GetCallerIdentity")
        );
        assert_eq!(form_action(b"Version=2011-06-15&Action=X"), Some("X"));
        assert_eq!(form_action(b"Version=1"), None);
    }

    #[test]
    fn form_values_are_percent_decoded() {
        assert_eq!(
            form_value("Version=1&Action=Get%43aller+x", "Action").as_deref(),
            Some("GetCaller x")
        );
        assert_eq!(form_value("Version=1", "Action"), None);
    }
}
