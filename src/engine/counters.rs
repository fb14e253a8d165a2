//! Per-core counters: every frame the engine sees ends in exactly one of them.

use std::fmt;

macro_rules! drop_reasons {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, )+) => {
        /// Why a frame was dropped. Every drop is counted under one of these.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum DropReason {
            $( $(#[$doc])* $variant, )+
        }

        impl DropReason {
            /// Every reason, in the order the counters print.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant,)+];

            /// The counter's name as users see it.
            pub fn name(self) -> &'static str {
                match self {
                    $(DropReason::$variant => $name,)+
                }
            }
        }
    };
}

drop_reasons! {
    /// Shorter than an Ethernet header (or a VLAN tag without its type).
    Runt => "runt",
    /// Unicast to a MAC address that is not the port's.
    NotOurMac => "not-our-mac",
    /// An IPv6 frame: stickwire switches IPv4 only.
    Ipv6 => "ipv6",
    /// Any other EtherType.
    UnknownEthertype => "unknown-ethertype",
    /// ARP shorter than its 28 bytes.
    ArpTruncated => "arp-truncated",
    /// ARP for another hardware or protocol type than Ethernet/IPv4.
    ArpUnsupported => "arp-unsupported",
    /// An ARP request for an address the switch does not own.
    ArpNotForUs => "arp-not-for-us",
    /// An ARP reply or announcement the switch had no use for.
    ArpIgnored => "arp-ignored",
    /// IPv4 header that does not parse: short, bad version, bad IHL, total length
    /// beyond the frame.
    Ipv4Malformed => "ipv4-malformed",
    /// IPv4 header checksum wrong.
    Ipv4BadChecksum => "ipv4-bad-checksum",
    /// IPv4 fragment addressed to the switch (it does not reassemble).
    Ipv4Fragment => "ipv4-fragment",
    /// IPv4 to an address the switch neither owns nor forwards.
    NotForUs => "not-for-us",
    /// ICMP shorter than its header, or with a bad checksum.
    IcmpMalformed => "icmp-malformed",
    /// ICMP other than echo request.
    IcmpUnhandled => "icmp-unhandled",
    /// TCP header that does not parse, or with a bad checksum.
    TcpMalformed => "tcp-malformed",
    /// A TCP segment other than SYN to a VIP port that is not configured.
    TcpClosedPort => "tcp-closed-port",
    /// TCP to one of the switch's own addresses: no local service (health checks are
    /// handed over by their own rule).
    TcpToSwitch => "tcp-to-switch",
    /// UDP header that does not parse, or with a bad checksum.
    UdpMalformed => "udp-malformed",
    /// UDP to a VIP or own address with no service on that port.
    UdpNoService => "udp-no-service",
    /// A TCP segment other than a SYN for a served VIP port with no flow (LVS drops these).
    TcpNoFlow => "tcp-no-flow",
    /// A forwarded packet whose TTL ran out.
    TtlExpired => "ttl-expired",
    /// A RST for a tracked connection whose sequence number is outside the window the
    /// switch has seen (RFC 5961): not believed, the connection goes on.
    RstOutOfWindow => "rst-out-of-window",
    /// A client's SYN repeated on a connection still waiting for its server's answer sooner
    /// than a client retransmits (a flood repeating its tuples): the first one went on.
    SynRepeat => "syn-repeat",
    /// A SYN refused (no server, full table) while half-open connections crowd the table
    /// (a SYN flood): dropped instead of answered with a RST to a likely spoofed source.
    RefusedUnderFlood => "refused-under-flood",
    /// A non-TCP frame of a flow whose server went down.
    ServerDown => "server-down",
    /// A UDP datagram for a served port with no server that can take it.
    NoServer => "no-server",
    /// IP protocol the switch does not handle.
    UnknownProtocol => "unknown-protocol",
    /// No port's subnet (or gateway) reaches the destination.
    NoRoute => "no-route",
    /// The queue of frames waiting for an ARP answer was full.
    NeighbourQueueFull => "neighbour-queue-full",
    /// A frame waited for an ARP answer that never came.
    NeighbourUnresolved => "neighbour-unresolved",
    /// A frame for a next hop that did not answer ARP a moment ago (not asked again yet).
    NeighbourFailed => "neighbour-failed",
    /// A frame the switch had to originate could not get a buffer.
    NoBuffer => "no-buffer",
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Counters of one engine (one core). Summed by whoever prints them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub rx_frames: u64,
    pub arp_replies_sent: u64,
    pub arp_requests_sent: u64,
    pub gratuitous_arps_sent: u64,
    pub neighbours_learned: u64,
    pub echo_replies_sent: u64,
    pub resets_sent: u64,
    pub forwarded: u64,
    /// TCP segments handed to the switch's own TCP stack (health checks' answers).
    pub to_control: u64,
    /// Packets the switch's own TCP stack sent.
    pub local_sent: u64,
    drops: [u64; DropReason::ALL.len()],
}

impl Counters {
    pub fn count_drop(&mut self, reason: DropReason) {
        self.drops[reason as usize] += 1;
    }

    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Adds another core's counters to these.
    pub fn add(&mut self, other: &Counters) {
        self.rx_frames += other.rx_frames;
        self.arp_replies_sent += other.arp_replies_sent;
        self.arp_requests_sent += other.arp_requests_sent;
        self.gratuitous_arps_sent += other.gratuitous_arps_sent;
        self.neighbours_learned += other.neighbours_learned;
        self.echo_replies_sent += other.echo_replies_sent;
        self.resets_sent += other.resets_sent;
        self.forwarded += other.forwarded;
        self.to_control += other.to_control;
        self.local_sent += other.local_sent;
        for (mine, theirs) in self.drops.iter_mut().zip(other.drops.iter()) {
            *mine += theirs;
        }
    }

    /// Every counter's value by name, in printing order.
    pub fn all(&self) -> Vec<(&'static str, u64)> {
        let mut all = vec![
            ("rx-frames", self.rx_frames),
            ("arp-replies-sent", self.arp_replies_sent),
            ("arp-requests-sent", self.arp_requests_sent),
            ("gratuitous-arps-sent", self.gratuitous_arps_sent),
            ("neighbours-learned", self.neighbours_learned),
            ("echo-replies-sent", self.echo_replies_sent),
            ("resets-sent", self.resets_sent),
            ("forwarded", self.forwarded),
            ("to-control", self.to_control),
            ("local-sent", self.local_sent),
        ];
        all.extend(DropReason::ALL.iter().map(|r| (r.name(), self.drops(*r))));
        all
    }

    /// Named values, the ones that are zero left out, for printing and for tests.
    pub fn nonzero(&self) -> Vec<(&'static str, u64)> {
        let mut all = self.all();
        all.retain(|(_, v)| *v != 0);
        all
    }

    /// The name of every counter `Display` may print (it leaves out those at zero).
    pub fn names() -> Vec<&'static str> {
        Counters::default().all().into_iter().map(|(name, _)| name).collect()
    }
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let drops = self.total_drops();
        writeln!(f, "engine counters:")?;
        for (name, value) in self.nonzero() {
            let kind = if DropReason::ALL.iter().any(|r| r.name() == name) { "drop " } else { "" };
            writeln!(f, "  {kind}{name:<26} {value}")?;
        }
        write!(f, "  drops total                {drops}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_counted_by_reason_and_summed() {
        let mut a = Counters::default();
        a.count_drop(DropReason::Runt);
        a.count_drop(DropReason::Runt);
        let mut b = Counters::default();
        b.count_drop(DropReason::Ipv6);
        b.rx_frames = 3;
        a.add(&b);
        assert_eq!(a.drops(DropReason::Runt), 2);
        assert_eq!(a.drops(DropReason::Ipv6), 1);
        assert_eq!(a.total_drops(), 3);
        assert_eq!(a.nonzero(), vec![("rx-frames", 3), ("runt", 2), ("ipv6", 1)]);
    }
}
