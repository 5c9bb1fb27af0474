//! The transport under both sides of the data path: a connected socket to a client or
//! an upstream ([`stream::Stream`]), the worker's timer wheel ([`timer`]) and the
//! progress deadlines that bound slow peers ([`deadline`]). Knows nothing of HTTP.

pub mod deadline;
pub mod dns;
pub mod stream;
pub mod timer;
