//! The checker's network device: two bounded queues of IPv4 packets in memory.
//!
//! The data-path workers hand over the packets addressed to the checker (`rx`); smoltcp's
//! packets wait in `tx` until the caller takes them, wraps them in Ethernet and routes them.
//! Buffers are recycled, so a running checker allocates nothing per packet.

use std::collections::VecDeque;

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant as SmolInstant;

/// The IP MTU of the server-side network.
pub const MTU: usize = 1500;

/// A bounded FIFO of packets.
#[derive(Debug)]
pub struct PacketQueue {
    packets: VecDeque<Vec<u8>>,
    limit: usize,
    /// Emptied buffers, kept for the next packets (at most `limit`).
    spare: Vec<Vec<u8>>,
}

impl PacketQueue {
    pub fn new(limit: usize) -> PacketQueue {
        PacketQueue { packets: VecDeque::with_capacity(limit), limit, spare: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.packets.len()
    }

    pub fn is_full(&self) -> bool {
        self.packets.len() >= self.limit
    }

    pub fn front(&self) -> Option<&[u8]> {
        self.packets.front().map(Vec::as_slice)
    }

    /// Queues a packet of `len` bytes written by `fill`; `fill` back, unused, when full.
    pub fn push_with<R, F: FnOnce(&mut [u8]) -> R>(&mut self, len: usize, fill: F) -> Result<R, F> {
        if self.is_full() {
            return Err(fill);
        }
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.resize(len, 0);
        let r = fill(&mut buf);
        self.packets.push_back(buf);
        Ok(r)
    }

    pub fn pop(&mut self) -> Option<Vec<u8>> {
        self.packets.pop_front()
    }

    pub fn recycle(&mut self, buf: Vec<u8>) {
        if self.spare.len() < self.limit {
            self.spare.push(buf);
        }
    }
}

/// The device smoltcp polls.
#[derive(Debug)]
pub struct Queues {
    pub rx: PacketQueue,
    pub tx: PacketQueue,
    /// Times smoltcp found `tx` full (it retries on a later poll).
    pub tx_blocked: u64,
    /// The IP MTU smoltcp is told.
    pub mtu: usize,
}

impl Queues {
    pub fn new(limit: usize) -> Queues {
        Queues { rx: PacketQueue::new(limit), tx: PacketQueue::new(limit), tx_blocked: 0, mtu: MTU }
    }
}

impl Device for Queues {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: SmolInstant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        // A packet may need an answer (an ACK, a reset); leave it queued until one fits.
        if self.tx.is_full() {
            self.tx_blocked += 1;
            return None;
        }
        let buf = self.rx.pop()?;
        Some((RxToken { buf, rx: &mut self.rx.spare, limit: self.rx.limit }, TxToken { tx: &mut self.tx }))
    }

    fn transmit(&mut self, _now: SmolInstant) -> Option<TxToken<'_>> {
        if self.tx.is_full() {
            self.tx_blocked += 1;
            return None;
        }
        Some(TxToken { tx: &mut self.tx })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        caps
    }
}

pub struct RxToken<'a> {
    buf: Vec<u8>,
    /// Where the buffer goes back once read.
    rx: &'a mut Vec<Vec<u8>>,
    limit: usize,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.buf);
        if self.rx.len() < self.limit {
            self.rx.push(self.buf);
        }
        r
    }
}

pub struct TxToken<'a> {
    tx: &'a mut PacketQueue,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        // The queue had room when the token was made and a token is spent once, so the
        // packet is dropped only if that ever changes.
        match self.tx.push_with(len, f) {
            Ok(r) => r,
            Err(f) => f(&mut vec![0; len]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::{RxToken as _, TxToken as _};

    #[test]
    fn queues_are_bounded_and_recycle_buffers() {
        let mut q = Queues::new(2);
        for _ in 0..2 {
            let tx = q.transmit(SmolInstant::ZERO).expect("room");
            tx.consume(40, |b| b[0] = 0x45);
        }
        assert!(q.transmit(SmolInstant::ZERO).is_none());
        assert_eq!((q.tx.len(), q.tx_blocked), (2, 1));
        let buf = q.tx.pop().expect("queued");
        q.tx.recycle(buf);
        assert_eq!(q.tx.spare.len(), 1);

        assert!(q.rx.push_with(3, |b| b.copy_from_slice(b"abc")).is_ok());
        q.tx.pop();
        let (rx, _tx) = q.receive(SmolInstant::ZERO).expect("a packet");
        assert_eq!(rx.consume(|b| b.to_vec()), b"abc");
        assert_eq!(q.rx.spare.len(), 1);
    }
}
