//! The initial sequence numbers the switch gives clients: keyed per connection (RFC 6528),
//! and, under a SYN flood, SYN cookies that carry the handshake's state in the number
//! itself, as Linux's `syncookies` do, so a SYN costs no memory until its ACK proves it.
//!
//! A cookie is `H(tuple) + client ISN + (minute << 24) + ((H(tuple, minute) + mss index) mod
//! 2^24)`, `H` a SipHash keyed by the engine's secret: only the switch can make one, it says
//! when it was made (accepted for [`MAX_AGE`] minutes) and which of [`MSS_TABLE`] the client
//! announced. The other options the client offered (window scale, SACK) ride in the low bits
//! of the timestamp the SYN-ACK carries, which the client echoes; a client without
//! timestamps gets neither (as with Linux).

use std::hash::Hasher;

use siphasher::sip::SipHasher24;

use crate::engine::flow::FlowKey;
use crate::time::Instant;

/// The MSS values a cookie can say the client announced (Linux's IPv4 table): the largest
/// not above the client's is what the switch then uses.
pub const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];
/// Minutes a cookie stays good after its SYN-ACK.
pub const MAX_AGE: u32 = 2;
const COOKIE_BITS: u32 = 24;
const COOKIE_MASK: u32 = (1 << COOKIE_BITS) - 1;
/// Timestamp bits that carry the options: window scale (4 bits, 15 = none) and SACK.
const TS_OPTION_BITS: u32 = 6;
const TS_OPTION_MASK: u32 = (1 << TS_OPTION_BITS) - 1;
const NO_WINDOW_SCALE: u32 = 0xf;

/// What a client offered in its SYN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offered {
    pub mss: u16,
    pub window_scale: Option<u8>,
    pub sack: bool,
    /// Its timestamp value, when it offered timestamps.
    pub ts_val: Option<u32>,
}

/// The keys the switch's sequence numbers are made with.
#[derive(Clone)]
pub struct SynKeys {
    key: [u8; 16],
}

impl std::fmt::Debug for SynKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SynKeys")
    }
}

impl SynKeys {
    pub fn new(key: [u8; 16]) -> SynKeys {
        SynKeys { key }
    }

    /// The keyed hash of a connection's tuple (client -> VIP) and `salt`.
    fn hash(&self, key: &FlowKey, salt: u32) -> u32 {
        // One 16-byte write: the bytes the five field writes gave (little-endian, in order),
        // without the hasher's buffering of each.
        let mut message = [0u8; 16];
        message[0..4].copy_from_slice(&u32::from(key.src).to_le_bytes());
        message[4..8].copy_from_slice(&u32::from(key.dst).to_le_bytes());
        message[8..10].copy_from_slice(&key.src_port.to_le_bytes());
        message[10..12].copy_from_slice(&key.dst_port.to_le_bytes());
        message[12..16].copy_from_slice(&salt.to_le_bytes());
        let mut h = SipHasher24::new_with_key(&self.key);
        h.write(&message);
        h.finish() as u32
    }

    /// A fresh initial sequence number for the connection `key` at `now`: RFC 6528's
    /// keyed hash of the tuple plus a clock ticking every 4 microseconds.
    pub fn isn(&self, key: &FlowKey, now: Instant) -> u32 {
        self.hash(key, u32::MAX).wrapping_add((now.as_nanos() / 4000) as u32)
    }

    /// The SYN cookie for a client SYN with initial sequence number `client_isn` that
    /// announced `mss`, made at `now`.
    pub fn cookie(&self, key: &FlowKey, client_isn: u32, mss: u16, now: Instant) -> u32 {
        let minute = minute(now);
        let index = MSS_TABLE.iter().rposition(|&m| m <= mss).unwrap_or(0) as u32;
        self.hash(key, 0)
            .wrapping_add(client_isn)
            .wrapping_add(minute << COOKIE_BITS)
            .wrapping_add(self.hash(key, minute).wrapping_add(index) & COOKIE_MASK)
    }

    /// Checks the cookie an ACK returns (its acknowledgment number less one) for the
    /// connection `key` whose client ISN was `client_isn` (the ACK's sequence number less
    /// one): the MSS it stands for, or `None` for a cookie the switch did not make or made
    /// too long ago.
    pub fn check(&self, key: &FlowKey, client_isn: u32, cookie: u32, now: Instant) -> Option<u16> {
        let rest = cookie.wrapping_sub(self.hash(key, 0)).wrapping_sub(client_isn);
        let now_minute = minute(now);
        let age = now_minute.wrapping_sub(rest >> COOKIE_BITS) & (u32::MAX >> COOKIE_BITS);
        if age >= MAX_AGE {
            return None;
        }
        let made = now_minute.wrapping_sub(age);
        let index = rest.wrapping_sub(self.hash(key, made)) & COOKIE_MASK;
        MSS_TABLE.get(index as usize).copied()
    }
}

/// The cookie clock: minutes (64 s) since the epoch of `now`, in 8 bits' worth of wrap.
fn minute(now: Instant) -> u32 {
    (now.as_nanos() >> 36) as u32 & (u32::MAX >> COOKIE_BITS)
}

/// The timestamp a cookie SYN-ACK carries: `ts_now` with its low bits replaced by the
/// client's window scale and SACK offer, never later than `ts_now`.
pub fn cookie_timestamp(ts_now: u32, offered: &Offered) -> u32 {
    let scale = offered.window_scale.map_or(NO_WINDOW_SCALE, |s| u32::from(s.min(14)));
    let options = scale | u32::from(offered.sack) << 4;
    let ts = (ts_now & !TS_OPTION_MASK) | options;
    if ts > ts_now {
        ts.wrapping_sub(1 << TS_OPTION_BITS)
    } else {
        ts
    }
}

/// The client's window scale and SACK offer, read back from the timestamp it echoed.
pub fn options_from_timestamp(ts_ecr: u32) -> (Option<u8>, bool) {
    let scale = ts_ecr & 0xf;
    ((scale != NO_WINDOW_SCALE).then_some(scale as u8), ts_ecr & 0x10 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn key(port: u16) -> FlowKey {
        FlowKey::new(Ipv4Addr::new(198, 18, 0, 2), port, Ipv4Addr::new(198, 18, 0, 100), 80, 6)
    }

    fn at_secs(s: u64) -> Instant {
        Instant::from_nanos(s * 1_000_000_000)
    }

    /// The hash is the one the fields written one by one give, so cookies and sequence
    /// numbers (and the bytes of every replay) stay what they were.
    #[test]
    fn the_tuple_hashes_as_its_fields_written_one_by_one() {
        let keys = SynKeys::new(*b"0123456789abcdef");
        for (port, salt) in [(1u16, 0u32), (40000, 29), (65535, u32::MAX)] {
            let k = key(port);
            let mut h = SipHasher24::new_with_key(b"0123456789abcdef");
            h.write_u32(u32::from(k.src));
            h.write_u32(u32::from(k.dst));
            h.write_u16(k.src_port);
            h.write_u16(k.dst_port);
            h.write_u32(salt);
            assert_eq!(keys.hash(&k, salt), h.finish() as u32);
        }
    }

    #[test]
    fn a_cookie_proves_itself_and_its_mss_for_two_minutes() {
        let keys = SynKeys::new([7; 16]);
        let now = at_secs(1_000_000);
        for (mss, expect) in [(1460, 1460), (1448, 1440), (1400, 1300), (600, 536), (100, 536), (9000, 1460)] {
            let c = keys.cookie(&key(40000), 12345, mss, now);
            assert_eq!(keys.check(&key(40000), 12345, c, now), Some(expect), "mss {mss}");
            assert_eq!(keys.check(&key(40000), 12345, c, now + std::time::Duration::from_secs(60)), Some(expect));
        }
        let c = keys.cookie(&key(40000), 12345, 1460, now);
        // Too old, another tuple, another client ISN, another key: refused. (As with Linux's
        // cookies, the client's ISN only shifts the MSS index: one a few off passes with a
        // smaller MSS, which needs the cookie anyway.)
        assert_eq!(keys.check(&key(40000), 12345, c, now + std::time::Duration::from_secs(200)), None);
        assert_eq!(keys.check(&key(40001), 12345, c, now), None);
        assert_eq!(keys.check(&key(40000), 12345 + 1000, c, now), None);
        assert_eq!(SynKeys::new([8; 16]).check(&key(40000), 12345, c, now), None);
    }

    #[test]
    fn guessed_cookies_almost_never_pass() {
        let keys = SynKeys::new([1; 16]);
        let now = at_secs(5000);
        let passed = (0..200_000u32)
            .filter(|&g| keys.check(&key(40000), 777, g.wrapping_mul(2_654_435_761), now).is_some())
            .count();
        // 4 MSS values out of 2^24 per minute window: about 0.05 of 200 000 guesses.
        assert!(passed <= 2, "{passed} guesses passed");
    }

    #[test]
    fn options_ride_in_the_timestamp() {
        for (scale, sack) in [(Some(7), true), (None, false), (Some(0), false), (Some(14), true)] {
            let offered = Offered { mss: 1460, window_scale: scale, sack, ts_val: Some(1) };
            let ts = cookie_timestamp(1_000_000, &offered);
            assert!(ts <= 1_000_000 && 1_000_000 - ts < 128);
            assert_eq!(options_from_timestamp(ts), (scale, sack));
        }
    }

    #[test]
    fn isns_differ_per_connection_and_move_with_time() {
        let keys = SynKeys::new([3; 16]);
        let now = at_secs(10);
        assert_ne!(keys.isn(&key(1), now), keys.isn(&key(2), now));
        let later = now + std::time::Duration::from_micros(400);
        assert_eq!(keys.isn(&key(1), later).wrapping_sub(keys.isn(&key(1), now)), 100);
    }
}
