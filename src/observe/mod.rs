//! Observing a worker: the error log (nginx's line format and levels) and the access
//! log (`log_format` templates, buffered per worker, written in whole lines). Both sit
//! at the end of the data path; nothing here blocks a request for long. And the
//! Prometheus exposition formats the metrics are written in ([`exposition`]).

pub mod access_log;
pub mod error_log;
pub mod exposition;
pub mod time;

pub use access_log::AccessLogs;
pub use error_log::ErrorLog;
