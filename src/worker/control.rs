//! The worker's control channel: a thread reading the master's messages from a
//! socketpair, one line each. `reload` makes the worker read and build the
//! configuration (from the same files and options the master validated) and swap it in
//! with arc-swap: requests in flight keep the snapshot they loaded, the next request
//! loads the new one, and connections, keep-alive clients and upstream pools stay.
//! The answer is `ok` or `err MESSAGE`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::Snapshot;
use crate::config::{self, LoadOptions};

/// The worker's end of the channel and what it needs to reload.
#[derive(Debug)]
pub struct Control {
    pub stream: UnixStream,
    pub options: LoadOptions,
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
    let reader = BufReader::new(control.stream);
    for line in reader.lines() {
        let Ok(line) = line else {
            return;
        };
        let answer = match line.trim() {
            "reload" => reload(&control.options, snapshot),
            other => format!("err unknown message {other:?}"),
        };
        if writer.write_all(format!("{answer}\n").as_bytes()).is_err() {
            return;
        }
    }
}

fn reload(options: &LoadOptions, snapshot: &ArcSwap<Snapshot>) -> String {
    match config::load(options) {
        Ok(loaded) => {
            let generation = snapshot.load().generation + 1;
            snapshot.store(Arc::new(Snapshot::with_generation(
                loaded.config,
                generation,
            )));
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
