//! The payload codec: postcard, a compact positional serde format.
//!
//! Chosen for speed and size (no field names on the wire, varint integers).
//! Positional means a payload is read with the layout it was written with:
//! the envelope carries the type's version, and a receiver decodes only the
//! versions it registered. `docs/REMOTE.md` states the evolution rules.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a payload could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payload codec: {0}")]
pub struct PayloadError(pub String);

/// Serializes a message.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, PayloadError> {
    postcard::to_stdvec(value).map_err(|e| PayloadError(e.to_string()))
}

/// Appends a serialized message to `buf`, reusing its allocation.
pub fn encode_into<T: Serialize>(value: &T, buf: &mut Vec<u8>) -> Result<(), PayloadError> {
    let start = buf.len();
    let out =
        postcard::to_extend(value, std::mem::take(buf)).map_err(|e| PayloadError(e.to_string()));
    match out {
        Ok(v) => {
            *buf = v;
            Ok(())
        }
        Err(e) => {
            buf.truncate(start);
            Err(e)
        }
    }
}

/// Deserializes a message. Every byte must be used: trailing bytes mean the
/// sender wrote another layout, and a misread payload is worse than none.
/// Allocation is bounded by the input: a length prefix larger than what is
/// left fails instead of reserving it.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PayloadError> {
    let (value, rest) =
        postcard::take_from_bytes::<T>(bytes).map_err(|e| PayloadError(e.to_string()))?;
    if !rest.is_empty() {
        return Err(PayloadError(format!(
            "{} trailing bytes (another layout?)",
            rest.len()
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = encode(&(1u32, 2u32)).unwrap();
        assert_eq!(decode::<(u32, u32)>(&bytes).unwrap(), (1, 2));
        bytes.push(0);
        assert!(decode::<(u32, u32)>(&bytes).is_err());
        assert!(decode::<u32>(&encode(&(1u32, 2u32)).unwrap()).is_err());
    }

    #[test]
    fn a_huge_declared_length_fails_without_reserving_it() {
        // A Vec<u64> that claims 2^32 elements in a five-byte payload.
        let bytes = [0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(decode::<Vec<u64>>(&bytes).is_err());
    }

    #[test]
    fn encode_into_appends_and_keeps_the_buffer_on_error() {
        let mut buf = b"head".to_vec();
        encode_into(&7u8, &mut buf).unwrap();
        assert_eq!(buf, b"head\x07");
    }
}
