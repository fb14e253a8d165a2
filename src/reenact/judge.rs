//! The verdict on each conversation, from what each side received against what the capture
//! says the other sent.
//!
//! A conversation the capture cannot vouch for is `incomplete-capture`, with the capture's
//! reasons, whatever happened to it. Otherwise each direction is checked: a received byte
//! unlike the one sent there (found as it arrived, or by the digests at the end) is
//! `altered`; a RST the switch made is `reset`; bytes or a FIN that never arrived are
//! `stalled`, at the first missing byte of the direction whose sender did send it (the
//! other direction then waited for it); else `intact`. A side that reset the conversation
//! itself is not owed what the other sent after.

use std::collections::BTreeMap;

use super::capture::{Conversation, Dir, Stream};
use super::cast::{Cast, Casting};
use super::live::playable;
use super::outcome::{Outcome, SideOutcome};
use super::report::{Bytes, Connection, Cookie, RealServer, Skipped, Summary, Unmapped, Verdict};
use crate::engine::service::Services;

/// One direction, checked.
#[derive(Debug, Clone, Copy, Default)]
struct Check {
    /// The first received byte that differs from what was sent.
    altered: Option<u64>,
    /// The first byte (or the FIN's place) that never arrived.
    missing: Option<u64>,
    /// Whether its sender sent what is missing (else it waited, for the other direction).
    sent_missing: bool,
    /// Bytes that arrived unchanged, from the start.
    delivered: u64,
}

fn check(expected: &Stream, sender: &SideOutcome, receiver: &SideOutcome, connected: bool) -> Check {
    let want = expected.digest.len();
    if !connected {
        // No server was reached: only bytes the client sent were owed to one.
        let missing = (want > 0).then_some(0);
        return Check { missing, sent_missing: sender.sent_end > 0, ..Check::default() };
    }
    let got = receiver.contiguous;
    let mut altered = receiver.first_difference;
    // A FIN before the end cuts the stream short.
    if let Some(fin) = receiver.fin.filter(|&fin| fin < want) {
        altered = Some(altered.map_or(fin, |a| a.min(fin)));
    }
    // What the check on arrival could not see (bytes it had let go): the digests.
    if altered.is_none() && got >= want && !receiver.received.has_gaps() {
        altered = expected.digest.first_difference(&receiver.received);
    }
    let owed = !receiver.sent_rst;
    let fin_missing = expected.fin_at.is_some() && receiver.fin != Some(want);
    let missing = match () {
        _ if !owed => None,
        _ if got < want => Some(got),
        _ if fin_missing => Some(want),
        _ => None,
    };
    let sent_missing = missing.is_some_and(|m| sender.sent_end > m || sender.sent_fin.is_some_and(|f| f >= m));
    Check { altered, missing, sent_missing, delivered: got.min(want).min(altered.unwrap_or(u64::MAX)) }
}

fn direction_name(dir: Dir) -> String {
    dir.to_string()
}

/// The verdict on a conversation that played.
fn verdict(conv: &Conversation, live: &Outcome) -> (Verdict, [Check; 2]) {
    let [client, server] = &live.sides;
    let connected = live.server.is_some();
    let checks = [
        check(conv.stream(Dir::ToServer), client, server, connected),
        check(conv.stream(Dir::ToClient), server, client, connected || conv.stream(Dir::ToClient).digest.is_empty()),
    ];
    let dirs = [Dir::ToServer, Dir::ToClient];
    if let Some((dir, at)) = dirs.iter().zip(&checks).find_map(|(d, c)| c.altered.map(|a| (*d, a))) {
        return (Verdict::Altered { direction: direction_name(dir), offset: at }, checks);
    }
    // The first direction whose sender sent what is missing, else the first that misses any.
    let missing = || dirs.iter().zip(&checks).filter(|(_, c)| c.missing.is_some());
    let first_missing = missing()
        .find(|(_, c)| c.sent_missing)
        .or_else(|| missing().next())
        .map(|(d, c)| (direction_name(*d), c.missing.unwrap_or(0)));
    let switch_reset = live.sides.iter().find(|s| s.reset.is_some_and(|r| !r.from_peer));
    if let Some(side) = switch_reset {
        let (direction, offset) = first_missing.map_or((None, None), |(d, o)| (Some(d), Some(o)));
        return (Verdict::Reset { reset_to: side.role.into(), direction, offset }, checks);
    }
    match first_missing {
        Some((direction, offset)) => (Verdict::Stalled { direction, offset }, checks),
        None => (Verdict::Intact, checks),
    }
}

/// What a person should know about how a conversation went, beside its verdict.
fn notes(conv: &Conversation, live: &Outcome, services: &Services) -> Vec<String> {
    let mut notes = live.cast.notes.clone();
    let name = |i: u16| services.servers.get(usize::from(i)).map_or("?".to_string(), |s| s.name.clone());
    if live.decision.as_ref().is_some_and(|d| d.failover) {
        notes.push("the server its cookie named was down: one of its domain took over".into());
    }
    if live.servers_tried.len() > 1 {
        let tried: Vec<String> = live.servers_tried.iter().map(|&s| name(s)).collect();
        notes.push(format!("the switch connected to {} in turn", tried.join(", ")));
    }
    if live.server.is_none() {
        let why = if conv.stream(Dir::ToServer).digest.is_empty() { "the client sent no request" } else { "" };
        notes.push(format!("the switch connected to no server{}{why}", if why.is_empty() { "" } else { ": " }));
    }
    if conv.seen.rst && !conv.seen.syn_ack {
        notes.push("in the capture the server refused the connection".into());
    }
    for side in &live.sides {
        let who = side.role;
        if side.resent > 0 {
            notes.push(format!(
                "the {who} sent {} segment(s) again: the switch had not acknowledged them in time",
                side.resent
            ));
        }
        if let Some(why) = &side.gave_up {
            notes.push(why.clone());
        }
        if side.unsent > 0 {
            notes.push(format!(
                "{} captured segment(s) of the {who} were never sent: what they acknowledge never arrived",
                side.unsent
            ));
        }
        if side.unchecked > 0 {
            notes
                .push(format!("{} bytes the {who} sent were let go before they arrived (not checked)", side.unchecked));
        }
        if side.strays > 0 {
            notes.push(format!("the {who} got {} segment(s) before any SYN", side.strays));
        }
    }
    notes
}

/// The report's entry for a mapped conversation.
pub fn connection(conv: &Conversation, cast: &Cast, live: Option<&Outcome>, services: &Services) -> Connection {
    let (to_server, to_client) = (conv.stream(Dir::ToServer), conv.stream(Dir::ToClient));
    let bytes = Bytes { client_to_server: to_server.digest.len(), server_to_client: to_client.digest.len() };
    let reasons: Vec<String> = conv.incomplete().iter().map(ToString::to_string).collect();
    let (mut verdict, delivered, notes) = match live {
        Some(live) => {
            let (verdict, checks) = verdict(conv, live);
            let delivered = Bytes { client_to_server: checks[0].delivered, server_to_client: checks[1].delivered };
            let mut notes = notes(conv, live, services);
            // What the switch counted says why, where something went wrong.
            if verdict != Verdict::Intact && !live.counted.is_empty() {
                let counted: Vec<String> = live.counted.iter().map(|(k, n)| format!("{k} {n}")).collect();
                notes.push(format!("the switch counted, for its frames: {}", counted.join(", ")));
            }
            (verdict, delivered, notes)
        }
        // Not played: only a conversation the capture cannot vouch for (checked below).
        None => (Verdict::Stalled { direction: direction_name(Dir::ToServer), offset: 0 }, Bytes::default(), vec![]),
    };
    if !playable(conv) || !reasons.is_empty() {
        verdict = Verdict::IncompleteCapture { reason: reasons.join("; ") };
    }
    let server = live.and_then(|l| l.server).and_then(|i| services.servers.get(usize::from(i)));
    let decision = live.and_then(|l| l.decision.as_ref());
    let cookie = decision.and_then(|d| {
        let policy = services.services.get(cast.service)?.l7.as_ref()?;
        let rule = policy.rules.get(usize::from(d.rule?))?;
        let value = String::from_utf8_lossy(d.value.as_deref()?).into_owned();
        let source = if d.in_path { "path" } else { "cookie" }.to_string();
        Some(Cookie { name: rule.cookie.clone(), value, source })
    });
    Connection {
        conversation: conv.id.0,
        first_frame: conv.first_frame,
        client: conv.client.to_string(),
        server: conv.server.to_string(),
        vip: cast.vip.to_string(),
        reenacted_client: cast.client.to_string(),
        real_server: server.map(|s| RealServer { name: s.name.clone(), address: format!("{}:{}", s.ip, s.port) }),
        rule: decision.map(|d| d.decided.name().to_string()),
        cookie,
        bytes,
        delivered,
        verdict,
        notes,
    }
}

/// Every conversation of the capture: mapped ones judged, the rest listed.
pub struct Judged {
    pub connections: Vec<Connection>,
    pub unmapped: Vec<Unmapped>,
    pub skipped: Vec<Skipped>,
    pub summary: Summary,
}

/// Judges every conversation; each one's outcome goes once judged.
pub fn judge_all(
    conversations: &[Conversation],
    castings: &[Casting],
    outcomes: Vec<Option<Outcome>>,
    services: &Services,
) -> Judged {
    let mut outcomes = outcomes.into_iter();
    let mut connections = Vec::new();
    let mut unmapped: BTreeMap<String, usize> = BTreeMap::new();
    let mut skipped = Vec::new();
    for (i, conv) in conversations.iter().enumerate() {
        let live = outcomes.next().flatten();
        match castings.get(i) {
            Some(Casting::Cast(cast)) => connections.push(connection(conv, cast, live.as_ref(), services)),
            Some(Casting::Skipped(reason)) => skipped.push(Skipped {
                conversation: conv.id.0,
                client: conv.client.to_string(),
                server: conv.server.to_string(),
                reason: reason.clone(),
            }),
            Some(Casting::Unmapped) | None => *unmapped.entry(conv.server.to_string()).or_default() += 1,
        }
    }
    let summary = summarise(&connections, unmapped.values().sum(), skipped.len());
    let unmapped = unmapped.into_iter().map(|(server, conversations)| Unmapped { server, conversations }).collect();
    Judged { connections, unmapped, skipped, summary }
}

fn summarise(connections: &[Connection], unmapped: usize, skipped: usize) -> Summary {
    let mut s = Summary { connections: connections.len(), unmapped, skipped, ..Summary::default() };
    for c in connections {
        match c.verdict {
            Verdict::Intact => s.intact += 1,
            Verdict::Altered { .. } => s.altered += 1,
            Verdict::Reset { .. } => s.reset += 1,
            Verdict::Stalled { .. } => s.stalled += 1,
            Verdict::IncompleteCapture { .. } => s.incomplete_capture += 1,
        }
        s.judged += usize::from(c.verdict.is_judged());
        if let Some(server) = &c.real_server {
            *s.by_server.entry(server.name.clone()).or_default() += 1;
        }
        if let Some(rule) = &c.rule {
            *s.by_rule.entry(rule.clone()).or_default() += 1;
        }
    }
    s
}
