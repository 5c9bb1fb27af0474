//! A header field's value as [`super::Header`] keeps it: up to [`INLINE`] bytes in
//! place, a longer one on the heap. Nearly every value a proxy meets — `Host`,
//! `Date`, `Server`, `Content-Type`, `Content-Length`, `Connection` — fits, so a
//! parsed head costs one allocation (its list) instead of one per line.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// The longest value kept in place: a `Date` (29 bytes) fits, and the whole value
/// is as large as a `Vec` and a length byte.
pub const INLINE: usize = 30;

/// A field value's bytes (obs-text allowed, so not text).
#[derive(Clone)]
pub struct HeaderValue(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl HeaderValue {
    /// A copy of `value`, in place when it fits.
    pub fn copy_of(value: &[u8]) -> HeaderValue {
        match u8::try_from(value.len()) {
            Ok(len) if value.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                if let Some(dst) = bytes.get_mut(..value.len()) {
                    dst.copy_from_slice(value);
                }
                HeaderValue(Repr::Inline { len, bytes })
            }
            _ => HeaderValue(Repr::Heap(value.into())),
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Repr::Heap(bytes) => bytes,
        }
    }

    /// Whether the value lives on the heap (it is longer than [`INLINE`]).
    #[cfg(test)]
    fn is_on_heap(&self) -> bool {
        matches!(self.0, Repr::Heap(_))
    }
}

impl Default for HeaderValue {
    fn default() -> Self {
        HeaderValue::copy_of(b"")
    }
}

impl Deref for HeaderValue {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl From<&[u8]> for HeaderValue {
    fn from(value: &[u8]) -> Self {
        HeaderValue::copy_of(value)
    }
}

impl<const N: usize> From<&[u8; N]> for HeaderValue {
    fn from(value: &[u8; N]) -> Self {
        HeaderValue::copy_of(value)
    }
}

impl From<&str> for HeaderValue {
    fn from(value: &str) -> Self {
        HeaderValue::copy_of(value.as_bytes())
    }
}

impl From<Vec<u8>> for HeaderValue {
    /// Kept on the heap as it is when it does not fit in place.
    fn from(value: Vec<u8>) -> Self {
        if value.len() <= INLINE {
            HeaderValue::copy_of(&value)
        } else {
            HeaderValue(Repr::Heap(value.into_boxed_slice()))
        }
    }
}

impl From<String> for HeaderValue {
    fn from(value: String) -> Self {
        HeaderValue::from(value.into_bytes())
    }
}

impl PartialEq for HeaderValue {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for HeaderValue {}

impl Hash for HeaderValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.as_slice().escape_ascii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_stay_in_place_and_long_ones_go_to_the_heap() {
        let date = b"Tue, 01 Dec 2026 22:46:00 GMT";
        let fits = vec![b'x'; INLINE];
        let long = vec![b'y'; INLINE + 1];
        // (value, on the heap)
        let rows: [(&[u8], bool); 4] = [(b"", false), (date, false), (&fits, false), (&long, true)];
        for (value, heap) in rows {
            for v in [HeaderValue::from(value), HeaderValue::from(value.to_vec())] {
                assert_eq!(v.as_slice(), value);
                assert_eq!(v.is_on_heap(), heap, "{} bytes", value.len());
                assert_eq!(v, HeaderValue::copy_of(value), "equal whatever the place");
            }
        }
        assert_eq!(&*HeaderValue::from("keep-alive"), b"keep-alive");
        assert_eq!(HeaderValue::default().len(), 0);
        assert_eq!(
            std::mem::size_of::<HeaderValue>(),
            32,
            "as large as a Vec and its length, no larger"
        );
    }
}
