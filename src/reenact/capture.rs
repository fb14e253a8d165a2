//! The capture side of `stickwire reenact`: what a real client<->server capture says each side
//! sent, so that a re-enactment through the switch can check that each side receives exactly
//! that.
//!
//! A capture (pcap or pcapng, taken with tcpdump at a client or a server, Ethernet, Linux
//! cooked SLL/SLL2 or raw IP) is read one frame at a time ([`PacketReader`]); its TCP segments
//! are grouped into conversations and each direction's bytes put back in sequence order.

mod link;
mod stream;

use std::path::PathBuf;

pub use self::link::{Frame, LinkStats, PacketReader};
pub use self::stream::{Hole, Holes, ReassemblyStats, Reassembler, StreamDigest, CHUNK};

/// Why a capture cannot be read at all. (Damage part-way through is not an error: reading
/// stops there and the reader says where.)
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{}: {source}", path.display())]
    Open { path: PathBuf, source: std::io::Error },
    #[error("read error: {0}")]
    Io(std::io::Error),
    #[error("not a pcap or pcapng capture: {0}")]
    Format(String),
    #[error(
        "link type {number} ({name}) is not one stickwire reads: Ethernet, Linux cooked (SLL, SLL2), raw IP, BSD \
         loopback"
    )]
    LinkType { number: u32, name: String },
}
