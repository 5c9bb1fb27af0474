//! A fast hasher for the maps the request path reads: listen groups by address, MIME
//! types by extension, server names, upstream pools. Their keys come from the
//! configuration, never from clients, so the hash-flooding defence of the standard
//! SipHash buys nothing there, and SipHash cost about 600 instructions per request
//! (callgrind, docs/performance.md). This is the multiply-rotate hash rustc uses
//! (FxHash), written out here: a word at a time, no state beyond one `u64`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with [`FastHasher`]. Only for keys a client cannot choose.
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// FxHash: `hash = (hash.rotate_left(5) ^ word) * SEED` per word.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher {
    hash: u64,
}

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_hash_equal_and_the_map_finds_them() {
        let mut m: FastMap<String, u32> = FastMap::default();
        for (i, k) in ["css", "js", "html", "a-much-longer-extension-name", ""]
            .iter()
            .enumerate()
        {
            m.insert((*k).to_string(), i as u32);
        }
        assert_eq!(m.get("js"), Some(&1));
        assert_eq!(m.get("a-much-longer-extension-name"), Some(&3));
        assert_eq!(m.get(""), Some(&4));
        assert_eq!(m.get("jss"), None);
        let (mut a, mut b) = (FastHasher::default(), FastHasher::default());
        a.write(b"abc");
        b.write(b"abd");
        assert_ne!(a.finish(), b.finish());
    }
}
