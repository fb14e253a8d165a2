//! What a played conversation leaves for the judge: a few hundred bytes, so that a capture of
//! many conversations costs, once each is over, little more than its summary. A conversation
//! still playing keeps its buffers ([`super::player::Live`]); one that is over (every
//! captured segment sent and acknowledged) is reduced to this at once.

use std::collections::BTreeMap;

use super::capture::StreamDigest;
use super::cast::Cast;
use super::side::GotReset;
use crate::engine::l7::decisions::Decision;

/// One end's part in the outcome.
#[derive(Debug, Clone)]
pub struct SideOutcome {
    pub role: &'static str,
    /// Bytes received without a gap from the stream's start.
    pub contiguous: u64,
    /// What arrived, digested (no bytes kept).
    pub received: StreamDigest,
    /// Where the other side's FIN came.
    pub fin: Option<u64>,
    /// The first received byte unlike the one sent there.
    pub first_difference: Option<u64>,
    pub reset: Option<GotReset>,
    pub sent_rst: bool,
    /// What this side sent: the gapless end of its stream, and its FIN's place.
    pub sent_end: u64,
    pub sent_fin: Option<u64>,
    /// Segments sent again; captured segments never sent; bytes let go unchecked; segments
    /// received before any SYN.
    pub resent: u64,
    pub unsent: usize,
    pub unchecked: u64,
    pub strays: u64,
    pub gave_up: Option<String>,
}

/// A conversation, played.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub cast: Cast,
    /// The switch's first decision for it.
    pub decision: Option<Decision>,
    /// The real server it was connected to (the last, if the switch tried several), and all
    /// it tried in order.
    pub server: Option<u16>,
    pub servers_tried: Vec<u16>,
    /// What the switch counted while it took the conversation's frames, by counter name.
    pub counted: BTreeMap<&'static str, u64>,
    /// The client's end, then the server's.
    pub sides: [SideOutcome; 2],
}
