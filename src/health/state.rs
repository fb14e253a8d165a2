//! A server's health: up or down, the runs of passes and failures that move it, and why.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use super::target::Timing;
use crate::time::Instant;

/// What a check saw. The text (`Display`) is what an operator reads in events and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// TCP check: the handshake completed.
    Connected,
    /// HTTP check: the status, accepted or not.
    Status(u16),
    /// HTTP check: an accepted status and the expected string in the body.
    StatusAndBody(u16, String),
    /// The server answered the SYN with a reset.
    Refused,
    /// The connection was reset after the handshake, before a verdict.
    Reset,
    /// No verdict within the timeout.
    Timeout { after: Duration, waiting: Waiting },
    /// The body ended without the expected string.
    BodyLacks(String),
    /// The verdict needed more than the response cap.
    TooLarge(usize),
    /// The response head did not end within its cap.
    HeadTooLarge(usize),
    /// The status line is not `HTTP/1.x nnn ...`.
    BadStatusLine,
    /// A header line is malformed.
    BadHead,
    /// The server closed without sending a byte.
    ClosedEarly,
    /// The server closed in the middle of the response head.
    ClosedInHead,
    /// The check could not start (no free local port, smoltcp refused the endpoint).
    Local(&'static str),
}

/// What a check was waiting for when it timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// The server's SYN-ACK: no answer at all (unreachable, filtered, or a full backlog).
    Connect,
    /// The first byte of the response.
    Response,
    /// The rest of the response.
    Reading,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Connected => f.write_str("connected"),
            Reason::Status(code) => write!(f, "HTTP {code}"),
            Reason::StatusAndBody(code, s) => write!(f, "HTTP {code}, body has `{s}`"),
            Reason::Refused => f.write_str("connection refused"),
            Reason::Reset => f.write_str("connection reset"),
            Reason::Timeout { after, waiting } => {
                let what = match waiting {
                    Waiting::Connect => "connecting",
                    Waiting::Response => "waiting for a response",
                    Waiting::Reading => "reading the response",
                };
                write!(f, "timeout after {} {what}", Secs(*after))
            }
            Reason::BodyLacks(s) => write!(f, "body lacks `{s}`"),
            Reason::TooLarge(cap) => write!(f, "response over {}", Bytes(*cap)),
            Reason::HeadTooLarge(cap) => write!(f, "response head over {}", Bytes(*cap)),
            Reason::BadStatusLine => f.write_str("malformed status line"),
            Reason::BadHead => f.write_str("malformed response header"),
            Reason::ClosedEarly => f.write_str("connection closed before a response"),
            Reason::ClosedInHead => f.write_str("connection closed in the response head"),
            Reason::Local(what) => f.write_str(what),
        }
    }
}

/// `1.0 s`, `0.25 s`: seconds, as an operator sets them.
struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(100) {
            write!(f, "{}.{} s", ms / 1000, ms % 1000 / 100)
        } else {
            write!(f, "{} ms", ms)
        }
    }
}

/// `64 KiB` when a whole number of KiB, else bytes.
struct Bytes(usize);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 1024 && self.0.is_multiple_of(1024) {
            write!(f, "{} KiB", self.0 / 1024)
        } else {
            write!(f, "{} bytes", self.0)
        }
    }
}

/// The verdict of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub passed: bool,
    pub reason: Reason,
}

impl Verdict {
    pub fn pass(reason: Reason) -> Verdict {
        Verdict { passed: true, reason }
    }

    pub fn fail(reason: Reason) -> Verdict {
        Verdict { passed: false, reason }
    }
}

/// The last finished check of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastCheck {
    pub started: Instant,
    pub finished: Instant,
    pub verdict: Verdict,
}

/// A server went up or down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthEvent {
    pub server: u16,
    pub up: bool,
    /// The last check's reason, e.g. `HTTP 503` or `timeout after 1.0 s connecting`.
    pub reason: String,
}

/// A server's health, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHealth {
    pub server: u16,
    pub ip: Ipv4Addr,
    pub port: u16,
    pub up: bool,
    /// Consecutive passes, and consecutive failures (one of the two is zero).
    pub successes: u32,
    pub failures: u32,
    /// Checks finished since the target was configured.
    pub checks: u64,
    pub last: Option<LastCheck>,
}

/// Rise and fall counting with HAProxy's semantics.
///
/// A server starts **up, on probation**: the switch serves at once on start (or when a server
/// is added), as HAProxy does by default (`init-state up`), yet a server that is dead from the
/// start goes down on its first failed check instead of taking `fall` checks of traffic. After
/// the first check the counts rule: `fall` consecutive failures take an up server down, `rise`
/// consecutive passes bring a down server up. Starting down would leave a freshly started
/// switch serving nothing for `rise` intervals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Health {
    pub up: bool,
    pub probation: bool,
    pub successes: u32,
    pub failures: u32,
    pub checks: u64,
    pub last: Option<LastCheck>,
}

impl Health {
    pub fn new() -> Health {
        Health { up: true, probation: true, successes: 0, failures: 0, checks: 0, last: None }
    }

    /// Counts a check; the new state when it changed.
    pub fn record(&mut self, last: LastCheck, timing: &Timing) -> Option<bool> {
        let passed = last.verdict.passed;
        self.checks += 1;
        if passed {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
        }
        self.last = Some(last);
        let probation = std::mem::take(&mut self.probation);
        if self.up && !passed && (probation || self.failures >= timing.fall) {
            self.up = false;
            return Some(false);
        }
        if !self.up && passed && self.successes >= timing.rise {
            self.up = true;
            return Some(true);
        }
        None
    }

    /// Forgets the runs (the check itself changed); up or down stays.
    pub fn restart_counts(&mut self) {
        self.successes = 0;
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(passed: bool) -> LastCheck {
        let reason = if passed { Reason::Connected } else { Reason::Refused };
        LastCheck { started: Instant::ZERO, finished: Instant::ZERO, verdict: Verdict { passed, reason } }
    }

    #[test]
    fn first_failure_ends_probation_down_then_rise_counts() {
        let timing = Timing { rise: 2, fall: 3, ..Timing::default() };
        let mut h = Health::new();
        assert_eq!(h.record(check(false), &timing), Some(false));
        assert_eq!(h.record(check(true), &timing), None);
        assert_eq!(h.record(check(true), &timing), Some(true));
        // Off probation, it takes `fall` failures.
        assert_eq!(h.record(check(false), &timing), None);
        assert_eq!(h.record(check(false), &timing), None);
        assert_eq!(h.record(check(false), &timing), Some(false));
        assert_eq!((h.successes, h.failures, h.checks), (0, 3, 6));
    }

    #[test]
    fn first_pass_ends_probation() {
        let timing = Timing { rise: 2, fall: 2, ..Timing::default() };
        let mut h = Health::new();
        assert_eq!(h.record(check(true), &timing), None);
        assert_eq!(h.record(check(false), &timing), None);
        assert_eq!(h.record(check(false), &timing), Some(false));
    }

    #[test]
    fn reasons_read_as_an_operator_writes_them() {
        let timeout = Reason::Timeout { after: Duration::from_secs(1), waiting: Waiting::Connect };
        assert_eq!(timeout.to_string(), "timeout after 1.0 s connecting");
        let timeout = Reason::Timeout { after: Duration::from_millis(250), waiting: Waiting::Response };
        assert_eq!(timeout.to_string(), "timeout after 250 ms waiting for a response");
        assert_eq!(Reason::TooLarge(64 * 1024).to_string(), "response over 64 KiB");
        assert_eq!(Reason::TooLarge(1000).to_string(), "response over 1000 bytes");
        assert_eq!(Reason::BodyLacks("OK".into()).to_string(), "body lacks `OK`");
        assert_eq!(Reason::Status(503).to_string(), "HTTP 503");
    }
}
