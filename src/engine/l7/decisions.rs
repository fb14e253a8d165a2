//! Why each connection went to its server, one record per decision, for a tool that explains
//! a run to a person (`stickwire reenact` reports the rule and the cookie that chose each
//! connection's server).
//!
//! Off unless asked for: a live switch keeps only the counts (`L7Stats::decided`). Switched
//! on, a decision costs a record (and, for a rule, a second parse of the held head to copy
//! the value it read); off, one branch per new connection, nothing per frame. The caller
//! takes the records after each call into the engine; the log holds at most
//! [`DecisionLog::CAPACITY`] records, and counts what did not fit.

use super::rules::Decided;
use crate::engine::flow::FlowKey;

/// One connection's server, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The connection as the client sent it: client ip:port -> VIP:port.
    pub client: FlowKey,
    /// The server chosen (an index into `Services::servers`).
    pub server: u16,
    pub decided: Decided,
    /// The port's rule that named the server (its index in the port's rules), if one did.
    pub rule: Option<u8>,
    /// What that rule read: the cookie's value, or the session id in the path.
    pub value: Option<Vec<u8>>,
    /// The value came from the path (`;jsessionid=`), not a cookie.
    pub in_path: bool,
    /// The server the rule named was down and this one, of its domain, took over.
    pub failover: bool,
}

/// The decisions made since the caller last took them, when switched on.
#[derive(Debug, Default)]
pub struct DecisionLog {
    on: bool,
    records: Vec<Decision>,
    /// Records that came while the log was full.
    pub lost: u64,
}

impl DecisionLog {
    /// The records kept between two takes: more than one burst makes.
    pub const CAPACITY: usize = 4096;

    /// Starts recording.
    pub fn switch_on(&mut self) {
        self.on = true;
    }

    pub fn is_on(&self) -> bool {
        self.on
    }

    pub fn record(&mut self, decision: Decision) {
        if self.records.len() < Self::CAPACITY {
            self.records.push(decision);
        } else {
            self.lost += 1;
        }
    }

    /// The records since the last take, oldest first.
    pub fn take(&mut self) -> std::vec::Drain<'_, Decision> {
        self.records.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn a_full_log_counts_what_it_could_not_keep() {
        let mut log = DecisionLog::default();
        log.switch_on();
        let client = FlowKey::new(Ipv4Addr::new(10, 0, 0, 1), 4000, Ipv4Addr::new(10, 0, 0, 2), 80, 6);
        let d = Decision {
            client,
            server: 1,
            decided: Decided::Predictor,
            rule: None,
            value: None,
            in_path: false,
            failover: false,
        };
        for _ in 0..DecisionLog::CAPACITY + 3 {
            log.record(d.clone());
        }
        assert_eq!((log.take().count(), log.lost), (DecisionLog::CAPACITY, 3));
        assert_eq!(log.take().count(), 0);
    }
}
