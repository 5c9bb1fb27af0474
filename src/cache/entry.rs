//! A cached response on disk: one file per key, named by the key's MD5 under the
//! `levels` directories as nginx names them (`levels=1:2`: `c/29/b7f5...029c`). The
//! file starts with a fixed header, then the key (checked on every hit), the `Vary`
//! names, the validators, the response head (`Name: value` lines), then the body,
//! which is sent from the file as it is (sendfile where the transport allows).
//!
//! ```text
//! 0   "VCACHE01"          8   expires (Unix s)     16  body stored at (Unix ms)
//! 24  last_modified (s)   32  stale-while-revalidate (s, u32) | stale-if-error (u32)
//! 40  variant (16 bytes: MD5 of the request's Vary values; zero when none)
//! 56  status u16 | key len u16 | vary len u16 | etag len u16
//! 64  head len u32 | 0 u32    72  body length u64
//! 80  key | vary | etag | head | body
//! ```
//!
//! The format is vestibule's own (nginx's cache files are its in-memory structs);
//! a directory nginx filled is not read, and the loader skips its files.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::http1::Header;

pub const MAGIC: &[u8; 8] = b"VCACHE01";
/// Bytes before the variable parts.
pub const FIXED: usize = 80;
/// How much of a file the first read takes (the header and a usual head).
const FIRST_READ: usize = 4096;

/// Everything in a file before the body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    pub expires: u64,
    /// When the body was stored (Unix milliseconds): a variant stored before its
    /// main entry is out of date.
    pub stored: u64,
    pub last_modified: u64,
    pub while_revalidate: u32,
    pub if_error: u32,
    pub variant: [u8; 16],
    pub status: u16,
    pub key: String,
    /// The response's `Vary` field names, lowercased, comma-separated.
    pub vary: String,
    pub etag: String,
    pub headers: Vec<Header>,
    pub body_len: u64,
    /// Where the body starts.
    pub body_offset: u64,
}

/// The file name of a key: its MD5 in hex.
pub fn hex(key: &[u8; 16]) -> String {
    let mut s = String::with_capacity(32);
    for b in key {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The file of `key` under `root` with `levels`: the last characters of the name,
/// level by level (nginx's `ngx_create_hashed_filename`).
pub fn path_of(root: &Path, levels: &[u8], key: &[u8; 16]) -> PathBuf {
    let name = hex(key);
    let mut p = root.to_path_buf();
    let mut end = name.len();
    for &l in levels {
        let l = usize::from(l);
        p.push(&name[end - l..end]);
        end -= l;
    }
    p.push(name);
    p
}

/// The key a file name spells (the loader's check), if it is one.
pub fn key_of_name(name: &str) -> Option<[u8; 16]> {
    if name.len() != 32 {
        return None;
    }
    let mut k = [0u8; 16];
    for (i, b) in k.iter_mut().enumerate() {
        *b = u8::from_str_radix(name.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(k)
}

impl Meta {
    /// The bytes before the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut head = Vec::new();
        for h in &self.headers {
            head.extend_from_slice(h.name.as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(&h.value);
            head.extend_from_slice(b"\r\n");
        }
        let mut out = Vec::with_capacity(FIXED + self.key.len() + head.len() + 64);
        out.extend_from_slice(MAGIC);
        for v in [self.expires, self.stored, self.last_modified] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.while_revalidate.to_le_bytes());
        out.extend_from_slice(&self.if_error.to_le_bytes());
        out.extend_from_slice(&self.variant);
        out.extend_from_slice(&self.status.to_le_bytes());
        for len in [self.key.len(), self.vary.len(), self.etag.len()] {
            out.extend_from_slice(&(len.min(usize::from(u16::MAX)) as u16).to_le_bytes());
        }
        out.extend_from_slice(&(head.len() as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&self.body_len.to_le_bytes());
        out.extend_from_slice(self.key.as_bytes());
        out.extend_from_slice(self.vary.as_bytes());
        out.extend_from_slice(self.etag.as_bytes());
        out.extend_from_slice(&head);
        out
    }

    /// Reads the header of `file` (`None`: not a complete cache file).
    pub fn read(file: &File) -> io::Result<Option<Meta>> {
        let mut buf = vec![0u8; FIRST_READ];
        let n = read_at_most(file, &mut buf, 0)?;
        buf.truncate(n);
        if buf.len() < FIXED || &buf[..8] != MAGIC {
            return Ok(None);
        }
        let u64_at = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&buf[at..at + 8]);
            u64::from_le_bytes(w)
        };
        let u32_at = |at: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(&buf[at..at + 4]);
            u32::from_le_bytes(w)
        };
        let u16_at = |at: usize| usize::from(u16::from_le_bytes([buf[at], buf[at + 1]]));
        let (key_len, vary_len, etag_len) = (u16_at(58), u16_at(60), u16_at(62));
        let head_len = u32_at(64) as usize;
        let mut variant = [0u8; 16];
        variant.copy_from_slice(&buf[40..56]);
        let mut meta = Meta {
            expires: u64_at(8),
            stored: u64_at(16),
            last_modified: u64_at(24),
            while_revalidate: u32_at(32),
            if_error: u32_at(36),
            variant,
            status: u16::from_le_bytes([buf[56], buf[57]]),
            body_len: u64_at(72),
            ..Meta::default()
        };
        let total = FIXED + key_len + vary_len + etag_len + head_len;
        if buf.len() < total {
            buf.resize(total, 0);
            if read_at_most(file, &mut buf, 0)? < total {
                return Ok(None);
            }
        }
        let text =
            |from: usize, len: usize| String::from_utf8_lossy(&buf[from..from + len]).into_owned();
        let mut at = FIXED;
        meta.key = text(at, key_len);
        at += key_len;
        meta.vary = text(at, vary_len);
        at += vary_len;
        meta.etag = text(at, etag_len);
        at += etag_len;
        for line in buf[at..at + head_len].split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let name = String::from_utf8_lossy(&line[..colon]).into_owned();
            let value = line[colon + 1..]
                .strip_prefix(b" ")
                .unwrap_or(&line[colon + 1..]);
            meta.headers.push(Header::new(name, value));
        }
        meta.body_offset = total as u64;
        Ok(Some(meta))
    }
}

/// Reads into `buf` from `offset` until it is full or the file ends.
fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(got) => n += got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Rewrites the freshness of a stored file in place (`proxy_cache_revalidate`);
/// the body, and when it was stored, stay.
pub fn write_expires(file: &File, expires: u64) -> io::Result<()> {
    file.write_all_at(&expires.to_le_bytes(), 8)
}

/// Writes when the body was stored (its generation, for a main entry).
pub fn write_stored(file: &File, stored: u64) -> io::Result<()> {
    file.write_all_at(&stored.to_le_bytes(), 16)
}

/// Writes the body length once the body is complete.
pub fn write_body_len(file: &File, len: u64) -> io::Result<()> {
    file.write_all_at(&len.to_le_bytes(), 72)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::io::Write;

    #[test]
    fn names_follow_nginx_levels() {
        let key: [u8; 16] = [
            0xb7, 0xf5, 0x4b, 0x2d, 0xf7, 0x77, 0x37, 0x22, 0xd3, 0x82, 0xf4, 0x80, 0x9d, 0x65,
            0x02, 0x9c,
        ];
        let p = path_of(Path::new("/data/nginx/cache"), &[1, 2], &key);
        assert_eq!(
            p,
            Path::new("/data/nginx/cache/c/29/b7f54b2df7773722d382f4809d65029c")
        );
        assert_eq!(key_of_name("b7f54b2df7773722d382f4809d65029c"), Some(key));
    }

    #[test]
    fn a_header_reads_back_as_written() {
        let meta = Meta {
            expires: 1000,
            stored: 900,
            last_modified: 800,
            while_revalidate: 3,
            if_error: 4,
            variant: [5; 16],
            status: 200,
            key: "httpapp/page?x=1".into(),
            vary: "accept-encoding".into(),
            etag: "\"abc\"".into(),
            headers: vec![
                Header::new("Content-Type", "text/html"),
                Header::new("X-Long", "v".repeat(5000)),
            ],
            body_len: 5,
            body_offset: 0,
        };
        let mut f = tempfile::tempfile().unwrap();
        let bytes = meta.encode();
        f.write_all(&bytes).unwrap();
        f.write_all(b"hello").unwrap();
        let back = Meta::read(&f).unwrap().unwrap();
        assert_eq!(back.body_offset, bytes.len() as u64);
        assert_eq!(
            Meta {
                body_offset: 0,
                ..back
            },
            meta
        );
    }
}
