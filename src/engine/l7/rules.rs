//! An L7 port's affinity rules: which server a request names, by its cookies or its path.
//!
//! Rules are tried in the port's order and the first that names a server that can take the
//! request wins. A cookie naming an unknown server, or one that is down, counts as absent
//! (the next rule, then the predictor, decide) unless a server of its replication domain
//! (mod_jk's `domain`) is up: Tomcat nodes of one domain share their sessions, so the
//! request goes there. A server that is disabled (draining) still takes the requests that
//! name it: its sessions live there.

use super::super::hash;
use super::super::predictor::ServerState;
use super::super::service::{RealServer, Rule, RuleKind};
use crate::wire::http::{self, RequestHead};

/// Why a connection went to its server: the names the counters and reports use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Decided {
    ServerIdCookie = 0,
    JvmRoute = 1,
    LearnedCookie = 2,
    InsertedCookie = 3,
    Sticky = 4,
    Predictor = 5,
}

impl Decided {
    pub const ALL: [Decided; 6] = [
        Decided::ServerIdCookie,
        Decided::JvmRoute,
        Decided::LearnedCookie,
        Decided::InsertedCookie,
        Decided::Sticky,
        Decided::Predictor,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Decided::ServerIdCookie => "server-id-cookie",
            Decided::JvmRoute => "jvm-route",
            Decided::LearnedCookie => "learned-cookie",
            Decided::InsertedCookie => "inserted-cookie",
            Decided::Sticky => "sticky",
            Decided::Predictor => "predictor",
        }
    }

    pub fn from_byte(b: u8) -> Decided {
        Decided::ALL.get(usize::from(b)).copied().unwrap_or(Decided::Predictor)
    }

    fn of(kind: RuleKind) -> Decided {
        match kind {
            RuleKind::ServerId => Decided::ServerIdCookie,
            RuleKind::JvmRoute => Decided::JvmRoute,
            RuleKind::LearnedCookie => Decided::LearnedCookie,
            RuleKind::InsertCookie => Decided::InsertedCookie,
        }
    }
}

/// A rule that named a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Named {
    pub server: u16,
    pub decided: Decided,
    /// The named server was down and this one of its domain took over.
    pub failover: bool,
    /// Which of the port's rules it was (its index).
    pub rule: u8,
    /// A learned cookie's value hash, when that rule named it.
    pub learned: Option<u64>,
}

/// What the rules see of a port: its servers (indices into `servers`) and the learned
/// cookies (`learned(hash of a value) -> server`).
pub struct Ground<'a> {
    pub servers: &'a [RealServer],
    pub ids: &'a [u16],
    pub learned: &'a dyn Fn(u64) -> Option<u16>,
    /// The key learned cookie values are hashed with.
    pub cookie_key: u64,
}

/// The first of `rules` that names a server for the request `head`.
pub fn apply(rules: &[Rule], head: &RequestHead<'_>, ground: &Ground<'_>) -> Option<Named> {
    rules.iter().enumerate().find_map(|(index, rule)| {
        let value = value_read(rule, head)?.value;
        let mut learned = None;
        let named =
            match rule.kind {
                RuleKind::ServerId | RuleKind::InsertCookie => {
                    ground.ids.iter().copied().find(|&id| ground.servers[usize::from(id)].server_id.as_bytes() == value)
                }
                RuleKind::JvmRoute => {
                    let route = http::jvm_route(value)?;
                    ground.ids.iter().copied().find(|&id| {
                        ground.servers[usize::from(id)].jvm_route.as_deref().map(str::as_bytes) == Some(route)
                    })
                }
                RuleKind::LearnedCookie => {
                    let hash = cookie_hash(ground.cookie_key, value);
                    learned = Some(hash);
                    let server = (ground.learned)(hash)?;
                    ground.ids.contains(&server).then_some(server)
                }
            }?;
        let named = take_or_fail_over(named, Decided::of(rule.kind), ground)?;
        Some(Named { rule: index as u8, learned, ..named })
    })
}

/// What a rule read in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueRead<'h> {
    pub value: &'h [u8],
    /// From the path (`;jsessionid=`), not a cookie.
    pub in_path: bool,
}

/// What `rule` reads in a request: its cookie's value, or for `jvm-route` the session id
/// of the cookie or else of the path (`;jsessionid=`).
pub fn value_read<'h>(rule: &Rule, head: &RequestHead<'h>) -> Option<ValueRead<'h>> {
    let cookie = head.cookie(rule.cookie.as_bytes()).map(|value| ValueRead { value, in_path: false });
    match rule.kind {
        RuleKind::JvmRoute => cookie.or_else(|| head.path_session_id().map(|value| ValueRead { value, in_path: true })),
        RuleKind::ServerId | RuleKind::InsertCookie | RuleKind::LearnedCookie => cookie,
    }
}

/// The hash a learned cookie's value is kept under.
pub fn cookie_hash(key: u64, value: &[u8]) -> u64 {
    hash::bytes(key, value)
}

/// `server` if it can take the request, else an up server of its domain, else nothing.
fn take_or_fail_over(server: u16, decided: Decided, ground: &Ground<'_>) -> Option<Named> {
    let s = &ground.servers[usize::from(server)];
    if s.state != ServerState::Down {
        return Some(Named { server, decided, failover: false, rule: 0, learned: None });
    }
    let domain = s.domain.as_deref()?;
    ground
        .ids
        .iter()
        .copied()
        .find(|&id| {
            let buddy = &ground.servers[usize::from(id)];
            id != server && buddy.state == ServerState::Enabled && buddy.domain.as_deref() == Some(domain)
        })
        .map(|buddy| Named { server: buddy, decided, failover: true, rule: 0, learned: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn servers() -> Vec<RealServer> {
        (1..=3u8)
            .map(|i| {
                let mut s = RealServer::named(&format!("rs{i}"), Ipv4Addr::new(198, 18, 1, 9 + i), 80);
                s.jvm_route = Some(format!("node{i}"));
                s.domain = Some(if i < 3 { "a" } else { "b" }.into());
                s
            })
            .collect()
    }

    fn rules() -> Vec<Rule> {
        vec![
            Rule { kind: RuleKind::ServerId, cookie: "ServerID".into() },
            Rule { kind: RuleKind::JvmRoute, cookie: "JSESSIONID".into() },
            Rule { kind: RuleKind::LearnedCookie, cookie: "SID".into() },
        ]
    }

    fn decide(servers: &[RealServer], head: &[u8]) -> Option<Named> {
        let mut headers = [http::EMPTY_HEADER; http::MAX_HEADERS];
        let head = RequestHead::parse(head, &mut headers).expect("a request head");
        let learned = |h: u64| (h == cookie_hash(9, b"opaque-42")).then_some(2u16);
        let ground = Ground { servers, ids: &[0, 1, 2], learned: &learned, cookie_key: 9 };
        apply(&rules(), &head, &ground)
    }

    fn named(server: u16, decided: Decided) -> Option<Named> {
        let rule = match decided {
            Decided::ServerIdCookie => 0,
            Decided::JvmRoute => 1,
            _ => 2,
        };
        let learned = (decided == Decided::LearnedCookie).then(|| cookie_hash(9, b"opaque-42"));
        Some(Named { server, decided, failover: false, rule, learned })
    }

    #[test]
    fn the_first_rule_that_names_a_server_wins() {
        let s = servers();
        let req = |cookie: &str| format!("GET / HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n").into_bytes();
        assert_eq!(decide(&s, &req("ServerID=rs2")), named(1, Decided::ServerIdCookie));
        assert_eq!(decide(&s, &req("JSESSIONID=9A1F.node3; ServerID=rs1")), named(0, Decided::ServerIdCookie));
        assert_eq!(decide(&s, &req("JSESSIONID=9A1F0C.node3")), named(2, Decided::JvmRoute));
        assert_eq!(decide(&s, &req("JSESSIONIDSSO=X.node1; SID=opaque-42")), named(2, Decided::LearnedCookie));
        // Names no server: the next rule, then nothing (the predictor decides).
        assert_eq!(decide(&s, &req("ServerID=rs9; JSESSIONID=A.node1")), named(0, Decided::JvmRoute));
        assert_eq!(decide(&s, &req("SID=unknown; JSESSIONID=nodot")), None);
        assert_eq!(decide(&s, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), None);
        // Tomcat's URL rewriting.
        assert_eq!(decide(&s, b"GET /app;jsessionid=77AB.node2?x=1 HTTP/1.1\r\n\r\n"), named(1, Decided::JvmRoute));
    }

    #[test]
    fn a_down_server_fails_over_in_its_domain_a_draining_one_keeps_its_sessions() {
        let mut s = servers();
        let req = b"GET / HTTP/1.1\r\nCookie: JSESSIONID=77.node1\r\n\r\n";
        s[0].state = ServerState::Disabled;
        assert_eq!(decide(&s, req), named(0, Decided::JvmRoute), "draining keeps its sessions");
        s[0].state = ServerState::Down;
        assert_eq!(
            decide(&s, req),
            Some(Named { server: 1, decided: Decided::JvmRoute, failover: true, rule: 1, learned: None })
        );
        s[1].state = ServerState::Down;
        assert_eq!(decide(&s, req), None, "no buddy up: the cookie counts as absent");
        // rs3 is alone in domain b.
        s[2].state = ServerState::Down;
        assert_eq!(decide(&s, b"GET / HTTP/1.1\r\nCookie: ServerID=rs3\r\n\r\n"), None);
    }
}
