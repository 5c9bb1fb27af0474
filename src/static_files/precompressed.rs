//! `gzip_static` and `brotli_static`: a file `name.gz` (`name.br`) beside `name` is
//! sent in its place, labelled `Content-Encoding: gzip` (`br`), to a client that
//! accepts the coding under the same rules as on-the-fly compression (`on`, with
//! `Vary: Accept-Encoding` under `gzip_vary on`), or to every client (`always`, with
//! no `Vary`). The head keeps the original's `Content-Type`; the
//! validators are the compressed file's own; it is answered whole (no ranges, no
//! `Accept-Ranges`), as nginx answers it. Of two variants the client's preferred
//! coding wins, brotli on a tie.

use super::open::{open_beneath, Opened};
use super::resolve::Resolved;
use crate::compress::negotiate::Accepted;
use crate::compress::{policy, Coding};
use crate::config::model::compress::Precompressed;
use crate::config::model::LocationConf;
use crate::exchange::response::BodyLength;
use crate::exchange::Exchange;

/// The precompressed variant of the file at `place` to send instead, if the
/// location serves them, the client may have one, and one is on disk.
pub fn find(x: &mut Exchange, conf: &LocationConf, place: &Resolved) -> Option<(Opened, Coding)> {
    let c = &*conf.compression;
    if c.gzip_static == Precompressed::Off && c.brotli_static == Precompressed::Off {
        return None;
    }
    let accepted = policy::client_may_get(
        c,
        &x.head,
        &policy::Response::new(200, BodyLength::Unknown, &[], &[]),
    );
    let wanted = |mode: Precompressed, coding: Coding| match mode {
        Precompressed::Off => 0,
        Precompressed::Always => 1001,
        Precompressed::On => match coding {
            Coding::Gzip => accepted.gzip,
            Coding::Brotli => accepted.brotli,
        },
    };
    let g = wanted(c.gzip_static, Coding::Gzip);
    let b = wanted(c.brotli_static, Coding::Brotli);
    let preferred = Accepted { gzip: g, brotli: b }.choose(true, true)?;
    let order = match preferred {
        Coding::Brotli if g > 0 => [Some(Coding::Brotli), Some(Coding::Gzip)],
        Coding::Gzip if b > 0 => [Some(Coding::Gzip), Some(Coding::Brotli)],
        only => [Some(only), None],
    };
    for coding in order.into_iter().flatten() {
        let rel = format!("{}{}", place.rel(), coding.suffix());
        if let Ok(opened) = open_beneath(place.dir(), &rel) {
            if opened.meta.is_file() {
                // Under `always` every client gets this file: nothing varies.
                let mode = match coding {
                    Coding::Gzip => c.gzip_static,
                    Coding::Brotli => c.brotli_static,
                };
                x.vary_encoding = mode == Precompressed::On;
                return Some((opened, coding));
            }
        }
    }
    None
}
