//! The capture reader on real captures (`pcaps/corpus/`), checked against what tshark makes of
//! them: conversation tables (numbers below, from `tshark -r FILE -qz conv,tcp,ip`), streams
//! (`tshark -qz follow,tcp,raw,N`, run live: tshark is one of `scripts/install-deps.sh`'s
//! packages), relative sequence numbers, and the same captures re-encapsulated, cut and broken.

use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;

use super::*;
use crate::port::pcap::CaptureReader;
use crate::wire::{Ipv4Packet, TcpPacket};

const CORPUS: [&str; 6] = [
    "http-dvwa-login.pcapng",
    "suricata-jsessionid-sso.pcap",
    "suricata-ooo-retrans-cookie.pcap",
    "tcpreplay-test.pcap",
    "zeek-http-methods.pcap",
    "zeek-pipelined-requests.pcap",
];

/// The corpus: the repository's copy (`pcaps/corpus/`, see its README).
fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pcaps/corpus").join(name)
}

/// Keeps every stream whole, so tests can compare bytes.
const WHOLE: Limits = Limits { keep: usize::MAX, max_pending: 8 << 20 };

fn scan_file(name: &str) -> Scan {
    scan(&corpus(name), WHOLE).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn addr(s: &str) -> SocketAddrV4 {
    s.parse().unwrap_or_else(|_| panic!("{s}: not an address"))
}

fn find<'a>(scan: &'a Scan, client: &str, server: &str) -> &'a Conversation {
    let (client, server) = (addr(client), addr(server));
    let mut found = scan.conversations.iter().filter(|c| c.client == client && c.server == server);
    let conv = found.next().unwrap_or_else(|| panic!("no conversation {client} -> {server}"));
    assert!(found.next().is_none(), "two conversations {client} -> {server}");
    conv
}

fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark")
        .args(args)
        .output()
        .expect("tshark is needed for these tests (scripts/install-deps.sh installs it)");
    assert!(out.status.success(), "tshark {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("tshark prints text")
}

type Row = (&'static str, &'static str, u64, u64);

/// (client, server, client->server frames, server->client frames), as
/// `tshark -r FILE -qz conv,tcp,ip` lists them ("->" and "<-" columns). Every one starts with
/// its handshake but tcpreplay-test's :64565, which starts mid-stream.
const CONVERSATIONS: [(&str, &[Row]); 5] = [
    (
        "http-dvwa-login.pcapng",
        &[("10.2.2.101:58783", "10.2.2.104:80", 9, 6), ("10.2.2.101:58785", "10.2.2.104:80", 20, 19)],
    ),
    ("suricata-jsessionid-sso.pcap", &[("10.100.0.8:44270", "162.2.41.200:80", 7, 7)]),
    ("suricata-ooo-retrans-cookie.pcap", &[("10.3.11.101:49309", "174.56.47.59:80", 30, 45)]),
    (
        // tshark lists 7: the seventh is IPv6, [2001:4958:15a0:24:c1b3:b766:7fff:d0b3]:43250.
        "tcpreplay-test.pcap",
        &[
            ("172.16.11.12:64565", "74.125.19.17:443", 5, 4),
            ("172.16.11.12:64581", "216.34.181.45:80", 21, 33),
            ("172.16.11.12:64582", "96.17.211.172:80", 5, 4),
            ("172.16.11.12:64583", "96.17.211.172:80", 6, 5),
            ("172.16.11.12:64584", "96.17.211.172:80", 7, 6),
            ("172.16.11.12:64585", "96.17.211.172:80", 6, 4),
        ],
    ),
    ("zeek-pipelined-requests.pcap", &[("192.168.1.104:1673", "63.245.209.11:80", 16, 33)]),
];

#[test]
fn every_corpus_file_parses_whole() {
    for name in CORPUS {
        let scan = scan_file(name);
        assert_eq!(scan.damage, None, "{name}");
        assert!(!scan.conversations.is_empty(), "{name}");
        assert_eq!(scan.ip.malformed, 0, "{name}");
        let segments: u64 = scan.conversations.iter().map(|c| c.frames).sum();
        assert_eq!(segments, scan.ip.tcp, "{name}: every TCP segment in a conversation");
        for conv in &scan.conversations {
            assert_eq!(conv.frames, conv.stream(Dir::ToServer).segments + conv.stream(Dir::ToClient).segments);
            assert!(conv.first <= conv.last);
        }
    }
}

#[test]
fn conversations_match_tshark() {
    for (name, expected) in CONVERSATIONS {
        let scan = scan_file(name);
        assert_eq!(scan.conversations.len(), expected.len(), "{name}");
        for &(client, server, to_server, to_client) in expected {
            let conv = find(&scan, client, server);
            let frames = (conv.stream(Dir::ToServer).segments, conv.stream(Dir::ToClient).segments);
            assert_eq!(frames, (to_server, to_client), "{name} {client}");
            let mid_stream = client.ends_with(":64565");
            assert_eq!(conv.seen.syn, !mid_stream, "{name} {client}");
            let no_syn = conv.incomplete().contains(&Incomplete::NoHandshake { syn: false });
            assert_eq!(no_syn, mid_stream, "{name} {client}");
        }
    }
    // 49 conversations from 128.2.6.136, ports 46562 to 46610, to 173.194.75.103:80: 332
    // frames one way, 323 the other, all 655 frames of the file.
    let scan = scan_file("zeek-http-methods.pcap");
    assert_eq!(scan.conversations.len(), 49);
    assert!(scan.conversations.iter().all(Conversation::is_complete));
    for (conv, port) in scan.conversations.iter().zip(46562..) {
        assert_eq!((conv.client, conv.server), (addr(&format!("128.2.6.136:{port}")), addr("173.194.75.103:80")));
    }
    let sum = |dir| scan.conversations.iter().map(|c| c.stream(dir).segments).sum::<u64>();
    assert_eq!((sum(Dir::ToServer), sum(Dir::ToClient), scan.link.frames), (332, 323, 655));
    // The non-IPv4 frames of tcpreplay-test.pcap, by `tshark -T fields -e eth.type`.
    let link = scan_file("tcpreplay-test.pcap").link;
    assert_eq!((link.frames, link.ipv4, link.ipv6, link.arp), (179, 150, 10, 1));
}

/// One `follow,tcp,raw` block of tshark's: its two nodes and what each sent, in order.
struct Follow {
    nodes: [String; 2],
    data: [Vec<u8>; 2],
}

fn follow(name: &str, streams: usize) -> Vec<Follow> {
    let path = corpus(name);
    let mut args = vec!["-r".to_string(), path.display().to_string(), "-q".to_string()];
    for i in 0..streams {
        args.extend(["-z".to_string(), format!("follow,tcp,raw,{i}")]);
    }
    let out = tshark(&args.iter().map(String::as_str).collect::<Vec<_>>());
    out.split("Follow: tcp,raw").skip(1).map(parse_follow).collect()
}

fn parse_follow(block: &str) -> Follow {
    let mut follow = Follow { nodes: Default::default(), data: Default::default() };
    for line in block.lines() {
        if let Some(rest) = line.strip_prefix("Node ") {
            let (n, node) = rest.split_once(": ").expect("Node N: address");
            follow.nodes[n.parse::<usize>().expect("node number")] = node.to_string();
        } else if let Some(hex) = line.strip_prefix('\t') {
            follow.data[1].extend(unhex(hex));
        } else if !line.is_empty() && line.bytes().all(|b| b.is_ascii_hexdigit()) {
            follow.data[0].extend(unhex(line));
        }
    }
    follow
}

fn unhex(hex: &str) -> Vec<u8> {
    let digits = hex.trim().as_bytes();
    let nibble = |c: u8| (c as char).to_digit(16).expect("hex digit") as u8;
    digits.chunks(2).map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1])).collect()
}

/// The streams of every conversation equal tshark's, byte for byte; returns how many of
/// tshark's streams (`tcp.stream` 0 to `tshark_streams - 1`) are not IPv4.
fn check_streams_against_tshark(name: &str, tshark_streams: usize) -> usize {
    let scan = scan_file(name);
    let mut not_ipv4 = 0;
    for follow in follow(name, tshark_streams) {
        let (Ok(a), Ok(b)) = (follow.nodes[0].parse(), follow.nodes[1].parse::<SocketAddrV4>()) else {
            not_ipv4 += 1;
            continue;
        };
        let conv = scan.conversations.iter().find(|c| (c.client, c.server) == (a, b) || (c.client, c.server) == (b, a));
        let conv = conv.unwrap_or_else(|| panic!("{name}: tshark's {a} <-> {b} not found"));
        let (sent_by_a, sent_by_b) =
            if conv.client == a { (Dir::ToServer, Dir::ToClient) } else { (Dir::ToClient, Dir::ToServer) };
        for (dir, tshark_data) in [(sent_by_a, &follow.data[0]), (sent_by_b, &follow.data[1])] {
            let digest = &conv.stream(dir).digest;
            assert!(digest.is_whole(), "{name} {a} {dir}");
            assert!(digest.head() == &tshark_data[..], "{name} {a}<->{b} {dir}: differs from tshark's follow");
        }
    }
    not_ipv4
}

#[test]
fn streams_match_tshark_follow_byte_for_byte() {
    for (name, streams) in
        [("http-dvwa-login.pcapng", 2), ("suricata-jsessionid-sso.pcap", 1), ("zeek-pipelined-requests.pcap", 1)]
    {
        assert_eq!(check_streams_against_tshark(name, streams), 0, "{name}");
    }
    assert_eq!(check_streams_against_tshark("tcpreplay-test.pcap", 7), 1, "one stream is IPv6");
}

#[test]
fn many_small_conversations_match_tshark_follow() {
    assert_eq!(check_streams_against_tshark("zeek-http-methods.pcap", 49), 0);
}

#[test]
fn http_streams_are_requests_and_responses() {
    let scan = scan_file("zeek-pipelined-requests.pcap");
    let conv = &scan.conversations[0];
    assert!(conv.is_complete(), "{:?}", conv.incomplete());
    let requests = conv.stream(Dir::ToServer).digest.head();
    let responses = conv.stream(Dir::ToClient).digest.head();
    assert!(requests.starts_with(b"GET /"));
    assert!(responses.starts_with(b"HTTP/1.1 "));
    // Pipelined: several requests in the one stream.
    let count = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).filter(|w| *w == needle).count();
    assert!(count(requests, b"GET /") > 1);
    assert_eq!(count(requests, b"GET /"), count(responses, b"HTTP/1.1 "));
}

#[test]
fn out_of_order_and_retransmitted_segments_reassemble() {
    let name = "suricata-ooo-retrans-cookie.pcap";
    let scan = scan_file(name);
    let conv = &scan.conversations[0];
    let response = &conv.stream(Dir::ToClient);
    assert!(response.reassembly.out_of_order >= 10, "{:?}", response.reassembly);
    assert!(response.reassembly.retransmitted >= 1288, "{:?}", response.reassembly);
    assert_eq!(response.reassembly.conflicts, 0);
    // Two stretches were never captured (tshark: "Previous segment(s) not captured"): one
    // segment at relative sequence 35577, four from 51033 on.
    let holes = [Hole { at: 35576, len: 1288 }, Hole { at: 51032, len: 5152 }];
    assert_eq!(response.holes, Holes { first: holes.to_vec(), count: 2, bytes: 6440 });
    assert_eq!(response.digest.len(), 58760);
    let incomplete = conv.incomplete();
    assert_eq!(incomplete, [Incomplete::Hole { dir: Dir::ToClient, hole: holes[0], count: 2 }]);
    // The orig_len of most frames is wrong (larger than the Ethernet frame), but every IPv4
    // packet is whole: counted as cut by the capture, not flagged as snap-length cuts.
    assert_eq!(scan.link.cut, 45);

    // tshark's follow: the same bytes up to the first hole, its marker (with a NUL), then ours
    // up to the second hole (where tshark stops).
    let follow = &follow(name, 1)[0];
    assert_eq!(conv.stream(Dir::ToServer).digest.head(), &follow.data[0][..]);
    let marker = b"[1288 bytes missing in capture file]\0".as_slice();
    let theirs = &follow.data[1];
    let ours = response.digest.head();
    assert_eq!(&theirs[..35576], &ours[..35576]);
    assert_eq!(&theirs[35576..35576 + marker.len()], marker);
    assert!(theirs[35576 + marker.len()..] == ours[36864..51032]);

    // Every captured payload sits in the stream where its sequence number says.
    let fields = tshark(&[
        "-r",
        corpus(name).to_str().unwrap(),
        "-T",
        "fields",
        "-e",
        "tcp.srcport",
        "-e",
        "tcp.seq",
        "-e",
        "tcp.payload",
    ]);
    for line in fields.lines() {
        let mut cols = line.split('\t');
        let (port, seq, payload) = (cols.next().unwrap(), cols.next().unwrap(), unhex(cols.next().unwrap_or("")));
        let dir = if port == "80" { Dir::ToClient } else { Dir::ToServer };
        let at = seq.parse::<usize>().unwrap().saturating_sub(1);
        assert!(conv.stream(dir).digest.head()[at..at + payload.len()] == payload[..], "{line:.40}");
    }
}

#[test]
fn relative_numbers_and_payloads_match_tshark() {
    let name = "http-dvwa-login.pcapng";
    let fields = tshark(&[
        "-r",
        corpus(name).to_str().unwrap(),
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "tcp.seq",
        "-e",
        "tcp.ack",
        "-e",
        "tcp.len",
        "-e",
        "tcp.window_size_value",
    ]);
    let mut expected = fields.lines().map(|l| l.split('\t').map(|f| f.parse::<i64>().unwrap()).collect::<Vec<_>>());
    let scan = scan_file(name);
    let mut walk = Segments::open(&corpus(name), WHOLE).unwrap();
    let mut count = 0;
    while let Some(seg) = walk.next_segment().unwrap() {
        let row = expected.next().expect("as many segments as tshark");
        assert_eq!(
            [seg.frame as i64, seg.rel_seq, seg.payload.len() as i64, i64::from(seg.window)],
            [row[0], row[1], row[3], row[4]]
        );
        if seg.flags & crate::wire::tcp::flags::ACK != 0 {
            assert_eq!(seg.rel_ack, Some(row[2]), "frame {}", seg.frame);
        }
        let stream = &scan.conversation(seg.conv).unwrap().stream(seg.dir).digest;
        if let Some(range) = seg.stream_range() {
            assert_eq!(&stream.head()[range.start as usize..range.end as usize], seg.payload);
        }
        count += 1;
    }
    assert_eq!(count, 54);
    assert!(expected.next().is_none());
}

// Captures made in the test from the corpus: re-encapsulated, cut, broken.

/// The Ethernet frames of a corpus file, with their times.
fn frames(name: &str) -> Vec<(Duration, Vec<u8>)> {
    let mut reader = CaptureReader::open(&corpus(name)).unwrap();
    reader.read_all().into_iter().map(|f| (Duration::from_nanos(f.time.as_nanos()), f.data)).collect()
}

/// A pcap of `frames` with link type `link`; each frame `(time, data, original length)`.
fn pcap(link: DataLink, snaplen: u32, frames: &[(Duration, Vec<u8>, u32)]) -> Vec<u8> {
    let header = PcapHeader { datalink: link, snaplen, ..PcapHeader::default() };
    let mut w = PcapWriter::with_header(Vec::new(), header).unwrap();
    for (time, data, orig) in frames {
        w.write_packet(&PcapPacket::new(*time, *orig, data)).unwrap();
    }
    w.into_writer()
}

pub(crate) fn pcap_of(link: DataLink, frames: impl IntoIterator<Item = (Duration, Vec<u8>)>) -> Vec<u8> {
    let frames: Vec<_> = frames.into_iter().map(|(t, d)| (t, d.clone(), d.len() as u32)).collect();
    pcap(link, 65535, &frames)
}

pub(crate) fn pcapng_of(link: DataLink, frames: impl IntoIterator<Item = (Duration, Vec<u8>)>) -> Vec<u8> {
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock { linktype: link, snaplen: 0, options: vec![] }).unwrap();
    for (time, data) in frames {
        let len = data.len() as u32;
        let epb = EnhancedPacketBlock {
            interface_id: 0,
            timestamp: time,
            original_len: len,
            data: data.into(),
            options: vec![],
        };
        w.write_pcapng_block(epb).unwrap();
    }
    w.into_inner()
}

fn ethertype_of(frame: &[u8]) -> u16 {
    u16::from_be_bytes([frame[12], frame[13]])
}

/// Linux cooked v1: incoming (0), ARPHRD_ETHER (1), the source MAC, then the ethertype.
pub(crate) fn to_sll(frame: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0, 1, 0, 6];
    out.extend_from_slice(&frame[6..12]);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&frame[12..]);
    out
}

/// Linux cooked v2: the ethertype, reserved, interface 2, ARPHRD_ETHER, outgoing (4), the MAC.
pub(crate) fn to_sll2(frame: &[u8]) -> Vec<u8> {
    let mut out = frame[12..14].to_vec();
    out.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 4, 6]);
    out.extend_from_slice(&frame[6..12]);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&frame[14..]);
    out
}

/// What must not change with the link layer: each conversation's endpoints, flags, counts
/// and streams.
fn summary(scan: &Scan) -> Vec<String> {
    let stream = |s: &Stream| (s.segments, s.digest.len(), s.digest.head().to_vec(), s.holes.clone(), s.fin_at);
    let conv = |c: &Conversation| {
        format!(
            "{} {} {} {:?} {:?} {:?} {:?}",
            c.client,
            c.server,
            c.frames,
            c.seen,
            stream(c.stream(Dir::ToServer)),
            stream(c.stream(Dir::ToClient)),
            c.incomplete()
        )
    };
    scan.conversations.iter().map(conv).collect()
}

#[test]
fn sll_sll2_and_raw_ip_give_the_conversations_of_ethernet() {
    for name in CORPUS {
        let original = summary(&scan_file(name));
        let frames = frames(name);
        // VLAN-tagged frames need their tags off for the cooked and raw forms.
        let untagged = frames.iter().filter(|(_, f)| ethertype_of(f) != 0x8100);
        let ipv4 = || untagged.clone().filter(|(_, f)| ethertype_of(f) == 0x0800);
        let captures = [
            ("sll", pcap_of(DataLink::LINUX_SLL, untagged.clone().map(|(t, f)| (*t, to_sll(f))))),
            ("sll2", pcap_of(DataLink::LINUX_SLL2, untagged.clone().map(|(t, f)| (*t, to_sll2(f))))),
            ("sll2 pcapng", pcapng_of(DataLink::LINUX_SLL2, untagged.clone().map(|(t, f)| (*t, to_sll2(f))))),
            ("raw", pcap_of(DataLink::RAW, ipv4().map(|(t, f)| (*t, f[14..].to_vec())))),
            ("raw 12", pcap_of(DataLink::Unknown(12), ipv4().map(|(t, f)| (*t, f[14..].to_vec())))),
            ("ipv4", pcapng_of(DataLink::IPV4, ipv4().map(|(t, f)| (*t, f[14..].to_vec())))),
            ("bsd loopback", pcap_of(DataLink::NULL, ipv4().map(|(t, f)| (*t, [&[2, 0, 0, 0], &f[14..]].concat())))),
        ];
        for (form, bytes) in captures {
            let scan = scan_reader(&bytes[..], WHOLE).unwrap_or_else(|e| panic!("{name} as {form}: {e}"));
            assert_eq!(scan.damage, None, "{name} as {form}");
            assert_eq!(summary(&scan), original, "{name} as {form}");
        }
    }
}

/// The frames of a corpus file again, `later` on, with the client's sequence numbers moved by
/// `isn_shift` (checksums are not looked at).
fn again(
    frames: &[(Duration, Vec<u8>)],
    client: SocketAddrV4,
    later: Duration,
    isn_shift: u32,
) -> Vec<(Duration, Vec<u8>)> {
    let shift = |(time, mut frame): (Duration, Vec<u8>)| {
        let ip = Ipv4Packet::new_checked(&frame[14..]).unwrap();
        let (from_client, at) = (ip.src_addr() == *client.ip(), 14 + usize::from(ip.header_len()));
        let mut tcp = TcpPacket::new_checked(&mut frame[at..]).unwrap();
        if from_client && tcp.src_port() == client.port() {
            tcp.set_seq_number(tcp.seq_number().wrapping_add(isn_shift));
        } else if tcp.ack() {
            tcp.set_ack_number(tcp.ack_number().wrapping_add(isn_shift));
        }
        (time + later, frame)
    };
    frames.iter().cloned().map(shift).collect()
}

#[test]
fn a_new_syn_on_the_same_ports_starts_a_new_conversation() {
    let name = "suricata-jsessionid-sso.pcap";
    let original = scan_file(name);
    let client = original.conversations[0].client;
    let frames = frames(name);
    // After the conversation closed (FIN both ways), the same SYN again opens another.
    let twice = [frames.clone(), again(&frames, client, Duration::from_secs(60), 0)].concat();
    let scan = scan_reader(&pcap_of(DataLink::ETHERNET, twice)[..], WHOLE).unwrap();
    assert_eq!(scan.conversations.len(), 2);
    assert_eq!(summary(&scan)[1], summary(&original)[0]);
    assert_eq!(scan.conversations[1].first_frame, frames.len() as u64 + 1);
    // Before it closed, a SYN with another ISN opens another too; the same SYN again is a
    // retransmission.
    let cut_short = &frames[..6];
    let reused = [cut_short.to_vec(), again(&frames, client, Duration::from_secs(1), 0x1000_0000)].concat();
    let scan = scan_reader(&pcap_of(DataLink::ETHERNET, reused)[..], WHOLE).unwrap();
    assert_eq!(scan.conversations.len(), 2);
    assert_eq!(summary(&scan)[1], summary(&original)[0]);
    let retransmitted = [frames[..1].to_vec(), frames.clone()].concat();
    let scan = scan_reader(&pcap_of(DataLink::ETHERNET, retransmitted)[..], WHOLE).unwrap();
    assert_eq!(scan.conversations.len(), 1);
}

#[test]
fn a_link_type_nobody_decodes_is_an_error_naming_it() {
    let frames = frames("suricata-jsessionid-sso.pcap");
    let wifi = pcap_of(DataLink::IEEE802_11, frames.iter().cloned());
    let err = scan_reader(&wifi[..], WHOLE).unwrap_err();
    assert!(err.to_string().starts_with("link type 105 (IEEE802_11) is not one stickwire reads"), "{err}");
    // In pcapng, at the first packet of such an interface.
    let wifi = pcapng_of(DataLink::IEEE802_11, frames.iter().cloned());
    let mut walk = Segments::new(&wifi[..], WHOLE).unwrap();
    assert!(matches!(walk.next_segment(), Err(CaptureError::LinkType { number: 105, .. })));
}

#[test]
fn a_conversation_without_its_handshake_is_flagged() {
    let name = "suricata-jsessionid-sso.pcap";
    let original = scan_file(name);
    let frames = frames(name);
    // The capture starts after the SYN and SYN-ACK (frames 1 and 2).
    let scan = scan_reader(&pcap_of(DataLink::ETHERNET, frames[2..].iter().cloned())[..], WHOLE).unwrap();
    let conv = &scan.conversations[0];
    assert_eq!((conv.client, conv.server), (original.conversations[0].client, original.conversations[0].server));
    assert!(!conv.seen.syn && !conv.seen.syn_ack);
    assert_eq!(conv.incomplete(), [Incomplete::NoHandshake { syn: false }]);
    assert_eq!(conv.incomplete()[0].to_string(), "no handshake: the client's SYN is not in the capture");
    // The bytes are all there all the same.
    for dir in [Dir::ToServer, Dir::ToClient] {
        assert_eq!(conv.stream(dir).digest, original.conversations[0].stream(dir).digest);
    }
    // Only the SYN-ACK missing, though the client went on.
    let without_syn_ack = frames.iter().enumerate().filter(|(i, _)| *i != 1).map(|(_, f)| f.clone());
    let scan = scan_reader(&pcap_of(DataLink::ETHERNET, without_syn_ack)[..], WHOLE).unwrap();
    assert_eq!(scan.conversations[0].incomplete(), [Incomplete::NoHandshake { syn: true }]);
    assert!(original.conversations[0].is_complete());
}

#[test]
fn lost_segments_are_holes_where_they_were() {
    let name = "zeek-pipelined-requests.pcap";
    let original = scan_file(name);
    let walk_payloads = {
        let mut walk = Segments::open(&corpus(name), WHOLE).unwrap();
        let mut found = Vec::new();
        while let Some(seg) = walk.next_segment().unwrap() {
            found.push((seg.frame, seg.dir, seg.stream_range()));
        }
        found
    };
    // Drop a server segment from the middle, and the last client data segment (the server
    // acknowledged it: a hole at the tail).
    let with_data = |dir| walk_payloads.iter().filter(move |(_, d, r)| *d == dir && r.is_some());
    let (mid, mid_dir, mid_range) = with_data(Dir::ToClient).nth(10).unwrap().clone();
    let (last, last_dir, last_range) = with_data(Dir::ToServer).next_back().unwrap().clone();
    let kept = frames(name).into_iter().enumerate().filter(|(i, _)| ![mid, last].contains(&(*i as u64 + 1)));
    let scan = scan_reader(&pcap_of(DataLink::ETHERNET, kept.map(|(_, f)| f))[..], WHOLE).unwrap();
    let conv = &scan.conversations[0];
    let hole = |r: Option<std::ops::Range<u64>>| r.map(|r| Hole { at: r.start, len: r.end - r.start }).unwrap();
    assert_eq!(conv.stream(mid_dir).holes.first, [hole(mid_range)]);
    assert_eq!(conv.stream(last_dir).holes.first, [hole(last_range)]);
    assert_eq!(conv.stream(mid_dir).digest.len(), original.conversations[0].stream(mid_dir).digest.len());
    assert!(!conv.is_complete());
    assert!(conv.incomplete().iter().all(|i| matches!(i, Incomplete::Hole { .. })));
}

#[test]
fn a_capture_that_stops_mid_conversation_is_not_incomplete() {
    let name = "zeek-pipelined-requests.pcap";
    let frames = frames(name);
    // The first 20 frames: the handshake and part of the exchange, every byte acknowledged
    // so far seen.
    let scan = scan_reader(&pcap_of(DataLink::ETHERNET, frames[..20].iter().cloned())[..], WHOLE).unwrap();
    let conv = &scan.conversations[0];
    assert!(conv.is_complete(), "{:?}", conv.incomplete());
    assert!(!conv.seen.client_fin && !conv.seen.server_fin);
}

#[test]
fn a_capture_cut_in_a_packet_reads_up_to_the_damage() {
    for name in ["tcpreplay-test.pcap", "http-dvwa-login.pcapng"] {
        let bytes = std::fs::read(corpus(name)).unwrap();
        let whole = scan_file(name);
        let cut = &bytes[..bytes.len() * 2 / 3 + 5];
        let scan = scan_reader(cut, WHOLE).unwrap();
        let damage = scan.damage.clone().expect("damage noted");
        assert!(damage.contains("truncated capture"), "{name}: {damage}");
        let read = scan.link.frames;
        assert!(damage.starts_with(&format!("frame {}:", read + 1)), "{name}: {damage}");
        assert!(read > whole.link.frames / 2 && read < whole.link.frames, "{name}: {read} frames");
        assert!(scan.notes()[0].starts_with("capture damaged, read up to frame"));
        // What was read is what the whole file has up to there.
        let some = &scan.conversations[0];
        assert_eq!((some.client, some.server), (whole.conversations[0].client, whole.conversations[0].server));
    }
}

#[test]
fn snap_length_cuts_are_flagged() {
    let name = "suricata-jsessionid-sso.pcap";
    // tcpdump -s 96: every frame cut to 96 bytes, the header's snap length 96.
    let cut: Vec<_> =
        frames(name).into_iter().map(|(t, f)| (t, f[..f.len().min(96)].to_vec(), f.len() as u32)).collect();
    let capture = pcap(DataLink::ETHERNET, 96, &cut);
    let scan = scan_reader(&capture[..], WHOLE).unwrap();
    assert_eq!(scan.damage, None);
    assert_eq!(scan.link.cut, cut.iter().filter(|(_, d, orig)| d.len() < *orig as usize).count() as u64);
    let conv = &scan.conversations[0];
    let original = &scan_file(name).conversations[0];
    assert_eq!(conv.frames, original.frames);
    let flagged: Vec<_> =
        conv.incomplete().into_iter().filter(|i| matches!(i, Incomplete::SnapLength { .. })).collect();
    assert_eq!(flagged.len(), 2, "both directions carry cut payloads: {flagged:?}");
    // The walk says how long each payload was on the wire.
    let mut walk = Segments::new(&capture[..], WHOLE).unwrap();
    let mut wire = 0u64;
    while let Some(seg) = walk.next_segment().unwrap() {
        assert!(seg.payload.len() <= seg.wire_len as usize);
        wire += u64::from(seg.wire_len);
    }
    let sent = original.stream(Dir::ToServer).digest.len() + original.stream(Dir::ToClient).digest.len();
    assert!(wire >= sent);
}

#[test]
fn notes_say_what_was_left_out() {
    let notes = scan_file("tcpreplay-test.pcap").notes();
    assert!(notes.contains(&"10 IPv6 frames (not re-enacted)".to_string()), "{notes:?}");
    assert!(notes.iter().any(|n| n.ends_with("IPv4 packets other than TCP")), "{notes:?}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    /// Any bytes as a capture: an error or a scan, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000)) {
        let _ = scan_reader(&bytes[..], Limits { keep: 1024, max_pending: 4096 });
    }

    /// A real capture with bytes changed and its end cut: never a panic, and the frames before
    /// the first change are read.
    #[test]
    fn damaged_captures_never_panic(
        file in 0..CORPUS.len(),
        edits in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<u8>()), 1..40),
        keep in proptest::prelude::any::<proptest::sample::Index>(),
    ) {
        let mut bytes = corpus_bytes(file);
        for (at, value) in edits {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        bytes.truncate(keep.index(bytes.len()) + 1);
        let _ = scan_reader(&bytes[..], Limits { keep: 1024, max_pending: 4096 });
    }
}

fn corpus_bytes(file: usize) -> Vec<u8> {
    std::fs::read(corpus(CORPUS[file])).unwrap()
}
