//! Arbitrary bytes as a capture file through the re-enactment's capture reader: every segment
//! walked, every conversation finished and judged. Never a panic, and what the walk hands out
//! is consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stickwire::reenact::capture::{Limits, Segments};

fuzz_target!(|data: &[u8]| {
    let limits = Limits { keep: 4096, max_pending: 64 * 1024 };
    let Ok(mut walk) = Segments::new(data, limits) else {
        return;
    };
    let mut segments = 0u64;
    while let Ok(Some(seg)) = walk.next_segment() {
        assert!(seg.payload.len() <= seg.wire_len as usize);
        if let Some(range) = seg.stream_range() {
            assert_eq!(range.end - range.start, seg.payload.len() as u64);
        }
        segments += 1;
    }
    let scan = walk.finish();
    assert_eq!(scan.conversations.iter().map(|c| c.frames).sum::<u64>(), segments);
    let _ = scan.notes();
    for conv in &scan.conversations {
        for reason in conv.incomplete() {
            let _ = reason.to_string();
        }
    }
});
