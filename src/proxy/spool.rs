//! The response buffer between an upstream and a client (`proxy_buffering on`): the
//! upstream side appends as fast as the upstream sends, the client side takes as fast
//! as the client reads. Memory holds up to `proxy_buffers` bytes; beyond that, bytes go
//! to an unlinked temp file under `proxy_temp_path`. All memory bytes come before all
//! file bytes, so order is kept without copying memory into the file.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::task::Waker;

/// Bytes of one response waiting for the client.
#[derive(Debug)]
pub struct Spool {
    memory: VecDeque<Vec<u8>>,
    memory_bytes: usize,
    memory_limit: usize,
    temp_dir: PathBuf,
    file: Option<File>,
    file_written: u64,
    file_read: u64,
    /// The upstream side finished: `Ok` when the body is complete.
    pub finished: Option<Result<(), String>>,
    /// The client side gave up (the client went away); the upstream side stops.
    pub abandoned: bool,
    waker: Option<Waker>,
}

impl Spool {
    pub fn new(memory_limit: usize, temp_dir: PathBuf) -> Spool {
        Spool {
            memory: VecDeque::new(),
            memory_bytes: 0,
            memory_limit,
            temp_dir,
            file: None,
            file_written: 0,
            file_read: 0,
            finished: None,
            abandoned: false,
            waker: None,
        }
    }

    /// Appends body bytes.
    pub fn push(&mut self, data: &[u8]) -> io::Result<()> {
        let file_pending = self.file_written > self.file_read;
        if !file_pending && self.memory_bytes + data.len() <= self.memory_limit {
            self.memory.push_back(data.to_vec());
            self.memory_bytes += data.len();
        } else {
            if self.file.is_none() {
                self.file = Some(tempfile::tempfile_in(&self.temp_dir)?);
            }
            if let Some(f) = &mut self.file {
                f.write_all_at(data, self.file_written)?;
                self.file_written += data.len() as u64;
            }
        }
        self.wake();
        Ok(())
    }

    pub fn finish(&mut self, result: Result<(), String>) {
        self.finished = Some(result);
        self.wake();
    }

    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.memory.is_empty() && self.file_written == self.file_read
    }

    /// Moves up to `max` waiting bytes into `out`. Returns how many.
    pub fn take(&mut self, max: usize, out: &mut Vec<u8>) -> io::Result<usize> {
        let start = out.len();
        while out.len() - start < max {
            let Some(front) = self.memory.front_mut() else {
                break;
            };
            let room = max - (out.len() - start);
            if front.len() <= room {
                out.extend_from_slice(front);
                self.memory_bytes -= front.len();
                self.memory.pop_front();
            } else {
                out.extend_from_slice(front.get(..room).unwrap_or_default());
                front.drain(..room);
                self.memory_bytes -= room;
            }
        }
        let room = max - (out.len() - start);
        if room > 0 && self.memory.is_empty() && self.file_written > self.file_read {
            if let Some(f) = &self.file {
                let want = usize::try_from(self.file_written - self.file_read)
                    .unwrap_or(room)
                    .min(room);
                let at = out.len();
                out.resize(at + want, 0);
                let n = f.read_at(out.get_mut(at..).unwrap_or_default(), self.file_read)?;
                out.truncate(at + n);
                self.file_read += n as u64;
            }
        }
        Ok(out.len() - start)
    }

    /// Registers the client side to be woken when bytes arrive or the upstream ends.
    pub fn wait(&mut self, waker: &Waker) {
        self.waker = Some(waker.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_kept_across_memory_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::new(8, dir.path().to_path_buf());
        s.push(b"abcd").unwrap();
        s.push(b"efgh").unwrap();
        s.push(b"ijkl").unwrap(); // memory full: to the file
        let mut out = Vec::new();
        s.take(6, &mut out).unwrap();
        assert_eq!(out, b"abcdef");
        s.push(b"mn").unwrap(); // the file still has unread bytes: appended there
        out.clear();
        while s.take(3, &mut out).unwrap() > 0 {}
        assert_eq!(out, b"ghijklmn");
        assert!(s.is_empty());
        s.push(b"op").unwrap(); // drained: memory again
        out.clear();
        s.take(10, &mut out).unwrap();
        assert_eq!(out, b"op");
    }
}
