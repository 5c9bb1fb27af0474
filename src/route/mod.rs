//! Routing: which server and which location answer a request.
