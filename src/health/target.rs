//! What is checked, how often, and the validation that keeps every check bounded.

use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::time::Duration;

/// The checker's own end: the switch's server-side address and the local ports it may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    /// The switch's address on the servers' side; checks come from it.
    pub addr: Ipv4Addr,
    /// The local ports checks use, one per connection. Full NAT must leave this range alone,
    /// so that a server's answer to a check is never taken for a client's flow (and the other
    /// way round). It needs at least one port per target; a wider range spaces out the reuse
    /// of a four-tuple, which matters because a server that closes first keeps the old
    /// connection in TIME-WAIT (60 s on Linux).
    pub ports: RangeInclusive<u16>,
    /// Seeds smoltcp's generator, which draws the initial sequence numbers. Drawn from the OS
    /// in service (an outsider who knows it can forge answers); fixed in tests.
    pub seed: u64,
}

/// One real server's check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The real server's index, as in [`crate::engine::service::Services::servers`].
    pub server: u16,
    pub ip: Ipv4Addr,
    pub port: u16,
    pub check: Check,
}

/// The kinds of check ServerIron offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Layer 4: passes when the three-way handshake completes; the connection is then closed.
    Tcp,
    /// Layer 7: one HTTP request, judged on the response's status and optionally its body.
    Http(HttpCheck),
}

/// An HTTP check. The request is HTTP/1.0 with `Connection: close`, so the server never
/// answers with chunked encoding and ends the response by closing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    /// A request method token (`GET`, `HEAD`, `OPTIONS`, ...).
    pub method: String,
    /// The request target, `/...` (or `*` for `OPTIONS`).
    pub path: String,
    /// The `Host` header; the server's `ip[:port]` when `None`.
    pub host: Option<String>,
    /// Status codes that pass.
    pub expect_status: Vec<u16>,
    /// A string the body must contain (the body only, not the head).
    pub expect_body: Option<String>,
    /// How much of the response is read at most, head included; a check that needs more fails.
    pub max_response: usize,
}

impl HttpCheck {
    /// The usual form: `GET path`, passing on 200 alone, reading up to 64 KiB.
    pub fn get(path: &str) -> HttpCheck {
        HttpCheck {
            method: "GET".to_owned(),
            path: path.to_owned(),
            host: None,
            expect_status: vec![200],
            expect_body: None,
            max_response: 64 * 1024,
        }
    }
}

impl Default for HttpCheck {
    fn default() -> Self {
        HttpCheck::get("/")
    }
}

/// When a target is checked and how many results change its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// From the start of one check to the start of the next.
    pub interval: Duration,
    /// A check without a verdict this long after its start fails. At most `interval`.
    pub timeout: Duration,
    /// Consecutive passes that bring a down server up.
    pub rise: u32,
    /// Consecutive failures that take an up server down.
    pub fall: u32,
}

impl Default for Timing {
    /// HAProxy's defaults (`inter 2s rise 2 fall 3`), with a timeout of half the interval.
    fn default() -> Self {
        Timing { interval: Duration::from_secs(2), timeout: Duration::from_secs(1), rise: 2, fall: 3 }
    }
}

/// A check set that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("health checks need a unicast local address, not {0}")]
    LocalAddr(Ipv4Addr),
    #[error("the local port range {start}-{end} is empty or includes port 0")]
    PortRange { start: u16, end: u16 },
    #[error("{targets} health-check targets need as many local ports; the range has {ports}")]
    TooFewPorts { targets: usize, ports: usize },
    #[error("server {0} has two health-check targets")]
    DuplicateServer(u16),
    #[error("health check of server {server}: {what}")]
    Target { server: u16, what: &'static str },
}

/// Longest accepted method, path and host: a request always fits one small buffer.
const MAX_METHOD: usize = 16;
const MAX_PATH: usize = 1024;
const MAX_HOST: usize = 255;
const MAX_EXPECT_BODY: usize = 256;
const MAX_EXPECT_STATUS: usize = 16;
/// Bounds of `max_response`: room for a status line, and a cap on time spent reading.
const MIN_RESPONSE: usize = 256;
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// Checks the local end and every target, so that a running checker meets no bad value.
pub(super) fn validate(local: &Local, targets: &[(Target, Timing)]) -> Result<(), ConfigError> {
    if local.addr.is_unspecified() || local.addr.is_broadcast() || local.addr.is_multicast() {
        return Err(ConfigError::LocalAddr(local.addr));
    }
    let (start, end) = (*local.ports.start(), *local.ports.end());
    if start == 0 || start > end {
        return Err(ConfigError::PortRange { start, end });
    }
    let ports = usize::from(end - start) + 1;
    if targets.len() > ports {
        return Err(ConfigError::TooFewPorts { targets: targets.len(), ports });
    }
    let mut seen = std::collections::HashSet::new();
    for (target, timing) in targets {
        if !seen.insert(target.server) {
            return Err(ConfigError::DuplicateServer(target.server));
        }
        let fail = |what| ConfigError::Target { server: target.server, what };
        check_target(target).map_err(fail)?;
        check_timing(timing).map_err(fail)?;
    }
    Ok(())
}

fn check_target(target: &Target) -> Result<(), &'static str> {
    if target.port == 0 {
        return Err("port 0");
    }
    if target.ip.is_unspecified() || target.ip.is_broadcast() || target.ip.is_multicast() {
        return Err("the address is not unicast");
    }
    match &target.check {
        Check::Tcp => Ok(()),
        Check::Http(http) => check_http(http),
    }
}

fn check_timing(timing: &Timing) -> Result<(), &'static str> {
    if timing.interval.is_zero() || timing.timeout.is_zero() {
        return Err("interval and timeout must be above zero");
    }
    if timing.timeout > timing.interval {
        return Err("the timeout must not exceed the interval");
    }
    if timing.rise == 0 || timing.fall == 0 {
        return Err("rise and fall must be at least 1");
    }
    Ok(())
}

fn check_http(http: &HttpCheck) -> Result<(), &'static str> {
    if http.method.is_empty() || http.method.len() > MAX_METHOD || !http.method.bytes().all(is_tchar) {
        return Err("the method must be a token of 1 to 16 characters");
    }
    let path_ok = http.path == "*" || http.path.starts_with('/');
    if !path_ok || http.path.len() > MAX_PATH || !http.path.bytes().all(is_visible) {
        return Err("the path must start with `/`, hold no spaces or controls and fit 1 KiB");
    }
    if let Some(host) = &http.host {
        if host.is_empty() || host.len() > MAX_HOST || !host.bytes().all(is_visible) {
            return Err("the host must be 1 to 255 visible characters");
        }
    }
    if http.expect_status.is_empty() || http.expect_status.len() > MAX_EXPECT_STATUS {
        return Err("expect 1 to 16 status codes");
    }
    if http.expect_status.iter().any(|s| !(100..=599).contains(s)) {
        return Err("status codes lie in 100-599");
    }
    if !(MIN_RESPONSE..=MAX_RESPONSE).contains(&http.max_response) {
        return Err("the response cap must lie between 256 bytes and 16 MiB");
    }
    if let Some(body) = &http.expect_body {
        if body.is_empty() || body.len() > MAX_EXPECT_BODY {
            return Err("the expected body string must hold 1 to 256 bytes");
        }
        if http.method.eq_ignore_ascii_case("HEAD") {
            return Err("a HEAD response has no body to search");
        }
    }
    Ok(())
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Printable ASCII without space: nothing that could end a request line or a header.
fn is_visible(b: u8) -> bool {
    b.is_ascii_graphic()
}

/// The request bytes of an HTTP check of `ip:port`.
pub(super) fn http_request(http: &HttpCheck, ip: Ipv4Addr, port: u16) -> Vec<u8> {
    let host = match &http.host {
        Some(host) => host.clone(),
        None if port == 80 => ip.to_string(),
        None => format!("{ip}:{port}"),
    };
    format!(
        "{} {} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: stickwire-health\r\nConnection: close\r\n\r\n",
        http.method, http.path
    )
    .into_bytes()
}
