//! The response buffer between an upstream and a client (`proxy_buffering on`): the
//! upstream side appends as fast as the upstream sends, the client side takes as fast
//! as the client reads. Memory holds up to `proxy_buffers` bytes; beyond that, bytes go
//! to an unlinked temp file under `proxy_temp_path`, up to `proxy_max_temp_file_size`
//! in that file; at that bound the upstream side waits for the client side (so a slow
//! client costs bounded memory and disk, never more). All memory bytes come before all
//! file bytes, so order is kept without copying memory into the file; a drained file is
//! truncated and reused from its start.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::task::Waker;

use super::error::RelayError;

/// Bytes of one response waiting for the client.
#[derive(Debug)]
pub struct Spool {
    memory: VecDeque<Vec<u8>>,
    memory_bytes: usize,
    memory_limit: usize,
    /// The most bytes waiting in the temp file (0: no temp file).
    file_limit: u64,
    temp_dir: PathBuf,
    file: Option<File>,
    file_written: u64,
    file_read: u64,
    /// The upstream side finished: `Ok` when the body is complete.
    pub finished: Option<Result<(), RelayError>>,
    /// The client side gave up (the client went away); the upstream side stops.
    pub abandoned: bool,
    waker: Option<Waker>,
    /// The upstream side, waiting for room.
    room_waker: Option<Waker>,
}

impl Spool {
    pub fn new(memory_limit: usize, file_limit: u64, temp_dir: PathBuf) -> Spool {
        Spool {
            memory: VecDeque::new(),
            memory_bytes: 0,
            memory_limit,
            file_limit,
            temp_dir,
            file: None,
            file_written: 0,
            file_read: 0,
            finished: None,
            abandoned: false,
            waker: None,
            room_waker: None,
        }
    }

    /// Whether another piece may be pushed: memory has room, or the temp file does
    /// (one piece may overshoot either bound). The file's bound is its size, as
    /// nginx's `proxy_max_temp_file_size` is, not the bytes still unread in it: a
    /// client that reads slowly would otherwise let the file grow by what it has read
    /// (1.6 MiB under a 1m bound, measured with the epoll driver, whose writes to the
    /// client drain more of the file). Once drained, the file starts over.
    pub fn has_room(&self) -> bool {
        let file_pending = self.file_written - self.file_read;
        if file_pending == 0 && self.memory_bytes < self.memory_limit {
            return true;
        }
        self.file_written < self.file_limit
    }

    /// The client side gives up: the upstream side stops, even while waiting for room.
    pub fn abandon(&mut self) {
        self.abandoned = true;
        if let Some(w) = self.room_waker.take() {
            w.wake();
        }
    }

    /// Registers the upstream side to be woken when the client side takes a piece.
    pub fn wait_for_room(&mut self, waker: &Waker) {
        self.room_waker = Some(waker.clone());
    }

    /// Appends a piece of the body, keeping the buffer itself when it fits in memory.
    pub fn push(&mut self, data: Vec<u8>) -> io::Result<()> {
        let file_pending = self.file_written > self.file_read;
        let memory_fits = self.memory_bytes + data.len() <= self.memory_limit;
        // Without a temp file (`proxy_max_temp_file_size 0`) memory takes the overshoot.
        if !file_pending && (memory_fits || self.file_limit == 0) {
            self.memory_bytes += data.len();
            self.memory.push_back(data);
        } else {
            if self.file.is_none() {
                self.file = Some(crate::sys::open_temp(&self.temp_dir)?);
            }
            if let Some(f) = &mut self.file {
                f.write_all_at(&data, self.file_written)?;
                self.file_written += data.len() as u64;
            }
        }
        self.wake();
        Ok(())
    }

    pub fn finish(&mut self, result: Result<(), RelayError>) {
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

    /// The next waiting piece: a buffer from memory as it was pushed, or up to `max`
    /// bytes read back from the temp file. `None` when nothing is waiting.
    pub fn pop(&mut self, max: usize) -> io::Result<Option<Vec<u8>>> {
        if let Some(w) = self.room_waker.take() {
            w.wake();
        }
        if let Some(piece) = self.memory.pop_front() {
            self.memory_bytes -= piece.len();
            return Ok(Some(piece));
        }
        if self.file_written > self.file_read {
            if let Some(f) = &self.file {
                let want = usize::try_from(self.file_written - self.file_read)
                    .unwrap_or(max)
                    .min(max);
                let mut piece = vec![0; want];
                let n = f.read_at(&mut piece, self.file_read)?;
                piece.truncate(n);
                self.file_read += n as u64;
                if self.file_read == self.file_written {
                    // Drained: start the file over, so it holds only what waits.
                    f.set_len(0)?;
                    self.file_read = 0;
                    self.file_written = 0;
                }
                return Ok(Some(piece));
            }
        }
        Ok(None)
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
        let mut s = Spool::new(8, 1 << 20, dir.path().join("created-on-demand"));
        s.push(b"abcd".to_vec()).unwrap();
        s.push(b"efgh".to_vec()).unwrap();
        s.push(b"ijkl".to_vec()).unwrap(); // memory full: to the file
        let mut out = Vec::new();
        out.extend(s.pop(3).unwrap().unwrap()); // memory pieces come whole
        assert_eq!(out, b"abcd");
        s.push(b"mn".to_vec()).unwrap(); // the file has unread bytes: appended there
        while let Some(p) = s.pop(3).unwrap() {
            out.extend(p);
        }
        assert_eq!(out, b"abcdefghijklmn");
        assert!(s.is_empty());
        s.push(b"op".to_vec()).unwrap(); // drained: memory again
        assert_eq!(s.pop(10).unwrap().unwrap(), b"op");
        assert_eq!(s.pop(10).unwrap(), None);
    }

    #[test]
    fn the_temp_file_is_bounded_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::new(4, 8, dir.path().to_path_buf());
        s.push(b"abcd".to_vec()).unwrap(); // memory
        assert!(!s.has_room() || s.file_written == 0);
        s.push(b"efgh".to_vec()).unwrap(); // file: 4 waiting
        assert!(s.has_room());
        s.push(b"ijkl".to_vec()).unwrap(); // file: 8 waiting, the bound
        assert!(!s.has_room());
        let mut out = Vec::new();
        while let Some(p) = s.pop(100).unwrap() {
            out.extend(p);
        }
        assert_eq!(out, b"abcdefghijkl");
        // Drained: the file was truncated and its offsets start over.
        assert_eq!((s.file_written, s.file_read), (0, 0));
        assert_eq!(s.file.as_ref().unwrap().metadata().unwrap().len(), 0);
        assert!(s.has_room());
    }

    #[test]
    fn the_bound_is_the_files_size_not_what_is_unread() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::new(4, 8, dir.path().to_path_buf());
        s.push(b"abcd".to_vec()).unwrap(); // memory
        s.push(b"efgh".to_vec()).unwrap(); // file: 4
        s.push(b"ijkl".to_vec()).unwrap(); // file: 8, the bound
        assert_eq!(s.pop(100).unwrap().unwrap(), b"abcd");
        assert_eq!(s.pop(4).unwrap().unwrap(), b"efgh");
        // 4 bytes unread, but the file holds 8: no more until it is drained.
        assert!(!s.has_room());
        assert_eq!(s.pop(100).unwrap().unwrap(), b"ijkl");
        assert!(s.has_room());
    }

    #[test]
    fn without_a_temp_file_memory_is_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::new(4, 0, dir.path().to_path_buf());
        assert!(s.has_room());
        s.push(b"abcdef".to_vec()).unwrap(); // one piece may overshoot
        assert!(!s.has_room());
        assert!(s.file.is_none());
        assert_eq!(s.pop(100).unwrap().unwrap(), b"abcdef");
        assert!(s.has_room());
    }
}
