//! The few protobuf encodings OTLP needs (varints, fixed64, length-delimited fields), written by
//! hand: a protobuf code generator would be a build step and a dependency for four messages.

/// Wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

/// A protobuf message being written.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer::default()
    }

    pub fn with_capacity(bytes: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(bytes),
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.buf.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.buf.push(value as u8);
    }

    fn tag(&mut self, field: u32, wire_type: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire_type));
    }

    /// An unsigned or enum field (int64 values as their two's complement, as protobuf does).
    pub fn uint(&mut self, field: u32, value: u64) {
        self.tag(field, VARINT);
        self.varint(value);
    }

    pub fn bool(&mut self, field: u32, value: bool) {
        self.uint(field, u64::from(value));
    }

    pub fn fixed64(&mut self, field: u32, value: u64) {
        self.tag(field, FIXED64);
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    pub fn double(&mut self, field: u32, value: f64) {
        self.fixed64(field, value.to_bits());
    }

    pub fn bytes(&mut self, field: u32, value: &[u8]) {
        self.tag(field, LEN);
        self.varint(value.len() as u64);
        self.buf.extend_from_slice(value);
    }

    /// Fields encoded before (a cached block of attributes), appended as they are.
    pub fn raw(&mut self, encoded: &[u8]) {
        self.buf.extend_from_slice(encoded);
    }

    pub fn string(&mut self, field: u32, value: &str) {
        self.bytes(field, value.as_bytes());
    }

    /// An embedded message, written by `write` in place: one byte is kept for its length and
    /// widened afterwards when the message is 128 bytes or more (no buffer per message).
    pub fn message(&mut self, field: u32, write: impl FnOnce(&mut Writer)) {
        self.tag(field, LEN);
        let at = self.buf.len();
        self.buf.push(0);
        write(self);
        let len = self.buf.len() - at - 1;
        if len < 0x80 {
            self.buf[at] = len as u8;
            return;
        }
        let mut prefix = [0u8; 10];
        let mut n = 0;
        let mut value = len as u64;
        while value >= 0x80 {
            prefix[n] = (value as u8) | 0x80;
            value >>= 7;
            n += 1;
        }
        prefix[n] = value as u8;
        self.buf[at] = prefix[0];
        self.buf
            .splice(at + 1..at + 1, prefix[1..=n].iter().copied());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_the_protobuf_documentations_examples() {
        // "150 in field 1" is 08 96 01; "testing" in field 2 is 12 07 74 65 73 74 69 6e 67.
        let mut w = Writer::new();
        w.uint(1, 150);
        w.string(2, "testing");
        assert_eq!(
            w.into_bytes(),
            [
                0x08, 0x96, 0x01, 0x12, 0x07, b't', b'e', b's', b't', b'i', b'n', b'g'
            ]
        );
        let mut w = Writer::new();
        w.message(3, |inner| inner.uint(1, 150));
        assert_eq!(w.into_bytes(), [0x1a, 0x03, 0x08, 0x96, 0x01]);
        // A message of 200 bytes takes a two-byte length (c8 01).
        let mut w = Writer::new();
        w.message(1, |inner| inner.bytes(2, &[7; 197]));
        let bytes = w.into_bytes();
        assert_eq!(&bytes[..5], [0x0a, 0xc8, 0x01, 0x12, 0xc5]);
        assert_eq!(bytes.len(), 3 + 200);
        let mut w = Writer::new();
        w.fixed64(7, 1);
        assert_eq!(w.into_bytes(), [0x39, 1, 0, 0, 0, 0, 0, 0, 0]);
    }
}
