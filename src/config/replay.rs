//! The configuration as the master validated it, for the workers: every file the
//! reader took from disk (path and exact bytes, in reading order), every `include`
//! glob's matches, and whether the master ran as root (the default `listen` port
//! depends on it). A worker builds its configuration from this with
//! [`super::load_replayed`] and never opens a configuration file, so a file edited
//! between the master's check and a worker's swap cannot make the workers run
//! something the master did not test (docs/processes.md, "One configuration").
//!
//! Files that were not on disk (the built-in `mime.types`, `proxy_params`, the
//! embedded main file) and the `-g` directives are not carried: the worker is a fork
//! of the same binary with the same options, and a path missing from the replay reads
//! as "not found", which falls back to the same built-in text the master used.
//!
//! The encoding (all integers big-endian `u32`):
//!
//! ```text
//! "VREPLAY1" is_root:u8 files:u32 { path:bytes text:bytes }* globs:u32
//!     { pattern:bytes matches:u32 { path:bytes }* }*
//! bytes = len:u32 then len bytes
//! ```

use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The first bytes of an encoded replay (and its version).
const MAGIC: &[u8; 8] = b"VREPLAY1";

/// The largest encoded replay a worker accepts: far above any real configuration,
/// low enough that a corrupt length cannot make a worker allocate without bound.
pub const MAX_REPLAY_BYTES: usize = 64 << 20;

/// The files and glob matches one successful read of the configuration saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    /// Whether the master that read them runs as root.
    pub is_root: bool,
    /// Files read from disk, verbatim, in the order first read.
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// Each `include` pattern expanded, and its matches.
    pub globs: Vec<GlobMatches>,
}

/// An `include` pattern as matched (the configuration directory joined) and the
/// regular files it matched, sorted.
pub type GlobMatches = (String, Vec<PathBuf>);

/// Why bytes are not a replay.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReplayError {
    #[error("the configuration hand-over does not start with {MAGIC:?}")]
    BadMagic,
    #[error("the configuration hand-over ends early")]
    Truncated,
    #[error("the configuration hand-over has {0} trailing bytes")]
    Trailing(usize),
    #[error("the configuration hand-over is larger than {MAX_REPLAY_BYTES} bytes")]
    TooLarge,
}

impl Replay {
    /// The text of `path` as the master read it; `NotFound` for a path it did not read
    /// from disk (so a built-in fallback applies as it did for the master).
    pub fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.files
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, text)| text.clone())
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    /// What the master's expansion of `pattern` matched, if it expanded it.
    pub fn glob(&self, pattern: &str) -> Option<&[PathBuf]> {
        self.globs
            .iter()
            .find(|(p, _)| p == pattern)
            .map(|(_, files)| files.as_slice())
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            64 + self
                .files
                .iter()
                .map(|(p, t)| p.as_os_str().len() + t.len() + 8)
                .sum::<usize>(),
        );
        out.extend_from_slice(MAGIC);
        out.push(u8::from(self.is_root));
        put_len(&mut out, self.files.len());
        for (path, text) in &self.files {
            put_bytes(&mut out, path.as_os_str().as_bytes());
            put_bytes(&mut out, text);
        }
        put_len(&mut out, self.globs.len());
        for (pattern, matches) in &self.globs {
            put_bytes(&mut out, pattern.as_bytes());
            put_len(&mut out, matches.len());
            for m in matches {
                put_bytes(&mut out, m.as_os_str().as_bytes());
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Replay, ReplayError> {
        if bytes.len() > MAX_REPLAY_BYTES {
            return Err(ReplayError::TooLarge);
        }
        let mut r = Cursor { rest: bytes };
        if r.take(MAGIC.len())? != MAGIC {
            return Err(ReplayError::BadMagic);
        }
        let is_root = r.take(1)? != [0];
        let count = r.len()?;
        let mut files = Vec::new();
        for _ in 0..count {
            let path = path_of(r.bytes()?);
            files.push((path, r.bytes()?.to_vec()));
        }
        let count = r.len()?;
        let mut globs = Vec::new();
        for _ in 0..count {
            let pattern = String::from_utf8_lossy(r.bytes()?).into_owned();
            let n = r.len()?;
            let mut matches = Vec::new();
            for _ in 0..n {
                matches.push(path_of(r.bytes()?));
            }
            globs.push((pattern, matches));
        }
        if !r.rest.is_empty() {
            return Err(ReplayError::Trailing(r.rest.len()));
        }
        Ok(Replay {
            is_root,
            files,
            globs,
        })
    }
}

fn path_of(bytes: &[u8]) -> PathBuf {
    PathBuf::from(std::ffi::OsString::from_vec(bytes.to_vec()))
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ReplayError> {
        if self.rest.len() < n {
            return Err(ReplayError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// A count or length; never more than the bytes left, so a corrupt one cannot
    /// make a loop run long or an allocation grow.
    fn len(&mut self) -> Result<usize, ReplayError> {
        let mut word = [0u8; 4];
        word.copy_from_slice(self.take(4)?);
        let n = usize::try_from(u32::from_be_bytes(word)).map_err(|_| ReplayError::TooLarge)?;
        if n > self.rest.len() {
            return Err(ReplayError::Truncated);
        }
        Ok(n)
    }

    fn bytes(&mut self) -> Result<&'a [u8], ReplayError> {
        let n = self.len()?;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sample() -> Replay {
        Replay {
            is_root: true,
            files: vec![
                ("/etc/v/v.conf".into(), b"http { include s/*; }\n".to_vec()),
                ("/etc/v/s/a".into(), "server { return 200 \"é\"; }".into()),
                ("/etc/v/empty".into(), Vec::new()),
            ],
            globs: vec![
                ("/etc/v/s/*".into(), vec!["/etc/v/s/a".into()]),
                ("/etc/v/none/*".into(), Vec::new()),
            ],
        }
    }

    #[test]
    fn encode_then_decode_is_the_same_replay() {
        let r = sample();
        assert_eq!(Replay::decode(&r.encode()).unwrap(), r);
        let empty = Replay::default();
        assert_eq!(Replay::decode(&empty.encode()).unwrap(), empty);
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            assert!(Replay::decode(&bytes[..n]).is_err(), "cut at {n}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(Replay::decode(&extra), Err(ReplayError::Trailing(1)));
        let mut magic = bytes.clone();
        magic[0] = b'X';
        assert_eq!(Replay::decode(&magic), Err(ReplayError::BadMagic));
        // A huge count or length is refused before anything is allocated for it.
        let mut huge = bytes;
        huge[9..13].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Replay::decode(&huge), Err(ReplayError::Truncated));
    }

    #[test]
    fn reads_answer_from_the_replay_and_others_are_not_found() {
        let r = sample();
        assert_eq!(r.read(Path::new("/etc/v/empty")).unwrap(), b"");
        let missing = r.read(Path::new("/etc/v/mime.types")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        assert_eq!(r.glob("/etc/v/none/*"), Some(&[][..]));
        assert_eq!(r.glob("/etc/v/other/*"), None);
    }
}
