//! The report of a re-enactment, as JSON (`--report`), and its short form for a terminal.
//!
//! One object per TCP conversation of the capture that a `--vip-map` entry mapped, in the
//! capture's order: its endpoints as captured, where it stood on the switch's network, the
//! real server the switch chose and the rule that chose it (with the cookie and the value
//! that decided), the bytes each way, and the verdict. The names are the ones the switch's
//! counters use.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What a re-enactment found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub config: String,
    pub capture: CaptureInfo,
    pub vip_map: Vec<String>,
    /// `capture` (the switch's clock follows the capture's timestamps) or `fast`.
    pub clock: String,
    pub summary: Summary,
    pub connections: Vec<Connection>,
    /// Conversations no `--vip-map` entry maps, by server.
    pub unmapped: Vec<Unmapped>,
    /// Conversations that could not be placed on the switch's network, and why.
    pub skipped: Vec<Skipped>,
    pub switch: SwitchCounters,
    pub play: Play,
}

/// The capture as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureInfo {
    pub path: String,
    pub frames: u64,
    pub tcp_conversations: usize,
    /// Damage, and traffic left out (IPv6, other protocols, fragments, ...).
    pub notes: Vec<String>,
}

/// Counts over the connections.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Connections re-enacted (mapped), judged or not.
    pub connections: usize,
    /// Those the capture lets judge (not `incomplete-capture`).
    pub judged: usize,
    pub intact: usize,
    pub altered: usize,
    pub reset: usize,
    pub stalled: usize,
    pub incomplete_capture: usize,
    pub unmapped: usize,
    pub skipped: usize,
    /// Connections per real server (by name).
    pub by_server: BTreeMap<String, usize>,
    /// Connections per rule (the switch's counter names).
    pub by_rule: BTreeMap<String, usize>,
}

impl Summary {
    /// Whether every judged connection is intact.
    pub fn all_intact(&self) -> bool {
        self.intact == self.judged
    }
}

/// One TCP conversation, re-enacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// Its index among the capture's TCP conversations, from 0, in the order they started.
    pub conversation: u32,
    /// The capture's frame number of its first segment (as Wireshark counts, from 1).
    pub first_frame: u64,
    /// The endpoints as captured.
    pub client: String,
    pub server: String,
    /// The VIP port it was re-enacted through, and the client endpoint as the switch saw it.
    pub vip: String,
    pub reenacted_client: String,
    pub real_server: Option<RealServer>,
    /// Why that server: `server-id-cookie`, `jvm-route`, `learned-cookie`, `inserted-cookie`,
    /// `sticky` or `predictor`.
    pub rule: Option<String>,
    pub cookie: Option<Cookie>,
    /// Bytes each way, as the capture holds them.
    pub bytes: Bytes,
    /// Bytes each way that reached the other side unchanged, from the stream's start.
    pub delivered: Bytes,
    #[serde(flatten)]
    pub verdict: Verdict,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealServer {
    pub name: String,
    pub address: String,
}

/// The cookie (or path parameter) whose value decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    /// `cookie`, or `path` for a `;jsessionid=` in the request's path.
    pub source: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bytes {
    pub client_to_server: u64,
    pub server_to_client: u64,
}

/// What became of a conversation. Offsets count bytes of one direction's stream from 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Each side received exactly the bytes (and the FIN) the other sent.
    Intact,
    /// A side received other bytes than were sent, first at `offset` of `direction`.
    Altered { direction: String, offset: u64 },
    /// The switch reset the conversation (`reset_to`: the side that got its RST); `direction`
    /// and `offset` say where the first byte that never arrived was, if one was missing.
    Reset { reset_to: String, direction: Option<String>, offset: Option<u64> },
    /// Bytes that were sent never arrived, from `offset` of `direction`.
    Stalled { direction: String, offset: u64 },
    /// The capture cannot say what was sent: the reasons.
    IncompleteCapture { reason: String },
}

impl Verdict {
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Intact => "intact",
            Verdict::Altered { .. } => "altered",
            Verdict::Reset { .. } => "reset",
            Verdict::Stalled { .. } => "stalled",
            Verdict::IncompleteCapture { .. } => "incomplete-capture",
        }
    }

    pub fn is_judged(&self) -> bool {
        !matches!(self, Verdict::IncompleteCapture { .. })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Intact => f.write_str("intact"),
            Verdict::Altered { direction, offset } => write!(f, "altered ({direction} at byte {offset})"),
            Verdict::Reset { reset_to, direction: Some(d), offset: Some(o) } => {
                write!(f, "reset (the {reset_to} got the switch's RST; {d} stopped at byte {o})")
            }
            Verdict::Reset { reset_to, .. } => write!(f, "reset (the {reset_to} got the switch's RST)"),
            Verdict::Stalled { direction, offset } => write!(f, "stalled ({direction} stopped at byte {offset})"),
            Verdict::IncompleteCapture { reason } => write!(f, "incomplete-capture ({reason})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmapped {
    pub server: String,
    pub conversations: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub conversation: u32,
    pub client: String,
    pub server: String,
    pub reason: String,
}

/// The switch's own counters at the end, those that are not zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchCounters {
    /// Drops by reason (`tcp-no-flow`, ...).
    pub drops: BTreeMap<String, u64>,
    /// Connections refused or cut by the balancer (`refused-table-full`, ...).
    pub l4: BTreeMap<String, u64>,
    /// The L7 ports' counters (`heads`, `head-too-large`, ...).
    pub l7: BTreeMap<String, u64>,
    /// Connections by the rule that chose their server.
    pub decided: BTreeMap<String, u64>,
}

/// The re-enactment's own figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Play {
    pub frames_to_switch: u64,
    pub frames_from_switch: u64,
    /// Frames from the switch to no re-enacted host.
    pub unattributed_frames: u64,
    /// Frames from the switch that were malformed (a bug in the switch), with the first fault.
    pub bad_frames: u64,
    pub first_bad_frame: Option<String>,
    /// The most bytes held at once to be sent, checked or sent again (the memory bound).
    pub peak_held_bytes: usize,
    /// Milliseconds on the switch's clock from the first segment to the end.
    pub duration_ms: u64,
}

impl Report {
    pub fn to_json(&self) -> String {
        // Plain data: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Writes the JSON to `path` as it is made (a report of a million connections is not
    /// held twice).
    pub fn write_json(&self, path: &std::path::Path) -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        serde_json::to_writer_pretty(&mut out, self)?;
        std::io::Write::write_all(&mut out, b"\n")?;
        std::io::Write::flush(&mut out)
    }

    pub fn from_json(text: &str) -> Result<Report, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}

/// The short form: one line per connection that is not intact, then the counts.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for note in &self.capture.notes {
            writeln!(f, "capture: {note}")?;
        }
        for c in self.connections.iter().filter(|c| c.verdict != Verdict::Intact) {
            let server = c.real_server.as_ref().map_or("no server", |s| s.name.as_str());
            writeln!(f, "#{} {} -> {} ({server}): {}", c.conversation, c.client, c.server, c.verdict)?;
        }
        for u in &self.unmapped {
            writeln!(f, "not mapped by --vip-map: {} conversation(s) to {}", u.conversations, u.server)?;
        }
        for s in &self.skipped {
            writeln!(f, "#{} {} -> {}: not re-enacted: {}", s.conversation, s.client, s.server, s.reason)?;
        }
        let s = &self.summary;
        let servers: Vec<String> = s.by_server.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let rules: Vec<String> = s.by_rule.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(
            f,
            "{} connections: {} intact, {} altered, {} reset, {} stalled, {} incomplete-capture",
            s.connections, s.intact, s.altered, s.reset, s.stalled, s.incomplete_capture
        )?;
        writeln!(f, "servers: {}", if servers.is_empty() { "none".into() } else { servers.join(", ") })?;
        write!(f, "rules: {}", if rules.is_empty() { "none".into() } else { rules.join(", ") })
    }
}
