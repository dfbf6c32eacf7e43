//! A client's JSON body, rewritten in a few top-level fields and otherwise forwarded as it
//! came: each value is copied as its raw text, never parsed into values and written again
//! (numbers keep their spelling, unknown fields and parts their shape, and nothing is
//! allocated per nested value).

use serde_json::value::RawValue;

/// `original` (a JSON object) with each of `fields` set to its raw JSON text, or removed
/// when it is `None`; the set fields first, then every other member in order. `None` when
/// `original` is not a JSON object.
pub fn splice(original: &[u8], fields: &[(&str, Option<&str>)]) -> Option<Vec<u8>> {
    let members = serde_json::from_slice::<RawMembers>(original).ok()?.0;
    let mut out = Vec::with_capacity(original.len() + 64);
    out.push(b'{');
    let mut first = true;
    let mut member = |out: &mut Vec<u8>, key: &str, value: &str| -> Option<()> {
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut *out, key).ok()?;
        out.push(b':');
        out.extend_from_slice(value.as_bytes());
        Some(())
    };
    for (key, value) in fields {
        if let Some(value) = value {
            member(&mut out, key, value)?;
        }
    }
    for (key, value) in &members {
        if !fields.iter().any(|(name, _)| name == key) {
            member(&mut out, key, value.get())?;
        }
    }
    out.push(b'}');
    Some(out)
}

/// The top-level member `key` of `original`, read as `T`.
pub fn field<T: serde::de::DeserializeOwned>(original: &[u8], key: &str) -> Option<T> {
    let members = serde_json::from_slice::<RawMembers>(original).ok()?.0;
    let (_, value) = members.into_iter().find(|(k, _)| k == key)?;
    serde_json::from_str(value.get()).ok()
}

/// A JSON object's members in order, each value as its raw text.
struct RawMembers<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for RawMembers<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Members<'a> {
            type Value = RawMembers<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    fields.push(entry);
                }
                Ok(RawMembers(fields))
            }
        }
        deserializer.deserialize_map(Members(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_set_removed_or_kept_as_written() {
        let original = br#"{"model":"g","input":["a","b"],"n":1.0e0,"extra":{"x":[1]}}"#;
        let out = splice(
            original,
            &[
                ("model", Some("\"m\"")),
                ("input", Some("[\"b\"]")),
                ("n", None),
            ],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"model":"m","input":["b"],"extra":{"x":[1]}}"#
        );
        assert_eq!(
            field::<Vec<String>>(original, "input"),
            Some(vec!["a".into(), "b".into()])
        );
        assert!(splice(b"[1]", &[]).is_none());
    }
}
