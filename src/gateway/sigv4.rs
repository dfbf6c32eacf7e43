//! AWS Signature Version 4, verified: how a consumer with a configured key pair
//! (`sigv4_access_key_id` / `sigv4_secret_access_key`) calls Bedrock's routes with an AWS SDK's
//! own signing, as it would call Bedrock.
//!
//! The canonical request is rebuilt from exactly the headers the client's `SignedHeaders`
//! names, in its order (a signing library picks its own header set, so re-signing the request
//! with one would not reproduce a client's signature): method, the path as sent encoded once
//! more (what every SDK does for services other than S3), the query sorted, those headers
//! trimmed, and the payload's SHA-256 (`x-amz-content-sha256` when the client sent it). The
//! signature is compared in constant time, and `x-amz-date` must be within five minutes of
//! now, as AWS allows.

use std::time::{Duration, SystemTime};

use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The scheme of a SigV4 `Authorization` header.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// How far a request's `x-amz-date` may be from now.
pub const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// An `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization<'a> {
    pub access_key_id: &'a str,
    /// The scope: `YYYYMMDD`, Region, service.
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

/// Why a signed request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The header is not a SigV4 authorization AWS would read.
    Malformed,
    /// `x-amz-date` is missing, or more than [`MAX_SKEW`] from now.
    Expired,
    /// The signature is not the one the secret makes.
    Mismatch,
}

/// Whether the request is signed with SigV4 (rather than a Bearer key).
pub fn is_signed(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with(ALGORITHM))
}

/// Reads the `Authorization` header's parts; `None` when it is not a well-formed SigV4 one.
pub fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let rest = value.trim().strip_prefix(ALGORITHM)?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=')?;
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed = Some(value),
            "Signature" => signature = Some(value),
            _ => return None,
        }
    }
    let mut scope = credential?.split('/');
    let access_key_id = scope.next().filter(|k| !k.is_empty())?;
    let (date, region, service) = (scope.next()?, scope.next()?, scope.next()?);
    if scope.next() != Some("aws4_request") || scope.next().is_some() || date.len() != 8 {
        return None;
    }
    let signed_headers: Vec<&str> = signed?.split(';').collect();
    let signature = signature.filter(|s| s.len() == 64)?;
    Some(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers,
        signature,
    })
}

/// The parts of the request the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path as the client sent it (percent-encoded).
    pub path: &'a str,
    /// The query as sent, without `?`.
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    /// The authority of the URI, for `host` when the request has no `Host` header (HTTP/2).
    pub authority: Option<&'a str>,
    pub body: &'a [u8],
}

/// Checks `request`'s signature against `secret` at `now`.
pub fn verify(
    authorization: &Authorization<'_>,
    request: &SignedRequest<'_>,
    secret: &str,
    now: SystemTime,
) -> Result<(), Refusal> {
    let amz_date = header(request.headers, "x-amz-date").ok_or(Refusal::Expired)?;
    let signed_at = parse_amz_date(&amz_date).ok_or(Refusal::Malformed)?;
    let skew = match now.duration_since(signed_at) {
        Ok(behind) => behind,
        Err(ahead) => ahead.duration(),
    };
    if skew > MAX_SKEW {
        return Err(Refusal::Expired);
    }
    if !amz_date.starts_with(authorization.date) || !authorization.signed_headers.contains(&"host")
    {
        return Err(Refusal::Malformed);
    }
    let canonical = canonical_request(request, &authorization.signed_headers);
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{}/{}/{}/aws4_request\n{}",
        authorization.date,
        authorization.region,
        authorization.service,
        sha256_hex(canonical.as_bytes())
    );
    let key = generate_signing_key(
        secret,
        signed_at,
        authorization.region,
        authorization.service,
    );
    let expected = calculate_signature(key, string_to_sign.as_bytes());
    let presented = authorization.signature.as_bytes();
    match expected.len() == presented.len() && bool::from(expected.as_bytes().ct_eq(presented)) {
        true => Ok(()),
        false => Err(Refusal::Mismatch),
    }
}

/// The canonical request of `request`, over the headers `signed` names.
fn canonical_request(request: &SignedRequest<'_>, signed: &[&str]) -> String {
    let mut headers = String::new();
    for name in signed {
        let value = match *name {
            "host" => header(request.headers, "host")
                .or_else(|| request.authority.map(str::to_owned))
                .unwrap_or_default(),
            name => header(request.headers, name).unwrap_or_default(),
        };
        headers.push_str(name);
        headers.push(':');
        headers.push_str(&value);
        headers.push('\n');
    }
    let payload =
        header(request.headers, "x-amz-content-sha256").unwrap_or_else(|| sha256_hex(request.body));
    let path = match request.path {
        "" => "/".to_owned(),
        path => encode(path, true),
    };
    format!(
        "{}\n{path}\n{}\n{headers}\n{}\n{payload}",
        request.method,
        canonical_query(request.query),
        signed.join(";"),
    )
}

/// A header's values as SigV4 reads them: each trimmed, inner runs of spaces made one, joined
/// by commas.
fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// The query's parameters decoded, encoded as SigV4 encodes them, and sorted.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (encode(&decode(name), false), encode(&decode(value), false))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters kept (and `/` in a path), every
/// other byte `%XX` in upper case.
fn encode(text: &str, path: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            b'/' if path => out.push('/'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Percent-decoding (`+` stays a plus, as in SigV4's query encoding).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push(((hex(h).unwrap_or(0) << 4) | hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `YYYYMMDD'T'HHMMSS'Z'` as an instant.
fn parse_amz_date(value: &str) -> Option<SystemTime> {
    let time = chrono::NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%SZ").ok()?;
    let seconds = u64::try_from(time.and_utc().timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4::SigningParams;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    /// Signs a request as the AWS SDK for Rust signs it, returning its headers.
    fn signed_by_the_sdk(path: &str, body: &[u8], at: SystemTime) -> HeaderMap {
        let identity = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE000000001",
            SECRET,
            None,
            None,
            "test",
        )
        .into();
        let params = SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("bedrock")
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let url = format!("https://gateway.example:4000{path}");
        let headers = [
            ("host", "gateway.example:4000"),
            ("content-type", "application/json"),
        ];
        let signable =
            SignableRequest::new("POST", &url, headers.into_iter(), SignableBody::Bytes(body))
                .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut request = http::Request::builder()
            .method("POST")
            .uri(&url)
            .header("host", "gateway.example:4000")
            .header("content-type", "application/json")
            .body(())
            .unwrap();
        instructions.apply_to_request_http1x(&mut request);
        request.headers().clone()
    }

    fn check(
        headers: &HeaderMap,
        path: &str,
        body: &[u8],
        secret: &str,
        now: SystemTime,
    ) -> Result<(), Refusal> {
        let value = headers["authorization"].to_str().unwrap();
        let authorization = parse_authorization(value).expect("a SigV4 header");
        assert_eq!(authorization.access_key_id, "AKIDEXAMPLE000000001");
        let request = SignedRequest {
            method: "POST",
            path,
            query: "",
            headers,
            authority: None,
            body,
        };
        verify(&authorization, &request, secret, now)
    }

    #[test]
    fn the_sdks_own_signature_verifies_and_a_wrong_secret_or_body_does_not() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        // A model id with `:` as the SDK sends it: encoded once in the path.
        let path = "/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse";
        let body = br#"{"messages":[]}"#;
        let headers = signed_by_the_sdk(path, body, at);
        assert!(is_signed(&headers));
        assert_eq!(check(&headers, path, body, SECRET, at), Ok(()));
        let later = at + Duration::from_secs(299);
        assert_eq!(check(&headers, path, body, SECRET, later), Ok(()));
        assert_eq!(
            check(&headers, path, body, "not-the-secret", at),
            Err(Refusal::Mismatch)
        );
        assert_eq!(
            check(&headers, path, br#"{"messages":[1]}"#, SECRET, at),
            Err(Refusal::Mismatch)
        );
        assert_eq!(
            check(&headers, "/model/other/converse", body, SECRET, at),
            Err(Refusal::Mismatch)
        );
        let too_late = at + MAX_SKEW + Duration::from_secs(1);
        assert_eq!(
            check(&headers, path, body, SECRET, too_late),
            Err(Refusal::Expired)
        );
    }

    #[test]
    fn malformed_authorizations_are_not_read() {
        let good = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=".to_owned()
            + &"a".repeat(64);
        let parsed = parse_authorization(&good).unwrap();
        assert_eq!((parsed.region, parsed.service), ("us-east-1", "bedrock"));
        assert_eq!(parsed.signed_headers, ["host", "x-amz-date"]);
        for bad in [
            "Bearer abc",
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/bedrock, SignedHeaders=host, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=ab",
        ] {
            assert_eq!(parse_authorization(bad), None, "{bad}");
        }
    }

    #[test]
    fn queries_and_paths_are_encoded_as_sigv4_wants() {
        assert_eq!(canonical_query("b=2&a=x%20y&c"), "a=x%20y&b=2&c=");
        assert_eq!(
            encode("/model/a%3A0/converse", true),
            "/model/a%253A0/converse"
        );
        assert_eq!(decode("a%3Ab+c"), "a:b+c");
    }
}
