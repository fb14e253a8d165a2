//! The admin API: a line-oriented text protocol over TCP on the management network, in the
//! spirit of HAProxy's runtime API.
//!
//! A client sends one command per line; the server answers every line with a reply made of
//! body lines followed by one empty line (so a reply with an empty body is just `"\n"`).
//! Errors are a body whose first line starts with `error: `. `quit` closes the connection
//! without a reply.
//!
//! ```text
//! help
//! show servers
//! show vips
//! show stats
//! show sticky [N]
//! set server NAME state enabled|disabled|down
//! set server NAME weight N
//! reload
//! quit
//! ```
//!
//! Keywords are case-insensitive, server names are case-sensitive. The parser
//! ([`AdminCommand`]'s `FromStr`) is pure; [`AdminServer`] owns the sockets and threads and
//! hands every parsed command except `help` and `quit` (which it answers itself) to a handler
//! supplied by the control thread. [`request`] is the blocking client used by the CLI.
//!
//! Limits, so a misbehaving client can neither crash the switch nor make it grow without
//! bound: a line is at most [`AdminOptions::max_line_len`] bytes (longer lines are skipped up to
//! their newline and answered with an error; the connection stays open), at most
//! [`AdminOptions::max_connections`] connections are served at once (more are answered with an
//! error and closed), an idle connection is closed after [`AdminOptions::idle_timeout`], and a
//! client that does not read its replies is dropped after [`AdminOptions::write_timeout`].

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

mod stream;
#[cfg(test)]
mod tests;

pub use stream::Conn;
use stream::Listener;

/// Default cap on concurrently served connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;
/// Default cap on the length of one command line, in bytes, without its line ending.
pub const DEFAULT_MAX_LINE_LEN: usize = 4096;

/// The text answered to `help`.
pub const HELP_TEXT: &str = "\
help                                         this list
show servers                                 real servers: admin state, health and its reason, weight,
                                             current and total connections
show vips                                    VIP ports: mode, predictor, servers, connections
show stats                                   live counters per VIP port, real server and core, drops
                                             by reason, table fill
show sticky [N]                              source-IP and cookie bindings (client -> real server),
                                             at most N lines (default 100)
set server NAME state enabled|disabled|down  enabled: takes new flows; disabled: draining, no new flows,
                                             existing flows kept; down: out of service
set server NAME weight N                     weight for the weighted predictors (0 = no new flows)
reload                                       read the config file again (as SIGHUP does)
quit                                         close this connection
keywords are case-insensitive; server names are case-sensitive";

/// Lines `show sticky` prints by default, and at most.
pub const STICKY_LINES: usize = 100;
pub const STICKY_LINES_MAX: usize = 100_000;

/// Every command, as quoted in error messages.
const USAGE: &str = "help | show servers|vips|stats|sticky [N] | set server NAME state enabled|disabled|down | \
                     set server NAME weight N | reload | quit";

/// Longest piece of client input quoted back in an error message.
const QUOTE_MAX_CHARS: usize = 64;

/// How often blocked threads look at the stop flag.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Largest reply [`request`] accepts.
const MAX_REPLY_LEN: usize = 16 << 20;

// ---------------------------------------------------------------------------------------------
// Commands and their parser
// ---------------------------------------------------------------------------------------------

/// The state asked for by `set server NAME state ...`, as ServerIron names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerStateArg {
    /// In service: takes new flows.
    Enabled,
    /// Draining: no new flows, existing flows (and sticky bindings) kept until they end.
    Disabled,
    /// Out of service.
    Down,
}

impl ServerStateArg {
    /// The keyword, as the protocol spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerStateArg::Enabled => "enabled",
            ServerStateArg::Disabled => "disabled",
            ServerStateArg::Down => "down",
        }
    }
}

impl fmt::Display for ServerStateArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServerStateArg {
    type Err = ParseCommandError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("enabled") {
            Ok(ServerStateArg::Enabled)
        } else if s.eq_ignore_ascii_case("disabled") {
            Ok(ServerStateArg::Disabled)
        } else if s.eq_ignore_ascii_case("down") {
            Ok(ServerStateArg::Down)
        } else {
            Err(ParseCommandError::new(format!(
                "unknown server state {}; accepted: enabled, disabled (draining), down",
                quote(s)
            )))
        }
    }
}

/// One admin command, as parsed from a line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AdminCommand {
    /// `help`: the list of commands (answered by the server itself).
    Help,
    /// `show servers`.
    ShowServers,
    /// `show vips`.
    ShowVips,
    /// `show stats`.
    ShowStats,
    /// `show sticky [N]`: at most `limit` lines (`None`: [`STICKY_LINES`]).
    ShowSticky { limit: Option<usize> },
    /// `reload`: the config file again.
    Reload,
    /// `set server NAME state enabled|disabled|down`.
    SetServerState { server: String, state: ServerStateArg },
    /// `set server NAME weight N`.
    SetServerWeight { server: String, weight: u32 },
    /// `quit`: close the connection (handled by the server itself, no reply).
    Quit,
}

/// Canonical text of a command; parsing it gives the same command back.
impl fmt::Display for AdminCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminCommand::Help => f.write_str("help"),
            AdminCommand::ShowServers => f.write_str("show servers"),
            AdminCommand::ShowVips => f.write_str("show vips"),
            AdminCommand::ShowStats => f.write_str("show stats"),
            AdminCommand::ShowSticky { limit: None } => f.write_str("show sticky"),
            AdminCommand::ShowSticky { limit: Some(n) } => write!(f, "show sticky {n}"),
            AdminCommand::Reload => f.write_str("reload"),
            AdminCommand::SetServerState { server, state } => write!(f, "set server {server} state {state}"),
            AdminCommand::SetServerWeight { server, weight } => write!(f, "set server {server} weight {weight}"),
            AdminCommand::Quit => f.write_str("quit"),
        }
    }
}

/// Why a line is not a command. The message names what was wrong and what is accepted; the
/// server sends it as `error: <message>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseCommandError {
    message: String,
}

impl ParseCommandError {
    fn new(message: String) -> Self {
        ParseCommandError { message }
    }

    /// The message, without the `error: ` prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Quotes a piece of client input for an error message: escaped, and cut to a bounded length.
fn quote(s: &str) -> String {
    let mut out = String::from("'");
    for (i, c) in s.chars().enumerate() {
        if i == QUOTE_MAX_CHARS {
            out.push_str("...");
            break;
        }
        out.extend(c.escape_debug());
    }
    out.push('\'');
    out
}

fn no_more(words: &mut std::str::SplitWhitespace<'_>, after: &str) -> Result<(), ParseCommandError> {
    match words.next() {
        None => Ok(()),
        Some(extra) => Err(ParseCommandError::new(format!(
            "unexpected argument {} after '{after}'; '{after}' takes no more arguments",
            quote(extra)
        ))),
    }
}

impl FromStr for AdminCommand {
    type Err = ParseCommandError;

    /// Parses one line (without its line ending; surrounding whitespace is ignored).
    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let mut words = line.split_whitespace();
        let Some(verb) = words.next() else {
            return Err(ParseCommandError::new(format!("empty command; accepted: {USAGE}")));
        };
        let verb_lc = verb.to_ascii_lowercase();
        match verb_lc.as_str() {
            "help" => {
                no_more(&mut words, "help")?;
                Ok(AdminCommand::Help)
            }
            "quit" => {
                no_more(&mut words, "quit")?;
                Ok(AdminCommand::Quit)
            }
            "reload" => {
                no_more(&mut words, "reload")?;
                Ok(AdminCommand::Reload)
            }
            "show" => {
                let Some(what) = words.next() else {
                    return Err(ParseCommandError::new(
                        "'show' needs what to show; accepted: servers, vips, stats, sticky".to_string(),
                    ));
                };
                let (cmd, canon) = match what.to_ascii_lowercase().as_str() {
                    "servers" => (AdminCommand::ShowServers, "show servers"),
                    "vips" => (AdminCommand::ShowVips, "show vips"),
                    "stats" => (AdminCommand::ShowStats, "show stats"),
                    "sticky" => (AdminCommand::ShowSticky { limit: sticky_limit(words.next())? }, "show sticky N"),
                    _ => {
                        return Err(ParseCommandError::new(format!(
                            "unknown 'show' target {}; accepted: servers, vips, stats, sticky",
                            quote(what)
                        )))
                    }
                };
                no_more(&mut words, canon)?;
                Ok(cmd)
            }
            "set" => parse_set(&mut words),
            _ => Err(ParseCommandError::new(format!("unknown command {}; accepted: {USAGE}", quote(verb)))),
        }
    }
}

/// `show sticky`'s optional line count.
fn sticky_limit(word: Option<&str>) -> Result<Option<usize>, ParseCommandError> {
    let Some(word) = word else { return Ok(None) };
    match word.parse::<usize>() {
        Ok(n) if (1..=STICKY_LINES_MAX).contains(&n) && word.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(n)),
        _ => Err(ParseCommandError::new(format!(
            "invalid line count {}; accepted: a whole number from 1 to {STICKY_LINES_MAX}",
            quote(word)
        ))),
    }
}

fn parse_set(words: &mut std::str::SplitWhitespace<'_>) -> Result<AdminCommand, ParseCommandError> {
    const SET_USAGE: &str = "set server NAME state enabled|disabled|down | set server NAME weight N";
    match words.next() {
        None => return Err(ParseCommandError::new(format!("'set' needs what to set; accepted: {SET_USAGE}"))),
        Some(w) if w.eq_ignore_ascii_case("server") => {}
        Some(w) => {
            return Err(ParseCommandError::new(format!("unknown 'set' target {}; accepted: {SET_USAGE}", quote(w))))
        }
    }
    let Some(server) = words.next() else {
        return Err(ParseCommandError::new(format!("'set server' needs a server name; accepted: {SET_USAGE}")));
    };
    let Some(attr) = words.next() else {
        return Err(ParseCommandError::new(format!(
            "'set server {server}' needs what to set; accepted: state enabled|disabled|down, weight N"
        )));
    };
    let attr_lc = attr.to_ascii_lowercase();
    let cmd = match attr_lc.as_str() {
        "state" => {
            let Some(state) = words.next() else {
                return Err(ParseCommandError::new(format!(
                    "'set server {server} state' needs a state; accepted: enabled, disabled (draining), down"
                )));
            };
            AdminCommand::SetServerState { server: server.to_string(), state: state.parse()? }
        }
        "weight" => {
            let Some(weight) = words.next() else {
                return Err(ParseCommandError::new(format!(
                    "'set server {server} weight' needs a weight; accepted: a whole number from 0 to {}",
                    u32::MAX
                )));
            };
            let parsed = if weight.bytes().all(|b| b.is_ascii_digit()) { weight.parse::<u32>().ok() } else { None };
            let Some(weight) = parsed else {
                return Err(ParseCommandError::new(format!(
                    "invalid weight {}; accepted: a whole number from 0 to {}",
                    quote(weight),
                    u32::MAX
                )));
            };
            AdminCommand::SetServerWeight { server: server.to_string(), weight }
        }
        _ => {
            return Err(ParseCommandError::new(format!(
                "unknown server setting {}; accepted: state enabled|disabled|down, weight N",
                quote(attr)
            )))
        }
    };
    no_more(words, &format!("set server {server} {attr_lc}"))?;
    Ok(cmd)
}

// ---------------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------------

/// The answer to one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminReply {
    /// Success, with its body text (may be empty).
    Ok(String),
    /// Failure, with a message; sent as `error: <message>`.
    Error(String),
}

impl AdminReply {
    /// The reply as sent on the wire: its lines, each ended by `\n`, then an empty line.
    ///
    /// An empty line ends a reply, so blank lines inside a body (or an error message) are left
    /// out, and `\r\n` endings become `\n`.
    pub fn to_wire(&self) -> String {
        let mut out = String::new();
        let (prefix, text) = match self {
            AdminReply::Ok(body) => ("", body.as_str()),
            AdminReply::Error(msg) => ("error: ", msg.as_str()),
        };
        let mut first = true;
        for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
            if first {
                first = false;
                if !prefix.is_empty() {
                    out.push_str(prefix);
                    out.push_str(line);
                    out.push('\n');
                    continue;
                }
            }
            if !line.is_empty() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out.push('\n');
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

/// Where an [`AdminServer`] listens.
#[derive(Debug, Clone, Default)]
pub struct AdminListen {
    pub tcp: Option<SocketAddr>,
    /// A Unix socket's path and file mode.
    pub unix: Option<(std::path::PathBuf, u32)>,
}

/// Limits of an [`AdminServer`].
#[derive(Debug, Clone)]
pub struct AdminOptions {
    /// Connections served at once; one more is answered with an error and closed.
    pub max_connections: usize,
    /// Longest command line in bytes, without its line ending.
    pub max_line_len: usize,
    /// A connection with no input for this long is closed.
    pub idle_timeout: Duration,
    /// A reply that cannot be written within this long closes the connection.
    pub write_timeout: Duration,
    /// When every slot is taken, the connection idle the longest is closed to make room
    /// for a new one, if it has been idle this long: idle clients never lock the operator
    /// out.
    pub evict_idle_after: Duration,
}

impl Default for AdminOptions {
    fn default() -> Self {
        AdminOptions {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_line_len: DEFAULT_MAX_LINE_LEN,
            idle_timeout: Duration::from_secs(300),
            write_timeout: Duration::from_secs(5),
            evict_idle_after: Duration::from_secs(1),
        }
    }
}

type Handler = dyn Fn(AdminCommand) -> AdminReply + Send + Sync + 'static;

/// The admin API server: one accepting thread, one thread per connection.
///
/// [`AdminServer::shutdown`] (or dropping it) stops accepting, closes open connections at their
/// next poll (within about 50 ms, after the command in progress) and joins every thread.
pub struct AdminServer {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for AdminServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminServer").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

impl AdminServer {
    /// Binds `addr` and serves the admin API with the default [`AdminOptions`].
    pub fn spawn(
        addr: SocketAddr,
        handler: impl Fn(AdminCommand) -> AdminReply + Send + Sync + 'static,
    ) -> io::Result<AdminServer> {
        Self::spawn_with_options(addr, AdminOptions::default(), handler)
    }

    /// Binds `addr` and serves the admin API with the given limits.
    pub fn spawn_with_options(
        addr: SocketAddr,
        options: AdminOptions,
        handler: impl Fn(AdminCommand) -> AdminReply + Send + Sync + 'static,
    ) -> io::Result<AdminServer> {
        if options.max_connections == 0 || options.max_line_len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "admin server: max_connections and max_line_len must be at least 1",
            ));
        }
        Self::spawn_on(&AdminListen { tcp: Some(addr), unix: None }, options, handler)
    }

    /// Serves the admin API on a TCP address, a Unix socket, or both.
    pub fn spawn_on(
        listen: &AdminListen,
        options: AdminOptions,
        handler: impl Fn(AdminCommand) -> AdminReply + Send + Sync + 'static,
    ) -> io::Result<AdminServer> {
        if options.max_connections == 0 || options.max_line_len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "admin server: max_connections and max_line_len must be at least 1",
            ));
        }
        let mut listeners = Vec::new();
        let mut local_addr = None;
        if let Some(addr) = listen.tcp {
            let listener = TcpListener::bind(addr)?;
            listener.set_nonblocking(true)?;
            local_addr = Some(listener.local_addr()?);
            listeners.push(Listener::Tcp(listener));
        }
        if let Some((path, mode)) = &listen.unix {
            listeners.push(stream::bind_unix(path, *mode)?);
        }
        if listeners.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "admin server: nothing to listen on"));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared { handler: Box::new(handler), options, stop: Arc::clone(&stop) });
        let accept_thread =
            thread::Builder::new().name("admin-accept".to_string()).spawn(move || accept_loop(listeners, shared))?;
        let local_addr = local_addr.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        Ok(AdminServer { local_addr, stop, accept_thread: Some(accept_thread) })
    }

    /// The TCP address the server listens on (with the port the system chose for port 0);
    /// `0.0.0.0:0` when it listens on a Unix socket only.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, closes the open connections and joins every thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept_thread.take() {
            // The accept thread joins the connection threads before it returns. It cannot
            // panic short of a bug; there is nothing more to do about one here.
            let _ = t.join();
        }
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

struct Shared {
    handler: Box<Handler>,
    options: AdminOptions,
    stop: Arc<AtomicBool>,
}

/// The open connections: when each last sent something, and the flag that asks it to go.
#[derive(Default)]
struct Registry {
    next_id: u64,
    open: Vec<(u64, Arc<Idle>)>,
}

/// One connection's idleness, shared with the accepting thread.
struct Idle {
    last_input: std::sync::Mutex<Instant>,
    /// Set to close it for a newcomer.
    evict: AtomicBool,
    /// Between its lines: waiting for input (a command in progress is never cut).
    waiting: AtomicBool,
}

/// Removes a connection from the registry when its thread ends, however it ends.
struct ConnectionSlot {
    registry: Arc<std::sync::Mutex<Registry>>,
    id: u64,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        r.open.retain(|(id, _)| *id != self.id);
    }
}

fn accept_loop(listeners: Vec<Listener>, shared: Arc<Shared>) {
    let registry = Arc::new(std::sync::Mutex::new(Registry::default()));
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) {
        let mut accepted = false;
        for listener in &listeners {
            match listener.accept() {
                Ok(stream) => {
                    accepted = true;
                    workers.retain(|w| !w.is_finished());
                    admit(stream, &shared, &registry, &mut workers);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // ECONNABORTED, EMFILE and the like: keep serving, without spinning.
                Err(_) => {}
            }
        }
        if !accepted {
            thread::sleep(POLL_INTERVAL);
        }
    }
    drop(listeners);
    for w in workers {
        let _ = w.join();
    }
}

/// Serves a new connection on a thread of its own, making room by closing the connection
/// idle the longest when every slot is taken, or refuses it when all are busy.
fn admit(
    stream: Box<dyn Conn>,
    shared: &Arc<Shared>,
    registry: &Arc<std::sync::Mutex<Registry>>,
    workers: &mut Vec<JoinHandle<()>>,
) {
    let mut r = registry.lock().unwrap_or_else(|e| e.into_inner());
    let live = r.open.iter().filter(|(_, i)| !i.evict.load(Ordering::SeqCst)).count();
    if live >= shared.options.max_connections {
        let idle_for = |i: &Idle| i.last_input.lock().map(|t| t.elapsed()).unwrap_or_default();
        let victim = r
            .open
            .iter()
            .filter(|(_, i)| !i.evict.load(Ordering::SeqCst) && i.waiting.load(Ordering::SeqCst))
            .map(|(_, i)| (idle_for(i), i))
            .filter(|(idle, _)| *idle >= shared.options.evict_idle_after)
            .max_by_key(|(idle, _)| *idle);
        match victim {
            Some((_, i)) => i.evict.store(true, Ordering::SeqCst),
            None => {
                drop(r);
                let why = format!("too many admin connections (limit {}), all busy", shared.options.max_connections);
                refuse(stream, &why);
                return;
            }
        }
    }
    let idle = Arc::new(Idle {
        last_input: std::sync::Mutex::new(Instant::now()),
        evict: AtomicBool::new(false),
        waiting: AtomicBool::new(true),
    });
    let id = r.next_id;
    r.next_id += 1;
    r.open.push((id, Arc::clone(&idle)));
    drop(r);
    let slot = ConnectionSlot { registry: Arc::clone(registry), id };
    let conn_shared = Arc::clone(shared);
    let spawned = thread::Builder::new().name("admin-conn".to_string()).spawn(move || {
        let _slot = slot;
        // An I/O error only ends this connection.
        let _ = serve_connection(stream, &conn_shared, &idle);
    });
    // If the thread could not be made, the closure (with the stream and the slot) is
    // dropped: the connection is closed and its slot freed.
    if let Ok(handle) = spawned {
        workers.push(handle);
    }
}

/// Tells a client the server is busy, then closes its connection without resetting it, so the
/// client reads the message rather than a connection reset.
fn refuse(mut stream: Box<dyn Conn>, why: &str) {
    let reply = AdminReply::Error(format!("{why}; try again later"));
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let _ = stream.write_all(reply.to_wire().as_bytes());
    let _ = stream.shutdown_write();
    // Read what the client sent (briefly), so closing does not send a reset over unread data.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut sink = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_millis(200);
    while Instant::now() < deadline {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// One input line, as framed by [`LineReader`].
#[derive(Debug, PartialEq, Eq)]
enum Line {
    Text(Vec<u8>),
    TooLong,
}

/// Splits a byte stream into lines of bounded length: holds at most `max_len + 1` bytes of a
/// line (the extra byte for a `\r` before the `\n`); the rest of a longer line is skipped.
struct LineReader {
    max_len: usize,
    buf: Vec<u8>,
    /// The current line is too long: skipping to its end.
    discarding: bool,
}

impl LineReader {
    fn new(max_len: usize) -> Self {
        LineReader { max_len, buf: Vec::new(), discarding: false }
    }

    /// Feeds bytes just read; pushes the lines they complete onto `out`.
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<Line>) {
        for piece in bytes.split_inclusive(|&b| b == b'\n') {
            let (content, ended) = match piece.split_last() {
                Some((b'\n', content)) => (content, true),
                _ => (piece, false),
            };
            if !self.discarding {
                if self.buf.len() + content.len() > self.max_len + 1 {
                    self.discarding = true;
                    self.buf = Vec::new();
                } else {
                    self.buf.extend_from_slice(content);
                }
            }
            if ended {
                out.push(self.take_line());
            }
        }
    }

    /// At end of input: the last line, if it had no line ending.
    fn finish(&mut self) -> Option<Line> {
        if self.discarding || !self.buf.is_empty() {
            Some(self.take_line())
        } else {
            None
        }
    }

    fn take_line(&mut self) -> Line {
        if std::mem::take(&mut self.discarding) {
            self.buf.clear();
            return Line::TooLong;
        }
        let mut line = std::mem::take(&mut self.buf);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.len() > self.max_len {
            Line::TooLong
        } else {
            Line::Text(line)
        }
    }
}

/// What to do after a line.
enum Next {
    Continue,
    Close,
}

fn serve_connection(mut stream: Box<dyn Conn>, shared: &Shared, idle: &Idle) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(POLL_INTERVAL))?;
    stream.set_write_timeout(Some(shared.options.write_timeout))?;
    let mut reader = LineReader::new(shared.options.max_line_len);
    let mut chunk = [0u8; 1024];
    let mut lines = Vec::new();
    let mut last_input = Instant::now();
    loop {
        if !lines.is_empty() {
            // A command in progress is never cut short for a newcomer.
            idle.waiting.store(false, Ordering::SeqCst);
            for line in lines.drain(..) {
                if let Next::Close = answer_line(&mut stream, shared, line)? {
                    return Ok(());
                }
            }
            idle.waiting.store(true, Ordering::SeqCst);
        }
        if idle.evict.load(Ordering::SeqCst) {
            let bye = AdminReply::Error("closing this idle connection: another client needs the slot".into());
            let _ = stream.write_all(bye.to_wire().as_bytes());
            close_gracefully(&mut stream);
            return Ok(());
        }
        if shared.stop.load(Ordering::SeqCst) {
            close_gracefully(&mut stream);
            return Ok(());
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                if let Some(line) = reader.finish() {
                    answer_line(&mut stream, shared, line)?;
                }
                return Ok(());
            }
            Ok(n) => {
                last_input = Instant::now();
                if let Ok(mut t) = idle.last_input.lock() {
                    *t = last_input;
                }
                reader.feed(&chunk[..n], &mut lines);
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if last_input.elapsed() >= shared.options.idle_timeout {
                    let _ =
                        stream.write_all(AdminReply::Error("idle timeout; closing".to_string()).to_wire().as_bytes());
                    return Ok(());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Ends a connection with a FIN rather than a reset: sends the end of stream, then reads
/// (without waiting) what the client already sent, since closing a socket with unread input
/// makes the kernel reset the connection.
fn close_gracefully(stream: &mut Box<dyn Conn>) {
    let _ = stream.shutdown_write();
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    for _ in 0..64 {
        match stream.read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

fn answer_line(stream: &mut Box<dyn Conn>, shared: &Shared, line: Line) -> io::Result<Next> {
    let reply = match line {
        Line::TooLong => AdminReply::Error(format!(
            "line too long; a command is at most {} bytes; accepted: {USAGE}",
            shared.options.max_line_len
        )),
        Line::Text(bytes) => match String::from_utf8(bytes) {
            Err(_) => AdminReply::Error(format!("command is not valid UTF-8 text; accepted: {USAGE}")),
            Ok(text) => match text.parse::<AdminCommand>() {
                Err(e) => AdminReply::Error(e.message),
                Ok(AdminCommand::Quit) => return Ok(Next::Close),
                Ok(AdminCommand::Help) => AdminReply::Ok(HELP_TEXT.to_string()),
                Ok(cmd) => match catch_unwind(AssertUnwindSafe(|| (shared.handler)(cmd))) {
                    Ok(reply) => reply,
                    Err(_) => AdminReply::Error("internal error while handling the command".to_string()),
                },
            },
        },
    };
    stream.write_all(reply.to_wire().as_bytes())?;
    Ok(Next::Continue)
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/// Sends one command to the admin server at `addr` and returns its reply: the body lines joined
/// by `\n`, without the final empty line (an error reply starts with `error: `). `quit` returns
/// an empty string once the server has closed the connection.
///
/// `timeout` bounds the whole exchange (connect, write and read). Errors: `InvalidInput` for a
/// command holding a line break, `TimedOut`/`WouldBlock` on timeout, `UnexpectedEof` if the
/// connection ends inside a reply, `InvalidData` for a reply that is not UTF-8 or is over 16 MiB.
pub fn request(addr: SocketAddr, command: &str, timeout: Duration) -> io::Result<String> {
    if command.contains(['\n', '\r']) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "an admin command is one line"));
    }
    if timeout.is_zero() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "the timeout must not be zero"));
    }
    let deadline = Instant::now() + timeout;
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    exchange(Box::new(stream), command, deadline)
}

/// [`request`] over the Unix socket at `path`.
pub fn request_unix(path: &std::path::Path, command: &str, timeout: Duration) -> io::Result<String> {
    if command.contains(['\n', '\r']) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "an admin command is one line"));
    }
    if timeout.is_zero() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "the timeout must not be zero"));
    }
    let deadline = Instant::now() + timeout;
    exchange(Box::new(std::os::unix::net::UnixStream::connect(path)?), command, deadline)
}

/// Sends one command line on `stream` and reads the reply, all before `deadline`.
fn exchange(mut stream: Box<dyn Conn>, command: &str, deadline: Instant) -> io::Result<String> {
    let remaining = || {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::Error::new(io::ErrorKind::TimedOut, "admin request timed out"))
        } else {
            Ok(left)
        }
    };
    stream.set_write_timeout(Some(remaining()?))?;
    let mut line = String::with_capacity(command.len() + 1);
    line.push_str(command);
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    let is_quit = matches!(command.parse(), Ok(AdminCommand::Quit));

    let mut received: Vec<u8> = Vec::new();
    let mut scanned = 0; // start of the first line not yet checked for emptiness
    let mut chunk = [0u8; 4096];
    loop {
        // Look for an empty line among the complete lines received so far.
        while let Some(i) = received[scanned..].iter().position(|&b| b == b'\n') {
            let line = &received[scanned..scanned + i];
            if line.is_empty() || line == b"\r" {
                received.truncate(scanned);
                return reply_text(received);
            }
            scanned += i + 1;
        }
        stream.set_read_timeout(Some(remaining()?))?;
        match stream.read(&mut chunk) {
            Ok(0) => {
                if received.is_empty() && is_quit {
                    return Ok(String::new());
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the admin server closed the connection before the end of its reply",
                ));
            }
            Ok(n) => {
                if received.len() + n > MAX_REPLY_LEN {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "admin reply too long"));
                }
                received.extend_from_slice(&chunk[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The body lines (each ended by `\n`) as text joined by `\n`.
fn reply_text(body: Vec<u8>) -> io::Result<String> {
    let text =
        String::from_utf8(body).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "admin reply is not UTF-8"))?;
    Ok(text.lines().collect::<Vec<_>>().join("\n"))
}
