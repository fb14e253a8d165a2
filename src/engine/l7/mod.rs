//! L7 delayed binding: the pieces the switch needs to answer a client's handshake itself,
//! read its request head, pick the server from it, connect to that server and splice the
//! two connections.
//!
//! - [`syn`]: initial sequence numbers and SYN cookies;
//! - [`head`]: the buffers request heads are collected in;
//! - [`rules`]: which server a request names (cookies, jvmRoute, learned cookies);
//! - [`splice`]: the state of a spliced connection and its sequence arithmetic.

pub mod head;
pub mod rules;
pub mod splice;
pub mod syn;
