//! The engine's one hash mixer, and the secrets that key every hash an outsider can aim at.
//!
//! A table whose hash key is public lets anyone compute keys that land in one bucket and
//! get real clients refused as "table full". So the flow table, the sticky and cookie
//! tables, the client hashing of the predictors and the SYN cookies are keyed by
//! [`Secrets`], drawn from the operating system when `stickwire run` starts. Replay, tests
//! and benchmarks derive them from the config's `seed` instead, so their output is the same
//! to the byte every time.

use std::fmt;

const K0: u64 = 0x9e37_79b9_7f4a_7c15;
const K1: u64 = 0xbf58_476d_1ce4_e5b9;
const K2: u64 = 0x94d0_49bb_1331_11eb;
const K3: u64 = 0x2545_f491_4f6c_dd1d;

/// Multiplies to 128 bits and folds the halves together: the wyhash / foldhash mixer.
#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// Hashes two words under `key`: two folded 64x64->128 multiplies, every output bit depending
/// on every input bit. Fast enough for every frame; resists collision attacks only while
/// `key` is secret (as foldhash and aHash do), which is what [`Secrets`] are for.
#[inline(always)]
pub fn keyed(key: u64, a: u64, b: u64) -> u64 {
    let h = fold_mul(a ^ key ^ K0, b ^ K1);
    fold_mul(h ^ b ^ K2, K3)
}

/// [`keyed`] with no key, for inputs no outsider chooses (server names, derived salts).
#[inline(always)]
pub fn mix(a: u64, b: u64) -> u64 {
    keyed(0, a, b)
}

/// A stable 64-bit hash of some bytes (a server's name, a cookie's value) under `key`.
pub fn bytes(key: u64, data: &[u8]) -> u64 {
    let mut h = keyed(key, data.len() as u64, 0);
    for chunk in data.chunks(16) {
        let mut words = [0u8; 16];
        words[..chunk.len()].copy_from_slice(chunk);
        let (a, b) = words.split_at(8);
        let word = |w: &[u8]| u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        h = keyed(h, word(a), word(b));
    }
    h
}

/// The keys of every hash an outsider can aim at. The same on every core of one process
/// (cores must agree on a client's first server), different in every `stickwire run`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Secrets {
    /// The flow table's buckets.
    pub flow: u64,
    /// The sticky (source-IP) and cookie binding tables.
    pub sticky: u64,
    /// Client hashing: the predictors' flow hash and the consistent first choice of sticky
    /// and cookie ports.
    pub client: u64,
    /// The Maglev permutations.
    pub maglev: u64,
    /// SipHash key of SYN cookies and initial sequence numbers.
    pub syn: [u8; 16],
}

impl Secrets {
    /// Fresh secrets from the operating system's random source.
    pub fn from_os() -> Result<Secrets, getrandom::Error> {
        let mut bytes = [0u8; 48];
        getrandom::fill(&mut bytes)?;
        let word = |i: usize| u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().unwrap_or([0; 8]));
        let mut syn = [0u8; 16];
        syn.copy_from_slice(&bytes[32..48]);
        Ok(Secrets { flow: word(0), sticky: word(1), client: word(2), maglev: word(3), syn })
    }

    /// Secrets that follow from `seed` alone, for output that must be reproducible (replay,
    /// tests, benchmarks). The Maglev permutation seed is `seed` itself, as it always was,
    /// so recorded expectations keep their server choices.
    pub fn from_seed(seed: u64) -> Secrets {
        let derive = |i: u64| keyed(seed, 0x5ec7_e75a_u64 ^ i, i);
        let mut syn = [0u8; 16];
        syn[..8].copy_from_slice(&derive(4).to_le_bytes());
        syn[8..].copy_from_slice(&derive(5).to_le_bytes());
        Secrets { flow: derive(0), sticky: derive(1), client: derive(2), maglev: seed, syn }
    }

    /// A short digest of the secrets that reveals nothing of them: logged at start, so that an
    /// operator (and a test) can tell two runs' keys apart.
    pub fn fingerprint(&self) -> u32 {
        let syn = bytes(self.flow, &self.syn);
        (keyed(keyed(self.flow, self.sticky, self.client), self.maglev, syn) >> 32) as u32
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets {{ fingerprint: {:08x} }}", self.fingerprint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_secrets_differ_seeded_ones_repeat() {
        let (a, b) = (Secrets::from_os().unwrap(), Secrets::from_os().unwrap());
        assert_ne!(a, b);
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(Secrets::from_seed(7), Secrets::from_seed(7));
        assert_ne!(Secrets::from_seed(7).flow, Secrets::from_seed(8).flow);
        assert_eq!(Secrets::from_seed(7).maglev, 7);
        // The four 64-bit keys are independent of each other.
        let s = Secrets::from_seed(1);
        let keys = [s.flow, s.sticky, s.client, s.maglev];
        for i in 0..keys.len() {
            for j in 0..i {
                assert_ne!(keys[i], keys[j]);
            }
        }
        assert!(!format!("{s:?}").contains(&s.flow.to_string()), "Debug must not print a key");
    }

    #[test]
    fn keyed_hash_depends_on_key_and_every_input_bit() {
        let base = keyed(1, 2, 3);
        assert_ne!(keyed(2, 2, 3), base);
        for bit in 0..64 {
            assert_ne!(keyed(1, 2 ^ (1 << bit), 3), base, "bit {bit} of a");
            assert_ne!(keyed(1, 2, 3 ^ (1 << bit)), base, "bit {bit} of b");
        }
        assert_ne!(bytes(0, b"rs1"), bytes(0, b"rs2"));
        assert_ne!(bytes(0, b"a"), bytes(0, b"a\0"));
        assert_ne!(bytes(0, b"a"), bytes(1, b"a"));
    }
}
