//! The per-core sticky table: client IP (or client prefix) -> real server, per VIP port.
//!
//! This is ServerIron's `sticky` (with its client subnet), HAProxy's stick table on `src`
//! and LVS persistence. A binding is keyed by the service (the index of the VIP port) and
//! the client address masked to the service's `sticky_prefix_len` (/32: one client; /24:
//! a client subnet, which shares one server). It holds the server, the number of this core's
//! flows currently bound through it, and the instant it expires.
//!
//! The same table, a second instance, holds the cookie values an L7 port learned from its
//! servers' `Set-Cookie` (ServerIron's passive persistence): keyed by the value's hash
//! ([`cookie_key`], never equal to a client prefix's key), bound with
//! [`bind_key`](StickyTable::bind_key) and aged from their last use.
//!
//! # Lifetime
//!
//! A binding is kept while it has active flows on this core, and for `sticky_age` after its
//! last flow ends: [`flow_ended`](StickyTable::flow_ended) taking the count to zero at `t`
//! makes it expire at exactly `t + sticky_age` (alive at any `now < t + age`, gone at
//! `now >= t + age`, the same convention as the flow table). A new flow from the same prefix
//! before that finds the same server ([`lookup`](StickyTable::lookup)) and, counted by
//! [`flow_started`](StickyTable::flow_started), holds the binding again until it ends.
//!
//! The engine's path for a new flow is:
//!
//! ```text
//! server = lookup(svc, client, len, now) -> Some(s) and s usable => s
//!          otherwise => pick by the predictor (Maglev), bind(...), publish(StickyUpdate)
//! flow_started(svc, client, len)            // same instant, nothing in between
//! ...
//! flow_ended(svc, client, len, now, age)    // when the flow table drops the flow
//! ```
//!
//! `flow_started` takes no `now` (it only counts) and counts on a stored binding even if it
//! has expired but not been swept yet, so `bind` then `flow_started` at the same instant works
//! for any age, zero included.
//!
//! # Servers going down, and draining
//!
//! [`remove_server`](StickyTable::remove_server) drops every binding to a server; the control
//! side calls it on every core when a server goes *Down*, so its clients are rescheduled by
//! the predictor. A *Disabled* (draining) server keeps its bindings: its sticky clients keep
//! reaching it until their bindings age out, and only clients without a binding are kept
//! away from it. That is ServerIron's and HAProxy's behaviour for persistent sessions
//! (a drained server finishes the sessions it holds). [`lookup`](StickyTable::lookup) knows
//! nothing of server states: the caller checks that the server it returns is usable.
//!
//! After `remove_server`, flows of the removed server that end later still call
//! `flow_ended`; if the prefix has been bound again meanwhile they decrement the new
//! binding's count (never below zero). The worst that does is start the new binding's age
//! clock while some of its flows are still open, i.e. it may age out `sticky_age` early.
//!
//! # Cross-core agreement
//!
//! Each core has its own table and nothing is shared on the packet path. The first choice for
//! a client is made by Maglev over the servers that are up, so cores agree even before they
//! talk; a binding learned on one core is then sent to the others as a [`StickyUpdate`] over a
//! [`StickyBus`] (bounded crossbeam channels, `try_send`: a full peer loses the update, which
//! is counted, and is never waited for). [`apply`](StickyTable::apply) installs a received
//! binding with no active flows on this core: it ages from the instant it is applied, and a
//! local flow then holds it like any other. Each core ages its own copy: when the copy on a
//! quiet core expires, its next flow from that client is chosen again (by Maglev, so the same
//! server while the set of servers is unchanged) and published again. Updates are last
//! writer wins; an update for a binding that has local flows keeps their count.
//!
//! # Layout
//!
//! One open-addressing array with linear probing and backward-shift deletion (no
//! tombstones), `next_power_of_two(2 * capacity)` slots of 32 bytes, allocated once in
//! [`StickyTable::new`] and never resized: at most half full, so probes are short, and a
//! lookup touches one or two cache lines. The hash is keyed by the engine's secret
//! ([`Secrets::sticky`](super::hash::Secrets)), so clients cannot aim at one chain.
//!
//! When `capacity` bindings are stored (expired ones count until swept), `bind` refuses with
//! [`StickyFull`] and counts it; the caller still serves the flow, just without stickiness.
//!
//! [`expire`](StickyTable::expire) sweeps a bounded number of slots per call from a cursor,
//! like the flow table's. Nothing here allocates after construction, and
//! `#![forbid(unsafe_code)]` holds.

#![forbid(unsafe_code)]

#[cfg(test)]
mod tests;

use std::cell::Cell;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::hash;
use crate::time::Instant;

/// Slots `expire` may pass per binding it is allowed to remove.
const SCAN_PER_EXPIRY: usize = 8;

/// `client` masked to its first `prefix_len` bits (a length above 32 counts as 32).
#[inline]
pub fn mask(client: Ipv4Addr, prefix_len: u8) -> u32 {
    let ip = u32::from(client);
    match prefix_len {
        0 => 0,
        len if len >= 32 => ip,
        len => ip & (u32::MAX << (32 - u32::from(len))),
    }
}

/// The key of a client prefix's binding: the masked address.
#[inline]
pub fn client_key(client: Ipv4Addr, prefix_len: u8) -> u64 {
    u64::from(mask(client, prefix_len))
}

/// The key of a cookie value's binding: its 64-bit hash, kept apart from every client
/// prefix's key by the top bit.
#[inline]
pub fn cookie_key(value_hash: u64) -> u64 {
    value_hash | 1 << 63
}

/// A binding learned on one core, for the others. `key` is a [`client_key`] or a
/// [`cookie_key`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StickyUpdate {
    pub service: u16,
    pub key: u64,
    pub server: u16,
}

impl StickyUpdate {
    /// Whether it binds a cookie value (else a client prefix).
    pub fn is_cookie(&self) -> bool {
        self.key >> 63 == 1
    }
}

/// The table holds `capacity` bindings: a new one was refused (the flow is served anyway,
/// without stickiness).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StickyFull;

impl fmt::Display for StickyFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sticky table full")
    }
}

impl std::error::Error for StickyFull {}

/// What the sticky table did, for the per-core counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StickyCounters {
    /// New bindings made on this core by `bind` (an expired, unswept one bound again counts).
    pub bindings_created: u64,
    /// `bind` or `apply` refused because the table was full.
    pub bindings_refused_full: u64,
    /// Updates from other cores installed by `apply`.
    pub updates_applied: u64,
    /// Updates this core published that a full (or gone) peer did not take; see
    /// [`StickyTable::record_dropped`].
    pub updates_dropped: u64,
    /// Bindings removed by `expire`.
    pub expired: u64,
}

/// One binding as the control side and tests see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StickyEntry {
    pub service: u16,
    /// The masked client prefix ([`client_key`]) or the cookie value's hash ([`cookie_key`]).
    pub key: u64,
    pub server: u16,
    /// This core's flows bound through it.
    pub active: u32,
    /// When it expires if no flow holds it (meaningless while `active > 0`).
    pub expires: Instant,
}

impl StickyEntry {
    /// Whether the binding is gone at `now` (no flow holds it and its age has run out).
    pub fn is_expired(&self, now: Instant) -> bool {
        self.active == 0 && self.expires <= now
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    expires: u64,
    key: u64,
    active: u32,
    service: u16,
    server: u16,
    used: bool,
}

impl Slot {
    const EMPTY: Slot = Slot { expires: 0, key: 0, active: 0, service: 0, server: 0, used: false };

    #[inline]
    fn is_expired(&self, now: u64) -> bool {
        self.active == 0 && self.expires <= now
    }

    fn entry(&self) -> StickyEntry {
        StickyEntry {
            service: self.service,
            key: self.key,
            server: self.server,
            active: self.active,
            expires: Instant::from_nanos(self.expires),
        }
    }
}

/// The per-core sticky table. See the module documentation.
pub struct StickyTable {
    slots: Box<[Slot]>,
    /// `slots.len() - 1`; the length is a power of two.
    mask: usize,
    capacity: usize,
    len: usize,
    cursor: usize,
    seed: u64,
    counters: StickyCounters,
}

impl fmt::Debug for StickyTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StickyTable")
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .field("slots", &self.slots.len())
            .field("counters", &self.counters)
            .finish()
    }
}

impl StickyTable {
    /// A table for `capacity` bindings with hash key 0: for tests and benchmarks only (the
    /// engine's tables are keyed by its secrets).
    pub fn with_capacity(capacity: usize) -> StickyTable {
        StickyTable::new(capacity, 0)
    }

    /// A table for `capacity` bindings, all memory allocated here. `seed` keys the hash.
    pub fn new(capacity: usize, seed: u64) -> StickyTable {
        let n = capacity.checked_mul(2).and_then(usize::checked_next_power_of_two).expect("sticky capacity too large");
        let n = n.max(2);
        StickyTable {
            slots: vec![Slot::EMPTY; n].into_boxed_slice(),
            mask: n - 1,
            capacity,
            len: 0,
            cursor: 0,
            seed,
            counters: StickyCounters::default(),
        }
    }

    /// Bindings stored, expired but not yet swept ones included.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most bindings the table holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes of table memory (fixed at construction).
    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot>()
    }

    pub fn counters(&self) -> &StickyCounters {
        &self.counters
    }

    /// Adds updates this core's [`StickyPort::publish`] could not deliver to the counters.
    pub fn record_dropped(&mut self, n: usize) {
        self.counters.updates_dropped += n as u64;
    }

    /// The server `client` (masked to `prefix_len`) is bound to for `service`, if a binding
    /// exists and has not expired at `now`.
    #[inline]
    pub fn lookup(&self, service: u16, client: Ipv4Addr, prefix_len: u8, now: Instant) -> Option<u16> {
        let i = self.find(service, client_key(client, prefix_len)).ok()?;
        let s = &self.slots[i];
        (!s.is_expired(now.as_nanos())).then_some(s.server)
    }

    /// Binds `client`'s prefix to `server` for `service`, creating the binding or overwriting
    /// its server. Without active flows it expires `age` after `now`; a count of active flows
    /// already there is kept. Refused, and counted, when the table is full.
    pub fn bind(
        &mut self,
        service: u16,
        client: Ipv4Addr,
        prefix_len: u8,
        server: u16,
        now: Instant,
        age: Duration,
    ) -> Result<(), StickyFull> {
        match self.install(service, client_key(client, prefix_len), server, now, age) {
            Ok(created) => {
                if created {
                    self.counters.bindings_created += 1;
                }
                Ok(())
            }
            Err(full) => {
                self.counters.bindings_refused_full += 1;
                Err(full)
            }
        }
    }

    /// The server the binding `key` ([`cookie_key`]) names for `service`, if it exists and
    /// has not expired at `now`.
    #[inline]
    pub fn lookup_key(&self, service: u16, key: u64, now: Instant) -> Option<u16> {
        let i = self.find(service, key).ok()?;
        let s = &self.slots[i];
        (!s.is_expired(now.as_nanos())).then_some(s.server)
    }

    /// Binds `key` ([`cookie_key`]) to `server` for `service` until `age` after `now` (a use
    /// refreshes it by binding again). Refused, and counted, when the table is full.
    pub fn bind_key(
        &mut self,
        service: u16,
        key: u64,
        server: u16,
        now: Instant,
        age: Duration,
    ) -> Result<(), StickyFull> {
        match self.install(service, key, server, now, age) {
            Ok(created) => {
                if created {
                    self.counters.bindings_created += 1;
                }
                Ok(())
            }
            Err(full) => {
                self.counters.bindings_refused_full += 1;
                Err(full)
            }
        }
    }

    /// Installs a binding learned on another core, with no active flows of this core (a count
    /// already there is kept): it expires `age` after `now` unless a local flow holds it.
    /// Refused, and counted as refused, when the table is full.
    pub fn apply(&mut self, update: StickyUpdate, now: Instant, age: Duration) -> Result<(), StickyFull> {
        match self.install(update.service, update.key, update.server, now, age) {
            Ok(_) => {
                self.counters.updates_applied += 1;
                Ok(())
            }
            Err(full) => {
                self.counters.bindings_refused_full += 1;
                Err(full)
            }
        }
    }

    /// Counts a flow starting on `client`'s binding, which then lives until the flow ends.
    /// Returns false, doing nothing, when there is no binding (an expired binding not yet
    /// swept counts: call this at the instant of the `lookup` or `bind` that chose the server).
    pub fn flow_started(&mut self, service: u16, client: Ipv4Addr, prefix_len: u8) -> bool {
        match self.find(service, client_key(client, prefix_len)) {
            Ok(i) => {
                let s = &mut self.slots[i];
                s.active = s.active.saturating_add(1);
                true
            }
            Err(_) => false,
        }
    }

    /// Counts a flow on `client`'s binding ending at `now`; when it was the last, the binding
    /// expires `age` later. Returns false, doing nothing, when there is no binding or it has
    /// no active flows.
    pub fn flow_ended(&mut self, service: u16, client: Ipv4Addr, prefix_len: u8, now: Instant, age: Duration) -> bool {
        let Ok(i) = self.find(service, client_key(client, prefix_len)) else {
            return false;
        };
        let s = &mut self.slots[i];
        if s.active == 0 {
            return false;
        }
        s.active -= 1;
        if s.active == 0 {
            s.expires = (now + age).as_nanos();
        }
        true
    }

    /// Drops every binding to `server`, active or not (a server gone Down; a Disabled,
    /// draining server keeps its bindings). Scans the whole table: a control-side call, not
    /// one for the packet path. Returns how many it dropped.
    pub fn remove_server(&mut self, server: u16) -> usize {
        let mut removed = 0;
        let mut i = 0;
        while i < self.slots.len() {
            let s = &self.slots[i];
            if s.used && s.server == server {
                // The backward shift may have pulled a not yet examined binding into slot `i`.
                self.remove_at(i);
                removed += 1;
            } else {
                i += 1;
            }
        }
        removed
    }

    /// Removes up to `max` bindings expired at `now`. Moves the cursor over no more than
    /// `8 * max` slots (and never more than all of them) from where the previous call
    /// stopped, so the cost per call is bounded; `max >= capacity` sweeps the whole table.
    /// Returns how many it removed.
    pub fn expire(&mut self, now: Instant, max: usize) -> usize {
        if self.len == 0 {
            return 0; // nothing stored: no scan (ports without stickiness pay nothing)
        }
        let budget = max.saturating_mul(SCAN_PER_EXPIRY).min(self.slots.len());
        let now = now.as_nanos();
        let (mut passed, mut removed) = (0, 0);
        while passed < budget && removed < max {
            let i = self.cursor;
            let s = &self.slots[i];
            if s.used && s.is_expired(now) {
                // Stay on `i`: the backward shift may have pulled the next binding into it.
                self.remove_at(i);
                removed += 1;
            } else {
                self.cursor = (i + 1) & self.mask;
                passed += 1;
            }
        }
        self.counters.expired += removed as u64;
        removed
    }

    /// The binding for `client`'s prefix, expired or not (control side, tests).
    pub fn entry(&self, service: u16, client: Ipv4Addr, prefix_len: u8) -> Option<StickyEntry> {
        self.find(service, client_key(client, prefix_len)).ok().map(|i| self.slots[i].entry())
    }

    /// Every stored binding, expired but unswept ones included, in slot order (control side
    /// and tests; not a fast path).
    pub fn iter(&self) -> impl Iterator<Item = StickyEntry> + '_ {
        self.slots.iter().filter(|s| s.used).map(Slot::entry)
    }

    #[inline]
    fn home(&self, service: u16, key: u64) -> usize {
        (hash::keyed(self.seed, key, u64::from(service)) as usize) & self.mask
    }

    /// `Ok(slot)` holding the key, or `Err(empty slot)` where it would go. There is always an
    /// empty slot (at most half of them are used), so the probe ends.
    #[inline]
    fn find(&self, service: u16, key: u64) -> Result<usize, usize> {
        let mut i = self.home(service, key);
        loop {
            let s = &self.slots[i];
            if !s.used {
                return Err(i);
            }
            if s.key == key && s.service == service {
                return Ok(i);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Creates or overwrites a binding; `Ok(true)` when it is new (or replaced an expired one).
    fn install(
        &mut self,
        service: u16,
        key: u64,
        server: u16,
        now: Instant,
        age: Duration,
    ) -> Result<bool, StickyFull> {
        let expires = (now + age).as_nanos();
        match self.find(service, key) {
            Ok(i) => {
                let s = &mut self.slots[i];
                let created = s.is_expired(now.as_nanos());
                s.server = server;
                s.expires = expires;
                Ok(created)
            }
            Err(_) if self.len >= self.capacity => Err(StickyFull),
            Err(i) => {
                self.slots[i] = Slot { expires, key, active: 0, service, server, used: true };
                self.len += 1;
                Ok(true)
            }
        }
    }

    /// Empties slot `i` and shifts the rest of its probe run back (no tombstones). Only slots
    /// after `i` in probe order move, each to an earlier slot of the run.
    fn remove_at(&mut self, i: usize) {
        let mut hole = i;
        let mut j = (i + 1) & self.mask;
        while self.slots[j].used {
            let s = self.slots[j];
            let home = self.home(s.service, s.key);
            // `s` may fill the hole if the hole lies on its probe path, i.e. in [home, j).
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(hole) & self.mask) {
                self.slots[hole] = s;
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        self.slots[hole] = Slot::EMPTY;
        self.len -= 1;
    }
}

/// Bounded channels between cores carrying [`StickyUpdate`]s: one inbox per core.
pub struct StickyBus;

impl StickyBus {
    /// One port per core; each core's inbox holds `capacity_per_core` updates (at least 1).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(n_cores: usize, capacity_per_core: usize) -> Vec<StickyPort> {
        let (txs, rxs): (Vec<Sender<StickyUpdate>>, Vec<Receiver<StickyUpdate>>) =
            (0..n_cores).map(|_| crossbeam_channel::bounded(capacity_per_core.max(1))).unzip();
        rxs.into_iter()
            .enumerate()
            .map(|(core, rx)| StickyPort {
                core,
                rx,
                peers: txs.iter().enumerate().filter(|&(c, _)| c != core).map(|(_, tx)| tx.clone()).collect(),
                dropped: Cell::new(0),
            })
            .collect()
    }
}

/// One core's end of the [`StickyBus`]: its inbox and a sender to every other core.
pub struct StickyPort {
    core: usize,
    rx: Receiver<StickyUpdate>,
    peers: Vec<Sender<StickyUpdate>>,
    dropped: Cell<u64>,
}

impl fmt::Debug for StickyPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StickyPort")
            .field("core", &self.core)
            .field("peers", &self.peers.len())
            .field("pending", &self.rx.len())
            .field("dropped", &self.dropped.get())
            .finish()
    }
}

impl StickyPort {
    /// The core this port belongs to.
    pub fn core(&self) -> usize {
        self.core
    }

    /// Sends `update` to every other core without waiting: a peer whose inbox is full (or
    /// that is gone) does not get it, and that is counted. Returns how many peers missed it.
    pub fn publish(&self, update: StickyUpdate) -> usize {
        let mut missed = 0;
        for tx in &self.peers {
            match tx.try_send(update) {
                Ok(()) => {}
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => missed += 1,
            }
        }
        self.dropped.set(self.dropped.get() + missed as u64);
        missed
    }

    /// Up to `max` updates waiting for this core, without waiting for more.
    pub fn drain(&self, max: usize) -> impl Iterator<Item = StickyUpdate> + '_ {
        self.rx.try_iter().take(max)
    }

    /// Updates this port could not deliver, since it was made.
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }
}
