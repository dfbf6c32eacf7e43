//! A client's JSON body, rewritten in a few top-level fields and otherwise forwarded as it
//! came: each value is copied as its raw text, never parsed into values and written again
//! (numbers keep their spelling, unknown fields and parts their shape, and nothing is
//! allocated per nested value).

use serde_json::value::RawValue;

/// `original` (a JSON object) with each of `fields` set to its raw JSON text, or removed
/// when it is `None`; the set fields first, then every other member in order. `None` when
/// `original` is not a JSON object.
pub fn splice(original: &[u8], fields: &[(&str, Option<&str>)]) -> Option<Vec<u8>> {
    RawObject::parse(original)?.splice(fields)
}

/// A JSON object read once into its members, each value as its raw text: to read a member
/// and splice without parsing the body twice.
pub struct RawObject<'a> {
    members: Vec<(String, &'a RawValue)>,
    len: usize,
}

impl<'a> RawObject<'a> {
    /// The members of `original`; `None` when it is not a JSON object.
    pub fn parse(original: &'a [u8]) -> Option<RawObject<'a>> {
        let members = serde_json::from_slice::<RawMembers>(original).ok()?.0;
        Some(RawObject {
            members,
            len: original.len(),
        })
    }

    /// The member `key`, read as `T`.
    pub fn field<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        let (_, value) = self.members.iter().find(|(k, _)| k == key)?;
        serde_json::from_str(value.get()).ok()
    }

    /// The object with `fields` set or removed, as [`splice`] says.
    pub fn splice(&self, fields: &[(&str, Option<&str>)]) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(self.len + 64);
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
        for (key, value) in &self.members {
            if !fields.iter().any(|(name, _)| name == key) {
                member(&mut out, key, value.get())?;
            }
        }
        out.push(b'}');
        Some(out)
    }
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
        let object = RawObject::parse(original).unwrap();
        assert_eq!(
            object.field::<Vec<String>>("input"),
            Some(vec!["a".into(), "b".into()])
        );
        assert!(splice(b"[1]", &[]).is_none());
    }
}
