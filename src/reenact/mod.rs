//! `stickwire reenact`: real client<->server captures replayed through the switch, the
//! client's side played into it and the server's side as whichever real server it chose, each
//! side checked to receive exactly the bytes the other sent.
//!
//! - [`capture`]: reading the captures: conversations, their streams, their segments in order.

pub mod capture;
