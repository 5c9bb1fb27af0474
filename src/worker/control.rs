//! The worker's control channel: a thread reading the master's messages from a
//! socketpair. A message is one line, possibly followed by a payload whose length
//! the line gives; every message gets one line back, `ok` or `err MESSAGE`.
//!
//! ```text
//! master → worker   reload LEN\n  then LEN bytes: the encoded config::Replay
//! worker → master   ok\n | err MESSAGE\n
//! ```
//!
//! `reload` builds the configuration from the replayed texts — exactly the bytes the
//! master read and validated; the worker opens no configuration file, so an edit
//! after the master's check cannot reach one worker and not another — and swaps it
//! in with arc-swap: requests in flight keep the snapshot they loaded, the next
//! request loads the new one, and connections, keep-alive clients and upstream pools
//! stay.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::Snapshot;
use crate::config::replay::MAX_REPLAY_BYTES;
use crate::config::{self, LoadOptions, Replay};

/// The worker's end of the channel and what it needs to reload.
#[derive(Debug)]
pub struct Control {
    pub stream: UnixStream,
    pub options: LoadOptions,
}

/// The message line of a reload carrying `len` payload bytes.
pub fn reload_line(len: usize) -> String {
    format!("reload {len}\n")
}

/// Starts the control thread.
pub fn spawn(control: Control, snapshot: Arc<ArcSwap<Snapshot>>) {
    let _ = std::thread::Builder::new()
        .name("control".to_string())
        .spawn(move || serve(control, &snapshot));
}

fn serve(control: Control, snapshot: &ArcSwap<Snapshot>) {
    let Ok(mut writer) = control.stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(control.stream);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut words = line.split_whitespace();
        let answer = match (words.next(), words.next(), words.next()) {
            (Some("reload"), Some(len), None) => match len.parse::<usize>() {
                Ok(len) if len <= MAX_REPLAY_BYTES => {
                    let mut payload = vec![0; len];
                    if reader.read_exact(&mut payload).is_err() {
                        return;
                    }
                    reload(&control.options, &payload, snapshot)
                }
                // The payload cannot be skipped safely: the channel is out of step.
                _ => return,
            },
            _ => format!("err unknown message {:?}", line.trim()),
        };
        if writer.write_all(format!("{answer}\n").as_bytes()).is_err() {
            return;
        }
    }
}

fn reload(options: &LoadOptions, payload: &[u8], snapshot: &ArcSwap<Snapshot>) -> String {
    let replay = match Replay::decode(payload) {
        Ok(r) => r,
        Err(e) => return format!("err {e}"),
    };
    match config::load_replayed(options, &replay) {
        Ok(config) => {
            let current = snapshot.load();
            let next =
                Snapshot::with_generation(config, current.generation + 1, &current.tls_shared);
            snapshot.store(Arc::new(next));
            "ok".to_string()
        }
        Err(errors) => format!(
            "err {}",
            errors
                .0
                .first()
                .map(ToString::to_string)
                .unwrap_or_default()
        ),
    }
}
