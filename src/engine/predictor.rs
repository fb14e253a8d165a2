//! Predictors: how a new flow (or a client without a sticky binding) chooses its real server.
//! Named as the ServerIron names them: round-robin, weighted round-robin, least-connections,
//! weighted least-connections, and Maglev consistent hashing.
//!
//! A [`Predictor`] is immutable once built and lives in the service snapshot every core
//! shares: the control side builds it (and its Maglev table) off the data path with
//! [`Predictor::set_servers`] whenever servers change. What a pick changes (round-robin
//! cursors, smooth-WRR weights) is each core's own [`Cursor`], so picking takes no lock and
//! allocates nothing.
//!
//! Who may get a new flow, whatever the predictor: a server that is [`ServerState::Enabled`],
//! has a positive weight (weight 0 means "no new flows", as in HAProxy, and takes no Maglev
//! slot) and is under its `max_connections` by the `load` the caller passes (this core's own
//! count plus the total the control thread last published). Disabled (draining) and Down
//! servers keep their existing flows and sticky bindings — that is the flow and sticky
//! tables' business — but never get a new one from here.
//!
//! Every predictor also keeps a Maglev table over the enabled servers, for
//! [`Predictor::first_choice`]: the sticky table's first choice for a client must be the same
//! on every core before any binding message arrives, and a consistent hash over the same
//! server set with the same seed is.

use std::fmt;
use std::str::FromStr;

use std::sync::Arc;

use super::hash;
pub use super::maglev::{name_key, PredictorError, DEFAULT_TABLE_SIZE};
use super::maglev::{validate_table_size, Maglev, MaglevBackend};

/// Which predictor a VIP port uses. Config strings are ServerIron's names, kebab-case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PredictorKind {
    /// Each eligible server in turn.
    #[default]
    RoundRobin,
    /// Smooth weighted round robin (nginx's): shares follow weights exactly over each cycle of
    /// `sum(weights)` picks, with a heavy server's turns spread out rather than in a burst.
    WeightedRoundRobin,
    /// The server with the fewest connections.
    LeastConnections,
    /// The server with the fewest connections per unit of weight (LVS `wlc`).
    WeightedLeastConnections,
    /// Consistent hashing of the flow hash: the same flow hash gives the same server on
    /// every core, and a server change moves few flows.
    Maglev,
}

impl PredictorKind {
    pub const ALL: [PredictorKind; 5] = [
        PredictorKind::RoundRobin,
        PredictorKind::WeightedRoundRobin,
        PredictorKind::LeastConnections,
        PredictorKind::WeightedLeastConnections,
        PredictorKind::Maglev,
    ];

    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            PredictorKind::RoundRobin => "round-robin",
            PredictorKind::WeightedRoundRobin => "weighted-round-robin",
            PredictorKind::LeastConnections => "least-connections",
            PredictorKind::WeightedLeastConnections => "weighted-least-connections",
            PredictorKind::Maglev => "maglev",
        }
    }
}

impl fmt::Display for PredictorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown predictor name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown predictor {0:?} (expected round-robin, weighted-round-robin, least-connections, weighted-least-connections or maglev)")]
pub struct UnknownPredictor(pub String);

impl FromStr for PredictorKind {
    type Err = UnknownPredictor;

    fn from_str(s: &str) -> Result<PredictorKind, UnknownPredictor> {
        PredictorKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| UnknownPredictor(s.to_owned()))
    }
}

/// A real server's administrative / health state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerState {
    /// Takes new flows.
    #[default]
    Enabled,
    /// Draining: keeps its existing flows and sticky bindings, gets no new ones.
    Disabled,
    /// Failed (health check or admin): gets nothing new.
    Down,
}

/// What a predictor knows of one real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerView {
    /// Stable server index, what `pick` returns.
    pub id: u16,
    /// Stable hash input for Maglev (e.g. [`name_key`] of the server's name).
    pub key: u64,
    /// Relative share for the weighted predictors and Maglev; 0 = no new flows.
    pub weight: u32,
    /// No new flow once `load(id)` reaches this.
    pub max_connections: Option<u32>,
    pub state: ServerState,
    /// Slow start: the share of the new flows it would get that it takes, out of
    /// [`RAMP_FULL`] (a server back up ramps from a little to all over a while).
    pub ramp: u16,
}

/// A server's whole share of new flows (no slow start under way).
pub const RAMP_FULL: u16 = 1024;

impl ServerView {
    /// May this server take a new flow now? The cheap checks go first so `load` is only asked
    /// when a limit is set.
    #[inline]
    fn eligible(&self, load: &dyn Fn(u16) -> u32, flow_hash: u64) -> bool {
        self.state == ServerState::Enabled
            && self.weight > 0
            && self.admits(flow_hash)
            && self.max_connections.is_none_or(|max| load(self.id) < max)
    }

    /// Slow start: whether this flow is among the `ramp` share the server takes. The same
    /// flow hash gives the same answer on every core; each server lets through its own flows.
    #[inline]
    fn admits(&self, flow_hash: u64) -> bool {
        self.ramp >= RAMP_FULL || (hash::mix(flow_hash, self.key) % u64::from(RAMP_FULL)) < u64::from(self.ramp)
    }

    /// In the Maglev table (and so a possible first choice): enabled with a positive weight.
    fn in_table(&self) -> bool {
        self.state == ServerState::Enabled && self.weight > 0
    }
}

/// How many table slots after the hashed one Maglev's fallback probes before scanning the
/// server list.
pub const MAGLEV_PROBES: usize = 32;

/// Salt for the rendezvous tie-break.
const TIE_SALT: u64 = 0xa54f_f53a_5f1d_36f1;

/// The predictor of one VIP port: shared by every core, never changed once published.
#[derive(Debug, Clone)]
pub struct Predictor {
    kind: PredictorKind,
    servers: Vec<ServerView>,
    /// Server id -> index in `servers`, `NONE` where no server has that id.
    index_of: Vec<u32>,
    /// Over the servers `in_table`: first choices, and the Maglev predictor. Shared with the
    /// previous snapshot's predictor when the servers it holds did not change.
    maglev: Arc<Maglev>,
}

/// What picking changes, one per core and VIP port.
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    /// Round robin: where the next scan starts.
    rr_next: usize,
    /// Smooth WRR: each server's current weight (nginx's `current_weight`).
    wrr_current: Vec<i64>,
}

impl Cursor {
    /// A cursor for `p`.
    pub fn new(p: &Predictor) -> Cursor {
        let mut c = Cursor::default();
        c.fit(p);
        c
    }

    /// Follows `p`, a new snapshot's predictor for the same port: the round-robin cursor
    /// carries over, smooth-WRR weights restart from zero (as nginx does on a change).
    /// Allocates only when the port has more servers than before.
    pub fn fit(&mut self, p: &Predictor) {
        self.wrr_current.clear();
        self.wrr_current.resize(p.servers.len(), 0);
        if self.rr_next >= p.servers.len() {
            self.rr_next = 0;
        }
    }
}

const NONE: u32 = u32::MAX;

impl Predictor {
    /// A predictor over `servers` (any order; ids must be distinct). `table_size` (prime, see
    /// [`DEFAULT_TABLE_SIZE`]) and `seed` are the Maglev table's and must be the same on every
    /// core. The table size is checked against all servers given, enabled or not, so that
    /// enabling one later cannot fail.
    pub fn new(
        kind: PredictorKind,
        servers: &[ServerView],
        table_size: usize,
        seed: u64,
    ) -> Result<Predictor, PredictorError> {
        let mut p = Predictor {
            kind,
            servers: Vec::new(),
            index_of: Vec::new(),
            maglev: Arc::new(Maglev::new(&[], table_size, seed)?),
        };
        p.set_servers(servers)?;
        Ok(p)
    }

    /// Applies a new server list (states, weights, limits, servers added or removed): the
    /// control side's way to the next snapshot's predictor. The Maglev table is rebuilt only
    /// when the set of enabled servers or their keys or weights changed. On error (a
    /// repeated id, too many servers for the table) nothing changes.
    pub fn set_servers(&mut self, servers: &[ServerView]) -> Result<(), PredictorError> {
        let table_size = self.maglev.table_size();
        let seed = self.maglev.seed();
        validate_table_size(table_size, servers.len())?;
        let max_id = servers.iter().map(|s| usize::from(s.id)).max();
        let mut index_of = vec![NONE; max_id.map_or(0, |m| m + 1)];
        for (i, s) in servers.iter().enumerate() {
            if index_of[usize::from(s.id)] != NONE {
                return Err(PredictorError::DuplicateId(s.id));
            }
            index_of[usize::from(s.id)] = i as u32;
        }
        let backends: Vec<MaglevBackend> = servers
            .iter()
            .filter(|s| s.in_table())
            .map(|s| MaglevBackend { id: s.id, key: s.key, weight: s.weight })
            .collect();
        let mut sorted = backends.clone();
        sorted.sort_unstable_by_key(|b| (b.key, b.id));
        if sorted != self.maglev.backends() {
            self.maglev = Arc::new(Maglev::new(&backends, table_size, seed)?);
        }
        self.servers = servers.to_vec();
        self.index_of = index_of;
        Ok(())
    }

    pub fn kind(&self) -> PredictorKind {
        self.kind
    }

    pub fn servers(&self) -> &[ServerView] {
        &self.servers
    }

    /// The Maglev table over the enabled servers.
    pub fn maglev(&self) -> &Maglev {
        &self.maglev
    }

    /// Chooses the server for a new flow, or `None` when no server is eligible (enabled,
    /// positive weight, under its `max_connections`). `flow_hash` is used by Maglev and to
    /// break least-connections ties; `load(id)` is the server's current connection count;
    /// `cursor` is this core's (see [`Cursor::fit`]).
    /// No allocation; O(servers) at worst, Maglev usually O(1).
    pub fn pick(&self, cursor: &mut Cursor, flow_hash: u64, load: &dyn Fn(u16) -> u32) -> Option<u16> {
        match self.kind {
            PredictorKind::RoundRobin => self.pick_round_robin(cursor, flow_hash, load),
            PredictorKind::WeightedRoundRobin => self.pick_weighted_round_robin(cursor, flow_hash, load),
            PredictorKind::LeastConnections => self.pick_least_connections(flow_hash, load, false),
            PredictorKind::WeightedLeastConnections => self.pick_least_connections(flow_hash, load, true),
            PredictorKind::Maglev => self.pick_consistent(flow_hash, load),
        }
    }

    /// Maglev's choice for `client_hash` over the enabled servers, whatever this predictor's
    /// kind, ignoring connection limits: the same on every core given the same servers and
    /// seed. `None` when no server is enabled with a positive weight.
    #[inline]
    pub fn first_choice(&self, client_hash: u64) -> Option<u16> {
        self.maglev.lookup(client_hash)
    }

    /// Maglev's choice with connection limits honoured, whatever this predictor's kind; what
    /// `pick` does for [`PredictorKind::Maglev`]. Deterministic, and the same on every core
    /// that sees the same loads.
    ///
    /// Fallback when the hashed slot's server is full: probe the next [`MAGLEV_PROBES`] slots
    /// of the table (consecutive slots belong to different servers in Maglev's interleaved
    /// fill, so the overflow spreads over the others in about their weighted shares), then,
    /// if all of those are full too, take the eligible server of highest rendezvous rank for
    /// the hash (O(servers), rare). The table is not rebuilt for a full server: fullness comes and goes
    /// per connection, and rebuilding would move everyone else's flows.
    pub fn pick_consistent(&self, hash: u64, load: &dyn Fn(u16) -> u32) -> Option<u16> {
        let table = self.maglev.table();
        if table.is_empty() {
            return None;
        }
        let start = self.maglev.slot(hash);
        for probe in 0..MAGLEV_PROBES.min(table.len()) {
            let mut slot = start + probe;
            if slot >= table.len() {
                slot -= table.len();
            }
            let id = table[slot];
            if self.server(id).is_some_and(|s| s.eligible(load, hash)) {
                return Some(id);
            }
        }
        self.servers.iter().filter(|s| s.eligible(load, hash)).max_by_key(|s| tie_rank(hash, s.key)).map(|s| s.id)
    }

    fn server(&self, id: u16) -> Option<&ServerView> {
        match self.index_of.get(usize::from(id)) {
            Some(&i) if i != NONE => self.servers.get(i as usize),
            _ => None,
        }
    }

    /// The next eligible server after the last one picked, in list order: with a fixed set of
    /// eligible servers the picks cycle through them exactly.
    fn pick_round_robin(&self, cursor: &mut Cursor, flow_hash: u64, load: &dyn Fn(u16) -> u32) -> Option<u16> {
        let n = self.servers.len();
        for k in 0..n {
            let i = (cursor.rr_next + k) % n;
            if self.servers[i].eligible(load, flow_hash) {
                cursor.rr_next = (i + 1) % n;
                return Some(self.servers[i].id);
            }
        }
        None
    }

    /// nginx's smooth weighted round robin: every eligible server's current weight grows by
    /// its weight, the largest (first in list order on a tie) is picked and loses the total.
    /// Over any `sum(weights)` picks each server gets exactly its weight, interleaved: weights
    /// 5, 1, 1 give a a b a c a a, not a a a a a b c. Ineligible servers sit out and their
    /// current weight waits.
    fn pick_weighted_round_robin(&self, cursor: &mut Cursor, flow_hash: u64, load: &dyn Fn(u16) -> u32) -> Option<u16> {
        let current = &mut cursor.wrr_current;
        if current.len() != self.servers.len() {
            return None; // a cursor not fitted to this predictor: a caller's bug, no pick
        }
        let mut best: Option<usize> = None;
        let mut total: i64 = 0;
        for (i, s) in self.servers.iter().enumerate() {
            if !s.eligible(load, flow_hash) {
                continue;
            }
            let w = i64::from(s.weight);
            current[i] += w;
            total += w;
            if best.is_none_or(|b| current[i] > current[b]) {
                best = Some(i);
            }
        }
        let b = best?;
        current[b] -= total;
        Some(self.servers[b].id)
    }

    /// The eligible server with the fewest connections (`weighted`: the fewest per unit of
    /// weight, compared exactly as `load_a * weight_b < load_b * weight_a`; on equal ratios
    /// the heavier server wins, as it has more room). Remaining ties go to the highest
    /// [`tie_rank`] of `flow_hash` and the server's key (rendezvous hashing): deterministic,
    /// uniform over the tied servers whatever sits between them in the list, and cores that
    /// see the same published loads do not all pile onto one server.
    fn pick_least_connections(&self, flow_hash: u64, load: &dyn Fn(u16) -> u32, weighted: bool) -> Option<u16> {
        // (connections, weight used for the ratio, tie rank once computed, server)
        let mut best: Option<(u64, u64, Option<u64>, &ServerView)> = None;
        for s in &self.servers {
            if s.state != ServerState::Enabled || s.weight == 0 || !s.admits(flow_hash) {
                continue;
            }
            let conns = load(s.id);
            if s.max_connections.is_some_and(|max| conns >= max) {
                continue;
            }
            let w = if weighted { u64::from(s.weight) } else { 1 };
            let conns = u64::from(conns);
            let (better, rank) = match best {
                None => (true, None),
                Some((bc, bw, brank, b)) => {
                    let (lhs, rhs) = (conns * bw, bc * w);
                    if lhs != rhs || w != bw {
                        (lhs < rhs || (lhs == rhs && w > bw), None)
                    } else {
                        // A true tie: only now is the rank worth computing.
                        let brank = brank.unwrap_or_else(|| tie_rank(flow_hash, b.key));
                        let rank = tie_rank(flow_hash, s.key);
                        best = Some((bc, bw, Some(brank), b));
                        (rank > brank, Some(rank))
                    }
                }
            };
            if better {
                best = Some((conns, w, rank, s));
            }
        }
        best.map(|(_, _, _, s)| s.id)
    }
}

/// Rendezvous (highest random weight) rank of a server for a hash: the tie-break of
/// least-connections and the last resort of Maglev's fallback.
#[inline]
fn tie_rank(hash: u64, key: u64) -> u64 {
    hash::keyed(TIE_SALT, hash, key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// Picks per statistical test: see `maglev::tests::KEYS` for why 1e6 is sound for 2%.
    const PICKS: u64 = 1_000_000;

    fn server(id: u16, weight: u32) -> ServerView {
        ServerView {
            id,
            key: name_key(format!("rs{id}").as_bytes()),
            weight,
            max_connections: None,
            state: ServerState::Enabled,
            ramp: RAMP_FULL,
        }
    }

    fn servers(weights: &[u32]) -> Vec<ServerView> {
        weights.iter().enumerate().map(|(i, &w)| server(i as u16 + 1, w)).collect()
    }

    /// A predictor and one core's cursor, as a core uses them.
    #[derive(Debug, Clone)]
    struct Picker {
        p: Predictor,
        c: Cursor,
    }

    impl Picker {
        fn new(p: Predictor) -> Picker {
            let c = Cursor::new(&p);
            Picker { p, c }
        }

        fn pick(&mut self, hash: u64, load: &dyn Fn(u16) -> u32) -> Option<u16> {
            self.p.pick(&mut self.c, hash, load)
        }

        fn set_servers(&mut self, servers: &[ServerView]) -> Result<(), PredictorError> {
            self.p.set_servers(servers)?;
            self.c.fit(&self.p);
            Ok(())
        }
    }

    impl std::ops::Deref for Picker {
        type Target = Predictor;
        fn deref(&self) -> &Predictor {
            &self.p
        }
    }

    fn predictor(kind: PredictorKind, servers: &[ServerView]) -> Picker {
        Picker::new(Predictor::new(kind, servers, DEFAULT_TABLE_SIZE, 42).unwrap())
    }

    fn no_load(_: u16) -> u32 {
        0
    }

    /// A simulated connection table: picks add a connection to the chosen server.
    struct Conns(RefCell<HashMap<u16, u32>>);

    impl Conns {
        fn new(loads: &[(u16, u32)]) -> Conns {
            Conns(RefCell::new(loads.iter().copied().collect()))
        }
        fn get(&self, id: u16) -> u32 {
            self.0.borrow().get(&id).copied().unwrap_or(0)
        }
        fn pick(&self, p: &mut Picker, hash: u64) -> Option<u16> {
            let id = p.pick(hash, &|id| self.get(id))?;
            *self.0.borrow_mut().entry(id).or_insert(0) += 1;
            Some(id)
        }
    }

    #[test]
    fn kind_names_parse_and_display() {
        for (kind, name) in PredictorKind::ALL.into_iter().zip([
            "round-robin",
            "weighted-round-robin",
            "least-connections",
            "weighted-least-connections",
            "maglev",
        ]) {
            assert_eq!(kind.to_string(), name);
            assert_eq!(name.parse::<PredictorKind>().unwrap(), kind);
            let parsed: PredictorKind = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(parsed, kind);
        }
        assert!(serde_json::from_str::<PredictorKind>("\"RoundRobin\"").is_err());
        assert!("least-conn".parse::<PredictorKind>().is_err());
        let state: ServerState = serde_json::from_str("\"disabled\"").unwrap();
        assert_eq!(state, ServerState::Disabled);
    }

    #[test]
    fn no_server_gives_none() {
        for kind in PredictorKind::ALL {
            let mut p = predictor(kind, &[]);
            assert_eq!(p.pick(1, &no_load), None, "{kind}");
            assert_eq!(p.first_choice(1), None);
            let mut all_out = servers(&[1, 2, 0]);
            all_out[0].state = ServerState::Down;
            all_out[1].state = ServerState::Disabled;
            let mut p = predictor(kind, &all_out);
            assert_eq!(p.pick(1, &no_load), None, "{kind}");
            assert_eq!(p.first_choice(1), None);
        }
    }

    #[test]
    fn rejects_duplicate_ids_and_small_tables_and_keeps_state() {
        let mut dup = servers(&[1, 1]);
        dup[1].id = dup[0].id;
        assert_eq!(Predictor::new(PredictorKind::Maglev, &dup, 65537, 0).unwrap_err(), PredictorError::DuplicateId(1));
        assert!(matches!(
            Predictor::new(PredictorKind::Maglev, &servers(&[1; 3]), 293, 0),
            Err(PredictorError::TableTooSmall { .. })
        ));
        let mut p = predictor(PredictorKind::RoundRobin, &servers(&[1, 1]));
        assert!(p.set_servers(&dup).is_err());
        assert_eq!(p.servers().len(), 2);
    }

    /// Round robin visits eligible servers in list order, exactly, skipping the others.
    #[test]
    fn round_robin_cycles_exactly() {
        let mut s = servers(&[1, 5, 1, 1, 1]);
        s[2].state = ServerState::Disabled;
        s[4].max_connections = Some(3);
        let conns = Conns::new(&[(5, 3)]);
        let mut p = predictor(PredictorKind::RoundRobin, &s);
        let picks: Vec<u16> = (0..9).map(|h| conns.pick(&mut p, h).unwrap()).collect();
        assert_eq!(picks, [1, 2, 4, 1, 2, 4, 1, 2, 4]);
        // Server 3 comes back and 5 has room again: the cursor carries on after 4, and both
        // join the cycle where they stand in the list.
        s[2].state = ServerState::Enabled;
        p.set_servers(&s).unwrap();
        let picks: Vec<u16> = (0..8).map(|h| p.pick(h, &no_load)).map(Option::unwrap).collect();
        assert_eq!(picks, [5, 1, 2, 3, 4, 5, 1, 2]);
    }

    /// nginx's documented sequence for weights 5, 1, 1.
    #[test]
    fn weighted_round_robin_is_smooth() {
        let mut p = predictor(PredictorKind::WeightedRoundRobin, &servers(&[5, 1, 1]));
        let picks: Vec<u16> = (0..14).map(|h| p.pick(h, &no_load).unwrap()).collect();
        assert_eq!(picks, [1, 1, 2, 1, 3, 1, 1, 1, 1, 2, 1, 3, 1, 1]);
    }

    /// Over 1e6 picks each server's share is its weight's within 2% (in fact exact: every
    /// cycle of sum(weights) picks gives each server exactly its weight).
    #[test]
    fn weighted_round_robin_shares_follow_weights() {
        let weights = [1u32, 2, 3, 4, 0, 7];
        let mut p = predictor(PredictorKind::WeightedRoundRobin, &servers(&weights));
        let mut counts = [0u64; 7];
        for h in 0..PICKS {
            counts[usize::from(p.pick(h, &no_load).unwrap())] += 1;
        }
        let total: u32 = weights.iter().sum();
        for (i, &w) in weights.iter().enumerate() {
            let expected = PICKS as f64 * f64::from(w) / f64::from(total);
            let got = counts[i + 1] as f64;
            assert!((got - expected).abs() <= 0.02 * expected, "server {}: {got} vs {expected}", i + 1);
            assert!((got - expected).abs() <= 2.0, "exact per cycle: {got} vs {expected}");
        }
    }

    /// Least connections: the least loaded eligible server, whatever the order.
    #[test]
    fn least_connections_picks_least_loaded() {
        let mut s = servers(&[1, 1, 1, 1, 1]);
        s[3].state = ServerState::Down; // id 4, least loaded but down
        s[4].max_connections = Some(2); // id 5, full at 2
        let loads = [(1, 10), (2, 3), (3, 7), (4, 0), (5, 2)];
        let load = |id: u16| loads.iter().find(|l| l.0 == id).unwrap().1;
        let mut p = predictor(PredictorKind::LeastConnections, &s);
        for h in 0..1000 {
            assert_eq!(p.pick(h, &load), Some(2));
        }
        // As connections are added the picks even the loads out.
        let conns = Conns::new(&[(1, 10), (2, 3), (3, 7)]);
        let mut p = predictor(PredictorKind::LeastConnections, &servers(&[1, 1, 1]));
        for h in 0..20 {
            conns.pick(&mut p, h).unwrap();
        }
        let mut got = [conns.get(1), conns.get(2), conns.get(3)];
        got.sort_unstable();
        assert_eq!(got, [13, 13, 14]);
    }

    /// Ties: the same inputs give the same server, and different flow hashes spread over all
    /// tied servers (so cores seeing the same published loads do not all pick one).
    #[test]
    fn least_connections_ties_are_deterministic_and_spread() {
        let s = servers(&[1, 1, 1, 1]);
        let load = |id: u16| if id == 2 { 5 } else { 1 };
        let mut a = predictor(PredictorKind::LeastConnections, &s);
        let mut b = predictor(PredictorKind::LeastConnections, &s);
        let mut seen = [0u32; 5];
        for h in 0..4000 {
            let x = a.pick(h, &load).unwrap();
            assert_eq!(Some(x), b.pick(h, &load));
            seen[usize::from(x)] += 1;
        }
        assert_eq!(seen[2], 0);
        // About 1333 each; 1150 is 6 standard deviations below.
        assert!(seen[1] > 1150 && seen[3] > 1150 && seen[4] > 1150, "{seen:?}");
    }

    /// Weighted least connections compares connections per weight, exactly.
    #[test]
    fn weighted_least_connections_uses_ratio() {
        let s = servers(&[1, 3, 2]);
        let mut p = predictor(PredictorKind::WeightedLeastConnections, &s);
        // 4/1, 9/3 = 3, 8/2 = 4: server 2 although it has the most connections.
        let load = |id: u16| [0, 4, 9, 8][usize::from(id)];
        assert_eq!(p.pick(7, &load), Some(2));
        // 3/1 = 3, 9/3 = 3, 7/2 = 3.5: equal ratios go to the heavier server.
        let load = |id: u16| [0, 3, 9, 7][usize::from(id)];
        for h in 0..100 {
            assert_eq!(p.pick(h, &load), Some(2));
        }
        // From empty, connections end up in proportion to weights.
        let conns = Conns::new(&[]);
        for h in 0..600 {
            conns.pick(&mut p, h).unwrap();
        }
        assert_eq!([conns.get(1), conns.get(2), conns.get(3)], [100, 300, 200]);
        // Plain least connections on the same loads ignores weights.
        let mut lc = predictor(PredictorKind::LeastConnections, &s);
        assert_eq!(lc.pick(7, &|id: u16| [0, 4, 9, 8][usize::from(id)]), Some(1));
    }

    /// Maglev as a predictor: the flow hash decides, the same as `first_choice`, and weighted
    /// shares over 1e6 flow hashes are within 2% of the weights.
    #[test]
    fn maglev_pick_follows_table_and_weights() {
        let weights = [1u32, 2, 3, 4];
        let s = servers(&weights);
        let mut p = predictor(PredictorKind::Maglev, &s);
        let mut counts = [0u64; 5];
        for h in 0..PICKS {
            let id = p.pick(h, &no_load).unwrap();
            assert_eq!(Some(id), p.first_choice(h));
            counts[usize::from(id)] += 1;
        }
        for (i, &w) in weights.iter().enumerate() {
            let expected = PICKS as f64 * f64::from(w) / 10.0;
            let got = counts[i + 1] as f64;
            assert!((got - expected).abs() <= 0.02 * expected, "server {}: {got} vs {expected}", i + 1);
        }
    }

    /// A full server's flows go elsewhere, deterministically, spread over the others, and
    /// flows of the servers that are not full stay where they were.
    #[test]
    fn maglev_full_server_falls_back_deterministically() {
        let mut s = servers(&[1, 1, 1, 1]);
        s[0].max_connections = Some(10);
        let p = predictor(PredictorKind::Maglev, &s);
        let full = |id: u16| if id == 1 { 10 } else { 0 };
        let mut spill = [0u32; 5];
        for h in 0..100_000u64 {
            let first = p.first_choice(h).unwrap();
            let got = p.pick_consistent(h, &full).unwrap();
            assert_eq!(Some(got), p.pick_consistent(h, &full));
            if first == 1 {
                assert_ne!(got, 1);
                spill[usize::from(got)] += 1;
            } else {
                assert_eq!(got, first);
            }
        }
        assert!(spill[2..].iter().all(|&c| c > 5000), "{spill:?}");
        // Everyone full but server 3: the probe, then the scan, find it.
        let only3 = |id: u16| if id == 3 { 0 } else { 10 };
        let mut s2 = s.clone();
        s2.iter_mut().for_each(|x| x.max_connections = Some(10));
        let mut p2 = predictor(PredictorKind::Maglev, &s2);
        for h in 0..10_000 {
            assert_eq!(p2.pick(h, &only3), Some(3));
        }
        assert_eq!(p2.pick(1, &|_| 10), None);
    }

    /// `first_choice` is the same on every core (every predictor kind, same seed), ignores
    /// the kind, and moves only the clients of a server that goes down.
    #[test]
    fn first_choice_agrees_across_cores_and_kinds() {
        let s = servers(&[1, 1, 1, 1, 1]);
        let cores: Vec<Picker> = PredictorKind::ALL.iter().map(|&k| predictor(k, &s)).collect();
        for h in 0..20_000 {
            let x = cores[0].first_choice(h);
            assert!(x.is_some());
            assert!(cores.iter().all(|c| c.first_choice(h) == x));
        }
        let mut p = cores[0].clone();
        let mut down = s.clone();
        down[2].state = ServerState::Down;
        p.set_servers(&down).unwrap();
        let mut moved_between_survivors = 0;
        for h in 0..100_000 {
            let (before, after) = (cores[0].first_choice(h).unwrap(), p.first_choice(h).unwrap());
            assert_ne!(after, 3);
            if before != 3 && before != after {
                moved_between_survivors += 1;
            }
        }
        assert!(moved_between_survivors < 2_000, "{moved_between_survivors}");
        // Back up: the same table as before.
        p.set_servers(&s).unwrap();
        assert!(p.maglev() == cores[0].maglev());
    }

    /// Only a change in enabled servers, keys or weights rebuilds Maglev.
    #[test]
    fn set_servers_rebuilds_only_when_needed() {
        let s = servers(&[1, 2, 3]);
        let mut p = predictor(PredictorKind::Maglev, &s);
        let before = p.maglev().table().as_ptr();
        let mut limited = s.clone();
        limited[1].max_connections = Some(5);
        limited.reverse();
        p.set_servers(&limited).unwrap();
        assert_eq!(p.maglev().table().as_ptr(), before);
        let mut reweighted = s.clone();
        reweighted[1].weight = 9;
        p.set_servers(&reweighted).unwrap();
        assert!(p.maglev() != predictor(PredictorKind::Maglev, &s).maglev());
        assert!(p.maglev() == predictor(PredictorKind::Maglev, &reweighted).maglev());
    }

    /// Slow start: a ramping server takes about its share of what it would get, on every
    /// predictor; least-connections does not pile every new flow on a server just back.
    #[test]
    fn a_ramping_server_takes_its_share_only() {
        for kind in PredictorKind::ALL {
            let mut s = servers(&[1, 1, 1, 1]);
            s[3].ramp = RAMP_FULL / 4;
            let mut p = predictor(kind, &s);
            // The others have connections; the ramping one has none.
            let load = |id: u16| if id == 4 { 0 } else { 50 };
            let picks = 40_000u64;
            let got = (0..picks).filter(|&h| p.pick(hash::mix(h, 9), &load) == Some(4)).count() as f64;
            let full = if matches!(kind, PredictorKind::LeastConnections | PredictorKind::WeightedLeastConnections) {
                picks as f64 // least-connections would send it everything
            } else {
                picks as f64 / 4.0
            };
            // About a quarter (round robin a little more: a skipped turn is not a lost pick).
            let share = got / full;
            assert!((0.18..0.34).contains(&share), "{kind}: {share}");
        }
    }

    /// Determinism: two instances with the same inputs make the same picks.
    #[test]
    fn same_inputs_same_picks() {
        let s = servers(&[3, 1, 2, 5]);
        for kind in PredictorKind::ALL {
            let (mut a, mut b) = (predictor(kind, &s), predictor(kind, &s));
            let (ca, cb) = (Conns::new(&[]), Conns::new(&[]));
            for h in 0..2000u64 {
                let hash = hash::mix(h, 0);
                assert_eq!(ca.pick(&mut a, hash), cb.pick(&mut b, hash), "{kind}");
            }
        }
    }

    fn arb_server() -> impl Strategy<Value = (u32, Option<u32>, u8)> {
        (0u32..6, prop::option::of(0u32..4), 0u8..3)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        /// For every predictor: a pick is always an eligible server (enabled, positive weight,
        /// under its limit) and `None` only when there is none; connections never exceed
        /// max_connections however many flows arrive.
        #[test]
        fn prop_picks_only_eligible_servers(
            spec in prop::collection::vec(arb_server(), 0..8),
            kind in prop::sample::select(PredictorKind::ALL.to_vec()),
            hashes in prop::collection::vec(any::<u64>(), 1..60),
        ) {
            let s: Vec<ServerView> = spec.iter().enumerate().map(|(i, &(weight, max, st))| ServerView {
                id: (i * 7) as u16,
                key: i as u64,
                weight,
                max_connections: max,
                state: [ServerState::Enabled, ServerState::Disabled, ServerState::Down][usize::from(st)],
                ramp: RAMP_FULL,
            }).collect();
            let mut p = Picker::new(Predictor::new(kind, &s, 1009, 3).unwrap());
            let conns = Conns::new(&[]);
            for h in hashes {
                let any_eligible = s.iter().any(|x| x.eligible(&|id| conns.get(id), h));
                match conns.pick(&mut p, h) {
                    Some(id) => {
                        let x = s.iter().find(|x| x.id == id).unwrap();
                        prop_assert_eq!(x.state, ServerState::Enabled);
                        prop_assert!(x.weight > 0);
                        prop_assert!(x.max_connections.is_none_or(|m| conns.get(id) <= m));
                    }
                    None => prop_assert!(!any_eligible),
                }
                if let Some(f) = p.first_choice(h) {
                    prop_assert!(s.iter().any(|x| x.id == f && x.in_table()));
                }
            }
        }

        /// Smooth WRR: after every pick t, each server's count is within 2 picks of its exact
        /// share t * w_i / W (measured worst over 30 000 random weight sets: 1.12), and each
        /// cycle of W picks gives it exactly w_i. A bursty WRR (a server's turns in a row)
        /// breaks the first bound: weights 15, 1, 1, 1, 1 give a deviation of 3.2 after 15.
        #[test]
        fn prop_weighted_round_robin_never_bursts(weights in prop::collection::vec(1u32..20, 1..8)) {
            let s = servers(&weights);
            let mut p = predictor(PredictorKind::WeightedRoundRobin, &s);
            let total: u32 = weights.iter().sum();
            let mut counts = vec![0u32; weights.len()];
            for t in 1..=2 * total {
                let id = p.pick(u64::from(t), &no_load).unwrap();
                counts[usize::from(id) - 1] += 1;
                for (i, &w) in weights.iter().enumerate() {
                    let dev = f64::from(counts[i]) - f64::from(t) * f64::from(w) / f64::from(total);
                    prop_assert!(dev.abs() < 2.0, "t={} server {} dev {}", t, i, dev);
                }
            }
            for (i, &w) in weights.iter().enumerate() {
                prop_assert_eq!(counts[i], 2 * w);
            }
        }
    }
}
