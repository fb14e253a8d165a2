//! A conversation while it plays: its two ends with their buffers, and what the switch
//! decided for it. Once it is over (every captured segment sent, everything sent
//! acknowledged by the switch and received at the other end) it is reduced to its
//! [`Outcome`], and its buffers go.

use std::collections::BTreeMap;

use super::capture::{Conversation, Dir, Stream};
use super::cast::Cast;
use super::outcome::Outcome;
use super::side::{Role, Side};
use crate::engine::l7::decisions::Decision;

#[derive(Debug)]
pub struct Live {
    pub cast: Cast,
    /// The client side, then the server side.
    pub sides: [Side; 2],
    /// The switch's first decision for it.
    pub decision: Option<Decision>,
    /// The real server the switch connected it to (the last, if it tried several).
    pub server: Option<u16>,
    /// Servers the switch connected it to, in order (more than one: it moved on).
    pub servers_tried: Vec<u16>,
    /// What the switch counted while it took this conversation's frames (drops by reason,
    /// L7 events such as `head-too-large`), by counter name.
    pub counted: BTreeMap<&'static str, u64>,
    /// Captured segments not yet handed to a side.
    segments_left: u64,
}

impl Live {
    /// A conversation's live state at its first segment.
    pub fn start(cast: Cast, conv: &Conversation) -> Live {
        let (to_server, to_client) = (conv.stream(Dir::ToServer), conv.stream(Dir::ToClient));
        let mut client = Side::new(Role::Client, to_server.isn, to_client.isn, reach(to_client));
        client.ends = Some((cast.client, cast.vip, cast.port));
        let server = Side::new(Role::Server, to_client.isn, to_server.isn, reach(to_server));
        Live {
            cast,
            sides: [client, server],
            decision: None,
            server: None,
            servers_tried: Vec::new(),
            counted: BTreeMap::new(),
            segments_left: conv.frames,
        }
    }

    /// Notes that one more captured segment was handed to a side.
    pub fn handed_one(&mut self) {
        self.segments_left = self.segments_left.saturating_sub(1);
    }

    /// Bytes the sides hold: waiting to be sent, kept to check and resend.
    pub fn held_bytes(&self) -> usize {
        self.sides.iter().map(Side::held_bytes).sum()
    }

    /// Whether nothing more can happen to it: every captured segment was sent, and each side
    /// either stopped (a reset, given up) or has everything it sent acknowledged by the
    /// switch and received at the other end.
    pub fn is_over(&self) -> bool {
        let [client, server] = &self.sides;
        let done = |me: &Side, peer: &Side| {
            me.unsent_now() == 0 && (!me.playing() || (!me.outstanding() && peer.has_all_of(me)))
        };
        self.segments_left == 0 && done(client, server) && done(server, client)
    }

    pub fn into_outcome(self) -> Outcome {
        let [client, server] = self.sides;
        Outcome {
            cast: self.cast,
            decision: self.decision,
            server: self.server,
            servers_tried: self.servers_tried,
            counted: self.counted,
            sides: [client.into_outcome(), server.into_outcome()],
        }
    }
}

/// Whether a conversation can be played at all: its client's SYN is in the capture.
pub fn playable(conv: &Conversation) -> bool {
    conv.seen.syn && conv.stream(Dir::ToServer).isn.is_some()
}

/// How far one direction of a capture can be waited for, in acknowledgement terms (the SYN
/// is 1): up to its first hole, and its FIN after its last byte.
fn reach(stream: &Stream) -> i64 {
    let len = stream.digest.len();
    let upto = stream.holes.first.first().map_or(len, |h| h.at);
    1 + upto as i64 + i64::from(stream.fin_at == Some(len) && upto == len)
}
