//! `stickwire reenact --diff A.json B.json`: the connections whose server or verdict changed
//! between two re-enactments of one capture (the old config and the new, say).
//!
//! Connections are matched by the capture's conversation index and endpoints, so both reports
//! must come from the same capture; a connection in one report only is listed as such.

use std::fmt;

use rustc_hash::FxHashMap;

use super::report::{Connection, Report};

/// One connection that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub conversation: u32,
    pub client: String,
    pub server: String,
    /// `(A, B)`: a side is `None` where the connection is in one report only.
    pub real_server: (Option<String>, Option<String>),
    pub rule: (Option<String>, Option<String>),
    pub verdict: (Option<String>, Option<String>),
}

/// What differs between two reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub changes: Vec<Change>,
    /// Connections in both, unchanged.
    pub same: usize,
    /// The two reports are of different captures.
    pub other_capture: Option<(String, String)>,
}

type Key = (u32, String, String);

fn key(c: &Connection) -> Key {
    (c.conversation, c.client.clone(), c.server.clone())
}

fn server(c: &Connection) -> Option<String> {
    c.real_server.as_ref().map(|s| s.name.clone())
}

fn verdict(c: &Connection) -> String {
    c.verdict.to_string()
}

pub fn diff(a: &Report, b: &Report) -> Diff {
    let in_b: FxHashMap<Key, &Connection> = b.connections.iter().map(|c| (key(c), c)).collect();
    let mut out = Diff::default();
    if a.capture.path != b.capture.path || a.capture.frames != b.capture.frames {
        out.other_capture = Some((a.capture.path.clone(), b.capture.path.clone()));
    }
    let mut seen = rustc_hash::FxHashSet::default();
    for ca in &a.connections {
        let k = key(ca);
        let cb = in_b.get(&k).copied();
        seen.insert(k.clone());
        let change = Change {
            conversation: k.0,
            client: k.1,
            server: k.2,
            real_server: (server(ca), cb.and_then(server)),
            rule: (ca.rule.clone(), cb.and_then(|c| c.rule.clone())),
            verdict: (Some(verdict(ca)), cb.map(verdict)),
        };
        if cb.is_some() && change.real_server.0 == change.real_server.1 && change.verdict.0 == change.verdict.1 {
            out.same += 1;
        } else {
            out.changes.push(change);
        }
    }
    for cb in b.connections.iter().filter(|c| !seen.contains(&key(c))) {
        let k = key(cb);
        out.changes.push(Change {
            conversation: k.0,
            client: k.1,
            server: k.2,
            real_server: (None, server(cb)),
            rule: (None, cb.rule.clone()),
            verdict: (None, Some(verdict(cb))),
        });
    }
    out.changes.sort_by_key(|c| c.conversation);
    out
}

fn either(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((a, b)) = &self.other_capture {
            writeln!(f, "warning: the reports are of different captures ({a}, {b})")?;
        }
        for c in &self.changes {
            write!(f, "#{} {} -> {}:", c.conversation, c.client, c.server)?;
            match (&c.verdict.0, &c.verdict.1) {
                (None, _) => write!(f, " only in B")?,
                (_, None) => write!(f, " only in A")?,
                _ => {}
            }
            if c.real_server.0 != c.real_server.1 || c.rule.0 != c.rule.1 {
                write!(
                    f,
                    " server {} ({}) -> {} ({})",
                    either(&c.real_server.0),
                    either(&c.rule.0),
                    either(&c.real_server.1),
                    either(&c.rule.1)
                )?;
            }
            if c.verdict.0 != c.verdict.1 {
                write!(f, "; verdict {} -> {}", either(&c.verdict.0), either(&c.verdict.1))?;
            }
            writeln!(f)?;
        }
        write!(f, "{} connection(s) changed, {} unchanged", self.changes.len(), self.same)
    }
}
