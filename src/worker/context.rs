//! What a client connection looks up and counts whichever protocol it speaks
//! (HTTP/1.1 in [`super::connection`], HTTP/2 in [`super::h2`]).

use super::Snapshot;
use crate::config::model::Server;
use crate::exchange::Peer;
use crate::route::ListenGroup;

/// The servers of the connection's address and their default server (whose head
/// limits and timeouts apply before the Host is known). `None` when the configuration
/// no longer listens there.
pub fn listen_context<'s>(
    snap: &'s Snapshot,
    peer: &Peer,
) -> Option<(&'s ListenGroup, &'s Server)> {
    let http = snap.config.http.as_ref()?;
    let group = snap.router.listen_group(&peer.listen)?;
    let default = group.default_server().get(http)?;
    Some((group, default))
}

/// A request being processed and answered, for `stub_status`'s Writing.
#[derive(Debug)]
pub struct Writing;

impl Writing {
    pub fn start() -> Writing {
        crate::zone::status::writing(true);
        Writing
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        crate::zone::status::writing(false);
    }
}
