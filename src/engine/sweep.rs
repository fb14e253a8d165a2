//! How hard the flow table's expiry sweep works: the number of entries the next sweep looks
//! at, set from what the last one found, in the spirit of conntrack's garbage collector
//! (`nf_conntrack_core.c`, `gc_worker`), which scans less while it finds little to evict.
//!
//! A sweep that looks at many live entries and removes few wastes its reads (each entry is
//! a cache line), so the pace halves down to [`SweepPace::MIN`]; one that finds expired
//! entries at a good rate doubles it up to [`SweepPace::MAX`]. When the sweep is behind (it
//! hit its removal cap) or the table is nearly full, it goes at full pace at once: expired
//! flows must not crowd out new ones.
//!
//! At the slowest pace, one sweep every 50 µs looks at 640 K entries a second, so a flow
//! outlives its timeout by at most a few seconds even in a table of millions.

/// Entries the next sweep looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepPace {
    scan: usize,
}

impl SweepPace {
    /// The fewest entries a sweep looks at.
    pub const MIN: usize = 32;
    /// The most: four per flow a sweep may remove.
    pub const MAX: usize = 256;

    /// Starts at full pace.
    pub const fn new() -> SweepPace {
        SweepPace { scan: Self::MAX }
    }

    /// Entries the next sweep should look at.
    pub fn scan(&self) -> usize {
        self.scan
    }

    /// Learns from a sweep that looked at `scanned` entries and removed `removed` flows,
    /// `capped` if it stopped because it removed as many as it may, of a table holding `len`
    /// flows out of `capacity`.
    pub fn after_sweep(&mut self, scanned: usize, removed: usize, capped: bool, len: usize, capacity: usize) {
        self.scan = if capped || len >= capacity - capacity / 8 {
            Self::MAX
        } else if removed * 8 < scanned {
            (self.scan / 2).max(Self::MIN)
        } else {
            (self.scan * 2).min(Self::MAX)
        };
    }
}

impl Default for SweepPace {
    fn default() -> SweepPace {
        SweepPace::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slows_down_while_it_finds_little() {
        let mut pace = SweepPace::new();
        for _ in 0..10 {
            let scan = pace.scan();
            pace.after_sweep(scan, 1, false, 1000, 100_000);
        }
        assert_eq!(pace.scan(), SweepPace::MIN);
    }

    #[test]
    fn speeds_up_when_it_finds_expired_flows() {
        let mut pace = SweepPace::new();
        pace.after_sweep(256, 0, false, 10, 100_000);
        pace.after_sweep(128, 0, false, 10, 100_000);
        assert_eq!(pace.scan(), 64);
        pace.after_sweep(64, 8, false, 10, 100_000);
        assert_eq!(pace.scan(), 128, "one in eight expired is worth a faster sweep");
    }

    #[test]
    fn full_pace_when_behind_or_nearly_full() {
        let mut pace = SweepPace::new();
        pace.after_sweep(256, 0, false, 10, 100_000);
        assert!(pace.scan() < SweepPace::MAX);
        pace.after_sweep(100, 64, true, 10, 100_000);
        assert_eq!(pace.scan(), SweepPace::MAX, "capped: more are waiting");
        pace.after_sweep(256, 0, false, 10, 100_000);
        pace.after_sweep(128, 0, false, 87_500, 100_000);
        assert_eq!(pace.scan(), SweepPace::MAX, "7/8 full");
        pace.after_sweep(256, 0, false, 87_499, 100_000);
        assert_eq!(pace.scan(), 128);
    }
}
