use super::*;

use std::io::{BufRead, BufReader};
use std::net::Shutdown;
use std::sync::{Barrier, Mutex};

const T: Duration = Duration::from_secs(5);

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn set_state(server: &str, state: ServerStateArg) -> AdminCommand {
    AdminCommand::SetServerState { server: server.to_string(), state }
}

fn set_weight(server: &str, weight: u32) -> AdminCommand {
    AdminCommand::SetServerWeight { server: server.to_string(), weight }
}

/// A server whose handler records every command it is given and answers with a fixed text
/// per command (an error for a server named `nosuch`).
fn recording_server(options: AdminOptions) -> (AdminServer, Arc<Mutex<Vec<AdminCommand>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    let server = AdminServer::spawn_with_options(localhost(), options, move |cmd| {
        seen2.lock().unwrap().push(cmd.clone());
        match cmd {
            AdminCommand::ShowServers => AdminReply::Ok("rs1 enabled weight 1\nrs2 down weight 3".to_string()),
            AdminCommand::ShowStats => AdminReply::Ok("conns 0".to_string()),
            AdminCommand::ShowVips | AdminCommand::Reload => AdminReply::Ok("fine".to_string()),
            AdminCommand::ShowSticky { .. } => AdminReply::Ok(String::new()),
            AdminCommand::SetServerState { server, .. } | AdminCommand::SetServerWeight { server, .. }
                if server == "nosuch" =>
            {
                AdminReply::Error(format!("no real server named '{server}'"))
            }
            AdminCommand::SetServerState { .. } | AdminCommand::SetServerWeight { .. } => {
                AdminReply::Ok("done".to_string())
            }
            AdminCommand::Help | AdminCommand::Quit => AdminReply::Error("not for the handler".to_string()),
        }
    })
    .unwrap();
    (server, seen)
}

fn connect(server: &AdminServer) -> (TcpStream, BufReader<TcpStream>) {
    let stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.set_read_timeout(Some(T)).unwrap();
    let reader = BufReader::new(stream.try_clone().unwrap());
    (stream, reader)
}

/// Reads one reply (lines up to the empty line); `None` at end of stream before any line.
fn read_reply(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).unwrap();
        if n == 0 {
            assert!(lines.is_empty(), "connection closed inside a reply: {lines:?}");
            return None;
        }
        assert!(line.ends_with('\n'), "unterminated line {line:?}");
        line.pop();
        if line.is_empty() {
            return Some(lines.join("\n"));
        }
        lines.push(line);
    }
}

fn assert_closed(reader: &mut BufReader<TcpStream>) {
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "expected end of stream, got {:?}", String::from_utf8_lossy(&rest));
}

// ----- parser ---------------------------------------------------------------------------------

#[test]
fn parser_accepts_valid_lines() {
    let table: Vec<(&str, AdminCommand)> = vec![
        ("help", AdminCommand::Help),
        ("HELP", AdminCommand::Help),
        ("  help  ", AdminCommand::Help),
        ("show servers", AdminCommand::ShowServers),
        ("Show SERVERS", AdminCommand::ShowServers),
        ("show\tstats", AdminCommand::ShowStats),
        ("show sticky", AdminCommand::ShowSticky { limit: None }),
        ("set server rs1 state enabled", set_state("rs1", ServerStateArg::Enabled)),
        ("set server rs1 state disabled", set_state("rs1", ServerStateArg::Disabled)),
        ("set server rs1 state down", set_state("rs1", ServerStateArg::Down)),
        ("SET Server RS1 STATE Down", set_state("RS1", ServerStateArg::Down)),
        ("set   server  rs-2.web   state   enabled  ", set_state("rs-2.web", ServerStateArg::Enabled)),
        ("set server rs1 weight 0", set_weight("rs1", 0)),
        ("set server rs1 WEIGHT 10", set_weight("rs1", 10)),
        ("set server rs1 weight 4294967295", set_weight("rs1", u32::MAX)),
        ("set server rs1 weight 007", set_weight("rs1", 7)),
        ("quit", AdminCommand::Quit),
        ("QUIT", AdminCommand::Quit),
    ];
    for (line, want) in table {
        assert_eq!(line.parse::<AdminCommand>(), Ok(want), "line {line:?}");
    }
}

#[test]
fn parser_rejects_invalid_lines_with_exact_messages() {
    let usage = "help | show servers|vips|stats|sticky [N] | set server NAME state enabled|disabled|down | \
                 set server NAME weight N | reload | quit";
    let set_usage = "set server NAME state enabled|disabled|down | set server NAME weight N";
    let table: Vec<(&str, String)> = vec![
        ("", format!("empty command; accepted: {usage}")),
        ("   \t ", format!("empty command; accepted: {usage}")),
        ("frobnicate", format!("unknown command 'frobnicate'; accepted: {usage}")),
        ("disable server rs1", format!("unknown command 'disable'; accepted: {usage}")),
        ("help me", "unexpected argument 'me' after 'help'; 'help' takes no more arguments".to_string()),
        ("quit now", "unexpected argument 'now' after 'quit'; 'quit' takes no more arguments".to_string()),
        ("show", "'show' needs what to show; accepted: servers, vips, stats, sticky".to_string()),
        ("show server", "unknown 'show' target 'server'; accepted: servers, vips, stats, sticky".to_string()),
        (
            "show stats all",
            "unexpected argument 'all' after 'show stats'; 'show stats' takes no more arguments".to_string(),
        ),
        ("set", format!("'set' needs what to set; accepted: {set_usage}")),
        ("set vip v1 state down", format!("unknown 'set' target 'vip'; accepted: {set_usage}")),
        ("set server", format!("'set server' needs a server name; accepted: {set_usage}")),
        (
            "set server rs1",
            "'set server rs1' needs what to set; accepted: state enabled|disabled|down, weight N".to_string(),
        ),
        (
            "set server rs1 colour blue",
            "unknown server setting 'colour'; accepted: state enabled|disabled|down, weight N".to_string(),
        ),
        (
            "set server rs1 state",
            "'set server rs1 state' needs a state; accepted: enabled, disabled (draining), down".to_string(),
        ),
        (
            "set server rs1 state up",
            "unknown server state 'up'; accepted: enabled, disabled (draining), down".to_string(),
        ),
        (
            "set server rs1 state down now",
            "unexpected argument 'now' after 'set server rs1 state'; 'set server rs1 state' takes no more arguments"
                .to_string(),
        ),
        (
            "set server rs1 weight",
            "'set server rs1 weight' needs a weight; accepted: a whole number from 0 to 4294967295".to_string(),
        ),
        ("set server rs1 weight -1", "invalid weight '-1'; accepted: a whole number from 0 to 4294967295".to_string()),
        ("set server rs1 weight +1", "invalid weight '+1'; accepted: a whole number from 0 to 4294967295".to_string()),
        (
            "set server rs1 weight 4294967296",
            "invalid weight '4294967296'; accepted: a whole number from 0 to 4294967295".to_string(),
        ),
        (
            "set server rs1 weight ten",
            "invalid weight 'ten'; accepted: a whole number from 0 to 4294967295".to_string(),
        ),
        (
            "set server rs1 weight 1 2",
            "unexpected argument '2' after 'set server rs1 weight'; 'set server rs1 weight' takes no more arguments"
                .to_string(),
        ),
        // Client text quoted back is escaped and cut short.
        ("bad\u{1b}[31m", format!("unknown command 'bad\\u{{1b}}[31m'; accepted: {usage}")),
    ];
    for (line, want) in table {
        let err = line.parse::<AdminCommand>().expect_err(line);
        assert_eq!(err.message(), want, "line {line:?}");
        assert_eq!(err.to_string(), want, "line {line:?}");
    }

    let long = "x".repeat(1000);
    let err = long.parse::<AdminCommand>().unwrap_err();
    assert_eq!(err.message(), format!("unknown command '{}...'; accepted: {usage}", "x".repeat(64)));
}

#[test]
fn display_gives_text_that_parses_back() {
    let all = [
        AdminCommand::Help,
        AdminCommand::ShowServers,
        AdminCommand::ShowStats,
        AdminCommand::ShowSticky { limit: None },
        set_state("rs1", ServerStateArg::Enabled),
        set_state("Rs2", ServerStateArg::Disabled),
        set_state("rs3", ServerStateArg::Down),
        set_weight("rs1", 0),
        set_weight("rs1", u32::MAX),
        AdminCommand::Quit,
    ];
    for cmd in all {
        assert_eq!(cmd.to_string().parse::<AdminCommand>(), Ok(cmd.clone()), "{cmd}");
    }
    assert_eq!(set_state("rs1", ServerStateArg::Disabled).to_string(), "set server rs1 state disabled");
}

// ----- framing --------------------------------------------------------------------------------

#[test]
fn replies_are_lines_then_an_empty_line() {
    assert_eq!(AdminReply::Ok(String::new()).to_wire(), "\n");
    assert_eq!(AdminReply::Ok("one".to_string()).to_wire(), "one\n\n");
    assert_eq!(AdminReply::Ok("one\ntwo\n".to_string()).to_wire(), "one\ntwo\n\n");
    // A blank line would end the reply early: left out.
    assert_eq!(AdminReply::Ok("one\n\ntwo\r\n\r\n".to_string()).to_wire(), "one\ntwo\n\n");
    assert_eq!(AdminReply::Error("no such server".to_string()).to_wire(), "error: no such server\n\n");
    assert_eq!(AdminReply::Error("a\n\nb".to_string()).to_wire(), "error: a\nb\n\n");
    assert_eq!(AdminReply::Error(String::new()).to_wire(), "error: \n\n");
}

fn frame(max: usize, chunks: &[&[u8]], eof: bool) -> Vec<Line> {
    let mut reader = LineReader::new(max);
    let mut out = Vec::new();
    for c in chunks {
        reader.feed(c, &mut out);
        assert!(reader.buf.len() <= max + 1);
    }
    if eof {
        out.extend(reader.finish());
    }
    out
}

fn text(s: &str) -> Line {
    Line::Text(s.as_bytes().to_vec())
}

#[test]
fn line_reader_frames_bounded_lines() {
    assert_eq!(frame(8, &[b"ab", b"c\nde", b"f\r\n"], false), vec![text("abc"), text("def")]);
    assert_eq!(frame(8, &[b"\n\r\n"], false), vec![text(""), text("")]);
    // Exactly the limit, with and without '\r'.
    assert_eq!(frame(4, &[b"abcd\nabcd\r\n"], false), vec![text("abcd"), text("abcd")]);
    // One byte over, in one piece or spread over reads; the next line is still framed.
    assert_eq!(frame(4, &[b"abcde\nok\n"], false), vec![Line::TooLong, text("ok")]);
    assert_eq!(frame(4, &[b"abcde\r\nok\n"], false), vec![Line::TooLong, text("ok")]);
    assert_eq!(frame(4, &[b"ab", b"cd", b"e", b"fgh", b"ij\nok\n"], false), vec![Line::TooLong, text("ok")]);
    // A last line without a line ending is framed at end of input.
    assert_eq!(frame(4, &[b"ok\nquit"], true), vec![text("ok"), text("quit")]);
    assert_eq!(frame(4, &[b"ok\nabcdefgh"], true), vec![text("ok"), Line::TooLong]);
    assert_eq!(frame(4, &[b"ok\n"], true), vec![text("ok")]);
    // A huge line never makes the buffer grow past the limit (checked in `frame`).
    let huge = vec![b'x'; 1 << 20];
    assert_eq!(frame(4096, &[&huge, &huge, b"\n"], false), vec![Line::TooLong]);
}

// ----- server ---------------------------------------------------------------------------------

#[test]
fn server_answers_several_commands_on_one_connection() {
    let (server, seen) = recording_server(AdminOptions::default());
    let (mut stream, mut reader) = connect(&server);

    stream.write_all(b"show servers\n").unwrap();
    assert_eq!(read_reply(&mut reader).unwrap(), "rs1 enabled weight 1\nrs2 down weight 3");

    // Several commands in one write, with CRLF and odd case: one reply each, in order.
    stream.write_all(b"SET server rs2 state Enabled\r\nset server rs1 weight 5\nshow sticky\nbogus\n").unwrap();
    assert_eq!(read_reply(&mut reader).unwrap(), "done");
    assert_eq!(read_reply(&mut reader).unwrap(), "done");
    assert_eq!(read_reply(&mut reader).unwrap(), "");
    assert_eq!(
        read_reply(&mut reader).unwrap(),
        "error: unknown command 'bogus'; accepted: help | show servers|vips|stats|sticky [N] | \
         set server NAME state enabled|disabled|down | set server NAME weight N | reload | quit"
    );

    // Handler errors are sent as errors.
    stream.write_all(b"set server nosuch state down\n").unwrap();
    assert_eq!(read_reply(&mut reader).unwrap(), "error: no real server named 'nosuch'");

    // `help` is answered by the server itself.
    stream.write_all(b"help\n").unwrap();
    let help = read_reply(&mut reader).unwrap();
    assert_eq!(help, HELP_TEXT);
    assert!(help.contains("set server NAME state enabled|disabled|down"));

    stream.write_all(b"\n").unwrap();
    assert!(read_reply(&mut reader).unwrap().starts_with("error: empty command; accepted: help"));

    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            AdminCommand::ShowServers,
            set_state("rs2", ServerStateArg::Enabled),
            set_weight("rs1", 5),
            AdminCommand::ShowSticky { limit: None },
            set_state("nosuch", ServerStateArg::Down),
        ]
    );
    server.shutdown();
}

#[test]
fn request_sends_one_command_and_returns_the_reply_text() {
    let (server, seen) = recording_server(AdminOptions::default());
    let addr = server.local_addr();
    assert_eq!(request(addr, "show servers", T).unwrap(), "rs1 enabled weight 1\nrs2 down weight 3");
    assert_eq!(request(addr, "show sticky", T).unwrap(), "");
    assert_eq!(request(addr, "set server rs3 state disabled", T).unwrap(), "done");
    assert_eq!(
        request(addr, "set server rs3 state drain", T).unwrap(),
        "error: unknown server state 'drain'; accepted: enabled, disabled (draining), down"
    );
    assert_eq!(request(addr, "quit", T).unwrap(), "");
    assert_eq!(request(addr, "help", T).unwrap(), HELP_TEXT);
    assert_eq!(request(addr, "show a\nshow b", T).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            AdminCommand::ShowServers,
            AdminCommand::ShowSticky { limit: None },
            set_state("rs3", ServerStateArg::Disabled)
        ]
    );
}

#[test]
fn request_times_out_when_the_server_does_not_answer() {
    let silent = TcpListener::bind(localhost()).unwrap();
    let addr = silent.local_addr().unwrap();
    let start = Instant::now();
    let err = request(addr, "show stats", Duration::from_millis(200)).unwrap_err();
    assert!(matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[test]
fn quit_closes_the_connection_and_skips_what_follows() {
    let (server, seen) = recording_server(AdminOptions::default());
    let (mut stream, mut reader) = connect(&server);
    stream.write_all(b"show stats\nquit\nshow servers\n").unwrap();
    assert_eq!(read_reply(&mut reader).unwrap(), "conns 0");
    assert_closed(&mut reader);
    assert_eq!(*seen.lock().unwrap(), vec![AdminCommand::ShowStats]);
    // The server goes on serving.
    assert_eq!(request(server.local_addr(), "show stats", T).unwrap(), "conns 0");
}

#[test]
fn over_long_line_gets_an_error_and_the_connection_stays_open() {
    let (server, seen) = recording_server(AdminOptions::default());
    let (mut stream, mut reader) = connect(&server);

    // 4096 bytes is allowed: "show stats" padded with spaces.
    let mut exact = format!("show stats{}", " ".repeat(DEFAULT_MAX_LINE_LEN - 10));
    assert_eq!(exact.len(), DEFAULT_MAX_LINE_LEN);
    exact.push('\n');
    stream.write_all(exact.as_bytes()).unwrap();
    assert_eq!(read_reply(&mut reader).unwrap(), "conns 0");

    // One more byte is not, nor is a megabyte; neither reaches the handler.
    let mut over = format!("show stats{}", " ".repeat(DEFAULT_MAX_LINE_LEN - 9));
    over.push('\n');
    stream.write_all(over.as_bytes()).unwrap();
    let too_long = "error: line too long; a command is at most 4096 bytes; accepted: help";
    assert!(read_reply(&mut reader).unwrap().starts_with(too_long));
    let mut huge = vec![b'a'; 1 << 20];
    huge.push(b'\n');
    stream.write_all(&huge).unwrap();
    assert!(read_reply(&mut reader).unwrap().starts_with(too_long));

    stream.write_all(b"show servers\n").unwrap();
    assert_eq!(read_reply(&mut reader).unwrap(), "rs1 enabled weight 1\nrs2 down weight 3");
    assert_eq!(*seen.lock().unwrap(), vec![AdminCommand::ShowStats, AdminCommand::ShowServers]);
}

#[test]
fn garbage_bytes_get_an_error_and_the_server_serves_the_next_connection() {
    let (server, seen) = recording_server(AdminOptions::default());
    let (mut stream, mut reader) = connect(&server);
    stream.write_all(b"show \xff\xfe servers\n").unwrap();
    assert!(read_reply(&mut reader).unwrap().starts_with("error: command is not valid UTF-8 text; accepted: help"));
    stream.write_all(b"\x00\x01\x02\x1b[2J\n").unwrap();
    assert!(read_reply(&mut reader).unwrap().starts_with("error: unknown command '\\0\\u{1}\\u{2}\\u{1b}[2J'"));
    // Binary junk with no line ending, then the client goes away.
    let junk: Vec<u8> = (0..=255u8).cycle().take(10_000).filter(|&b| b != b'\n').collect();
    stream.write_all(&junk).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert!(read_reply(&mut reader).unwrap().starts_with("error: line too long"));
    assert_closed(&mut reader);

    assert_eq!(request(server.local_addr(), "show stats", T).unwrap(), "conns 0");
    assert_eq!(*seen.lock().unwrap(), vec![AdminCommand::ShowStats]);
}

#[test]
fn a_panicking_handler_gives_an_error_and_the_server_keeps_serving() {
    let server = AdminServer::spawn(localhost(), |cmd| match cmd {
        AdminCommand::ShowStats => panic!("handler bug"),
        _ => AdminReply::Ok("fine".to_string()),
    })
    .unwrap();
    let (mut stream, mut reader) = connect(&server);
    stream.write_all(b"show stats\nshow servers\n").unwrap();
    assert_eq!(read_reply(&mut reader).unwrap(), "error: internal error while handling the command");
    assert_eq!(read_reply(&mut reader).unwrap(), "fine");
    assert_eq!(request(server.local_addr(), "show servers", T).unwrap(), "fine");
}

#[test]
fn concurrent_connections_are_served_at_once() {
    const N: usize = 8;
    let (server, seen) = recording_server(AdminOptions::default());
    let addr = server.local_addr();
    let barrier = Arc::new(Barrier::new(N));
    let clients: Vec<_> = (0..N)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let stream = TcpStream::connect(addr).unwrap();
                stream.set_read_timeout(Some(T)).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                // Every client holds its connection open, with one command answered, before
                // any sends the next: all N are served at the same time.
                stream.write_all(b"show stats\n").unwrap();
                assert_eq!(read_reply(&mut reader).unwrap(), "conns 0");
                barrier.wait();
                for w in 0..5 {
                    stream.write_all(format!("set server rs{i} weight {w}\n").as_bytes()).unwrap();
                    assert_eq!(read_reply(&mut reader).unwrap(), "done");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), N * 6);
    for i in 0..N {
        let mine: Vec<_> = seen
            .iter()
            .filter_map(|c| match c {
                AdminCommand::SetServerWeight { server, weight } if *server == format!("rs{i}") => Some(*weight),
                _ => None,
            })
            .collect();
        assert_eq!(mine, vec![0, 1, 2, 3, 4], "client {i}");
    }
}

#[test]
fn connections_over_the_cap_are_refused_politely() {
    // Neither held connection is idle long enough to make way for a newcomer.
    let options =
        AdminOptions { max_connections: 2, evict_idle_after: Duration::from_secs(60), ..AdminOptions::default() };
    let (server, seen) = recording_server(options);
    let addr = server.local_addr();
    let (mut a, mut ra) = connect(&server);
    let (mut b, mut rb) = connect(&server);
    for (s, r) in [(&mut a, &mut ra), (&mut b, &mut rb)] {
        s.write_all(b"show stats\n").unwrap();
        assert_eq!(read_reply(r).unwrap(), "conns 0");
    }
    assert_eq!(
        request(addr, "show servers", T).unwrap(),
        "error: too many admin connections (limit 2), all busy; try again later"
    );

    // Once one closes, a new client gets in (the slot is freed when its thread ends).
    a.write_all(b"quit\n").unwrap();
    assert_closed(&mut ra);
    let deadline = Instant::now() + T;
    loop {
        let reply = request(addr, "show stats", T).unwrap();
        if reply == "conns 0" {
            break;
        }
        assert!(reply.starts_with("error: too many admin connections"), "{reply}");
        assert!(Instant::now() < deadline, "slot never freed");
        thread::sleep(Duration::from_millis(20));
    }
    // The held connection was never disturbed.
    b.write_all(b"show sticky\n").unwrap();
    assert_eq!(read_reply(&mut rb).unwrap(), "");
    assert!(!seen.lock().unwrap().contains(&AdminCommand::ShowServers));
}

#[test]
fn shutdown_closes_open_connections_and_joins() {
    let (server, _seen) = recording_server(AdminOptions::default());
    let addr = server.local_addr();
    let (mut stream, mut reader) = connect(&server);
    stream.write_all(b"show stats\n").unwrap();
    assert_eq!(read_reply(&mut reader).unwrap(), "conns 0");
    // A half-sent line in progress does not hold shutdown up.
    stream.write_all(b"show ser").unwrap();

    let start = Instant::now();
    server.shutdown();
    assert!(start.elapsed() < Duration::from_secs(2), "shutdown took {:?}", start.elapsed());
    // Every thread is joined, so the open connection is closed by now ...
    assert_closed(&mut reader);
    // ... and nothing listens any more.
    assert!(request(addr, "show stats", Duration::from_millis(500)).is_err());
}

#[test]
fn dropping_the_server_shuts_it_down() {
    let stopped = {
        let (server, _seen) = recording_server(AdminOptions::default());
        let addr = server.local_addr();
        assert_eq!(request(addr, "show stats", T).unwrap(), "conns 0");
        addr
    };
    assert!(TcpStream::connect_timeout(&stopped, Duration::from_millis(500)).is_err());
}

#[test]
fn spawn_reports_bind_errors_and_bad_options() {
    let (server, _seen) = recording_server(AdminOptions::default());
    let taken = server.local_addr();
    assert!(AdminServer::spawn(taken, |_| AdminReply::Ok(String::new())).is_err());
    let zero = AdminOptions { max_connections: 0, ..AdminOptions::default() };
    let err = AdminServer::spawn_with_options(localhost(), zero, |_| AdminReply::Ok(String::new())).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

/// Idle connections never lock the operator out: with every slot held by an idle client, a
/// newcomer is served and the client idle the longest is told why it is closed.
#[test]
fn idle_connections_make_way_for_a_new_client() {
    let options =
        AdminOptions { max_connections: 2, evict_idle_after: Duration::from_millis(200), ..AdminOptions::default() };
    let (server, _seen) = recording_server(options);
    let addr = server.local_addr();
    let (mut old, mut old_reader) = connect(&server);
    old.write_all(b"show stats\n").unwrap();
    assert_eq!(read_reply(&mut old_reader).unwrap(), "conns 0");
    thread::sleep(Duration::from_millis(100));
    let (mut young, mut young_reader) = connect(&server);
    young.write_all(b"show stats\n").unwrap();
    assert_eq!(read_reply(&mut young_reader).unwrap(), "conns 0");
    thread::sleep(Duration::from_millis(300));
    // Sixteen idle connections locked the operator out before; now the oldest goes.
    assert_eq!(request(addr, "show stats", T).unwrap(), "conns 0");
    assert_eq!(
        read_reply(&mut old_reader).unwrap(),
        "error: closing this idle connection: another client needs the slot"
    );
    assert_closed(&mut old_reader);
    young.write_all(b"show servers\n").unwrap();
    assert_eq!(read_reply(&mut young_reader).unwrap(), "rs1 enabled weight 1\nrs2 down weight 3");
}

/// The Unix socket: made with the configured mode, served like TCP, removed at shutdown.
#[test]
fn unix_socket_has_its_mode_and_serves_commands() {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::temp_dir().join(format!("stickwire-admin-test-{}/admin.sock", std::process::id()));
    let listen = AdminListen { tcp: None, unix: Some((path.clone(), 0o660)) };
    let server =
        AdminServer::spawn_on(&listen, AdminOptions::default(), |cmd| AdminReply::Ok(cmd.to_string())).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    assert_eq!(request_unix(&path, "show sticky 5", T).unwrap(), "show sticky 5");
    assert_eq!(request_unix(&path, "reload", T).unwrap(), "reload");
    assert_eq!(request_unix(&path, "show vips", T).unwrap(), "show vips");
    let bad = request_unix(&path, "show sticky 0", T).unwrap();
    assert!(bad.starts_with("error: invalid line count '0'"), "{bad}");
    server.shutdown();
    assert!(!path.exists(), "the socket file is removed at shutdown");
    // A file that is not a socket is never replaced.
    std::fs::write(&path, b"precious").unwrap();
    assert!(AdminServer::spawn_on(&listen, AdminOptions::default(), |_| AdminReply::Ok(String::new())).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
