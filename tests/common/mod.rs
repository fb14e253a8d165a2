//! The reference topology for end-to-end tests: three namespaces (scripts/netns.sh), the
//! switch on DPDK's af_packet PMD in `sw-lb`, real Linux tools in `sw-client`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static TOPOLOGY: Mutex<()> = Mutex::new(());

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The namespaces, up for as long as this lives (one test at a time, across test binaries
/// and scripts too: the lock file is also taken by scripts that use the topology).
pub struct Topology {
    _lock: MutexGuard<'static, ()>,
    _file_lock: std::fs::File,
}

/// Takes the machine-wide topology lock (`flock` on a file in /tmp), blocking until it is free.
fn topology_file_lock() -> std::fs::File {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/tmp/stickwire-topology.lock")
        .expect("open /tmp/stickwire-topology.lock");
    // An flock(2), released when the file is closed.
    file.lock().expect("lock /tmp/stickwire-topology.lock");
    file
}

impl Topology {
    pub fn up() -> Topology {
        let lock = TOPOLOGY.lock().unwrap_or_else(|e| e.into_inner());
        let file_lock = topology_file_lock();
        let status = Command::new(root().join("scripts/netns.sh")).arg("up").status().expect("scripts/netns.sh");
        assert!(status.success(), "scripts/netns.sh up failed (the tests need root)");
        Topology { _lock: lock, _file_lock: file_lock }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/netns.sh")).arg("down").status();
    }
}

/// Runs a command in a namespace and returns its output.
pub fn in_ns(ns: &str, args: &[&str]) -> Output {
    Command::new("ip").args(["netns", "exec", ns]).args(args).output().expect("ip netns exec")
}

/// `stickwire run` in sw-lb, started and ready.
pub struct Switch {
    child: Option<Child>,
    pub log: String,
}

impl Switch {
    /// This test build's `stickwire run --config CONFIG`.
    pub fn start(config: &str) -> Switch {
        Switch::start_bin(Path::new(env!("CARGO_BIN_EXE_stickwire")), config)
    }

    /// `BIN run --config CONFIG` (the release build, for tests of behaviour under load).
    pub fn start_bin(bin: &Path, config: &str) -> Switch {
        let bin = bin.to_str().expect("binary path");
        let mut child = Command::new("ip")
            .args(["netns", "exec", "sw-lb", bin, "run", "--config", config])
            .current_dir(root())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start stickwire");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut log = String::new();
        while !log.contains("running with") {
            if stderr.read_line(&mut log).unwrap() == 0 {
                let _ = child.kill();
                panic!("stickwire run ended before running:\n{log}");
            }
        }
        // Keep draining stderr so the switch never blocks on a full pipe.
        std::thread::spawn(move || for _ in stderr.lines() {});
        Switch { child: Some(child), log }
    }

    /// Each of the running switch's threads by name, with its nice value (field 19 of
    /// `/proc/PID/task/TID/stat`).
    pub fn thread_nice(&self) -> Vec<(String, i32)> {
        let pid = self.child.as_ref().expect("running").id();
        let mut threads = Vec::new();
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("the switch's threads") {
            let stat = std::fs::read_to_string(task.unwrap().path().join("stat")).expect("a thread's stat");
            let (open, close) = (stat.find('(').unwrap(), stat.rfind(')').unwrap());
            let nice = stat[close + 2..].split(' ').nth(16).and_then(|n| n.parse().ok()).expect(&stat);
            threads.push((stat[open + 1..close].to_string(), nice));
        }
        threads
    }

    /// SIGINT, then the counters it printed; asserts a clean exit.
    pub fn stop(mut self) -> String {
        let child = self.child.take().unwrap();
        assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "stickwire exited with {:?}:\n{stdout}", out.status);
        stdout
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The value of a counter line `name   value` in the switch's report: 0 when the report
/// leaves it out (it prints none at zero). A name the engine has no counter for fails the
/// test, so a misspelt name can never pass as a zero.
pub fn counter(report: &str, name: &str) -> u64 {
    assert!(
        stickwire::engine::Counters::names().contains(&name),
        "the engine has no counter named `{name}`: {:?}",
        stickwire::engine::Counters::names()
    );
    report
        .lines()
        .find_map(|l| {
            let mut words = l.split_whitespace();
            let first = words.next()?;
            let key = if first == "drop" { words.next()? } else { first };
            (key == name).then(|| words.next()?.parse().ok()).flatten()
        })
        .unwrap_or(0)
}

/// Times a closure.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

/// The nginx backends of scripts/backends.sh, running while this lives.
pub struct Backends;

impl Backends {
    pub fn start() -> Backends {
        let status = Command::new(root().join("scripts/backends.sh")).arg("start").status().expect("backends.sh");
        assert!(status.success(), "scripts/backends.sh start failed");
        Backends
    }
}

impl Drop for Backends {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/backends.sh")).arg("stop").status();
    }
}

/// `count` HTTP requests from client address `from`, each on a new connection, to `url`;
/// returns the name of the server that answered each (the first word of the body).
pub fn fetch_servers(from: &str, url: &str, count: usize) -> Vec<String> {
    fetch_servers_body(from, url, count).iter().filter_map(|b| b.split_whitespace().next()).map(String::from).collect()
}

/// `count` HTTP requests from client address `from`, each on a new connection, to `url`;
/// the body of each answer (trimmed).
pub fn fetch_servers_body(from: &str, url: &str, count: usize) -> Vec<String> {
    let mut args: Vec<String> = ["curl", "-s", "-m", "5", "--interface", from, "-H", "Connection: close", "-w", "\n"]
        .map(String::from)
        .to_vec();
    args.extend(std::iter::repeat_n(url.to_string(), count));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = in_ns("sw-client", &args);
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect()
}

/// The Tomcat nodes of scripts/tomcat.sh (node1, node2, node3 on rs1, rs2, rs3 port 80; they
/// take port 80 from the nginx backends), running while this lives. `/counter.jsp` (and `/`)
/// answers `nodeN count=K`, K counted in the HTTP session; its JSESSIONID ends in `.nodeN`.
pub struct Tomcat;

impl Tomcat {
    pub fn start() -> Tomcat {
        let status = Command::new(root().join("scripts/tomcat.sh")).arg("start").status().expect("tomcat.sh");
        assert!(status.success(), "scripts/tomcat.sh start failed");
        Tomcat
    }
}

impl Drop for Tomcat {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/tomcat.sh")).arg("stop").status();
    }
}

/// scripts/backends.sh's 100 MiB of random bytes, served as `/big` by every nginx server.
pub const BIG_FILE: &str = "/tmp/stickwire-backends/big";

/// The namespace that holds address `addr`: the servers' 198.18.1.x, else the client's.
pub fn namespace_of(addr: &str) -> &'static str {
    if addr.starts_with("198.18.1.") {
        "sw-servers"
    } else {
        "sw-client"
    }
}

/// curl from address `from` (in the namespace that holds it) with `args`, at most `secs`
/// seconds; its standard output. Panics, with curl's error, if curl fails.
pub fn curl(from: &str, secs: u32, args: &[&str]) -> String {
    let secs = secs.to_string();
    let mut all = vec!["curl", "-sS", "-m", &secs, "--interface", from];
    all.extend_from_slice(args);
    let out = in_ns(namespace_of(from), &all);
    assert!(out.status.success(), "curl {args:?} from {from}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One request from `from` to `url` with curl's cookie jar `jar` (sent, then updated with
/// what the server set, as a browser would); the body, trimmed.
pub fn curl_with_jar(from: &str, jar: &Path, url: &str) -> String {
    let jar = jar.to_str().expect("jar path");
    curl(from, 5, &["-b", jar, "-c", jar, url]).trim().to_string()
}

/// The value of cookie `name` in curl's cookie jar `jar`, if it holds one.
pub fn jar_cookie(jar: &Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(jar).ok()?;
    text.lines()
        // HttpOnly cookies are written as `#HttpOnly_<domain>`; other `#` lines are comments.
        .map(|l| l.strip_prefix("#HttpOnly_").unwrap_or(l))
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let fields: Vec<&str> = l.split('\t').collect();
            (fields.len() == 7 && fields[5] == name).then(|| fields[6].to_string())
        })
}

/// The response head (status line and headers) and body of one GET from `from`, with
/// extra request headers (`"Cookie: SID=1"`).
pub fn get_with_head(from: &str, url: &str, headers: &[&str]) -> (String, String) {
    let mut args = vec!["-i"];
    for h in headers {
        args.extend(["-H", h]);
    }
    args.push(url);
    let response = curl(from, 5, &args);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.to_string(), body.to_string())
}

/// Downloads `url` from `from` without keeping it; the sha256 (hex) of what arrived.
pub fn download_sha256(from: &str, url: &str) -> String {
    let script = "set -o pipefail; curl -sS -m 120 --interface \"$1\" \"$2\" | sha256sum";
    let out = in_ns(namespace_of(from), &["bash", "-c", script, "download", from, url]);
    assert!(out.status.success(), "download {url} from {from}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

/// The sha256 (hex) of a file.
pub fn sha256_file(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("sha256sum");
    assert!(out.status.success(), "sha256sum {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

/// POSTs the bytes of `file` to `url` from `from`; the answer's body, trimmed (for the
/// backends' `/upload`: `rsN <sha256 hex>`).
pub fn upload(from: &str, url: &str, file: &Path) -> String {
    let data = format!("@{}", file.to_str().expect("file path"));
    curl(from, 60, &["--data-binary", &data, "-H", "Content-Type: application/octet-stream", url]).trim().to_string()
}

/// A path for a scratch file of this test process (a cookie jar, an upload), removed first.
pub fn scratch_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("stickwire-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Writes `len` random bytes to `path`.
pub fn random_file(path: &Path, len: u64) {
    let mut random = std::fs::File::open("/dev/urandom").expect("/dev/urandom").take(len);
    let mut file = std::fs::File::create(path).expect("create random file");
    assert_eq!(std::io::copy(&mut random, &mut file).expect("write random file"), len);
}

/// A binary of the release build (`target/release/stickwire`, `target/release/examples/flood`)
/// for the tests whose load a debug build could not carry (a flood): scripts/test.sh builds
/// them before the tests. Missing, or older than a source file, fails the test with the
/// command that builds them, so stale code is never what gets tested.
pub fn release_bin(relative: &str) -> PathBuf {
    // This test's executable is <target>/debug/deps/<name>-<hash>.
    let exe = std::env::current_exe().expect("current_exe");
    let target = exe.ancestors().nth(3).expect("the target directory");
    let bin = target.join("release").join(relative);
    let build = "cargo build --release --bin stickwire --example flood";
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: build it first ({build})", bin.display()));
    let example = relative.strip_prefix("examples/").map(|name| format!("examples/{name}.rs"));
    let newest_source = ["src", "vendor-bindings", "build.rs", "Cargo.toml"]
        .into_iter()
        .chain(example.as_deref())
        .flat_map(|p| newest_mtime(&root().join(p)))
        .max()
        .expect("sources");
    assert!(built >= newest_source, "{} is older than the sources: rebuild it ({build})", bin.display());
    bin
}

fn newest_mtime(path: &Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path).ok()?.flatten().filter_map(|e| newest_mtime(&e.path())).max()
}

/// What wrk reported.
#[derive(Debug, Clone)]
pub struct WrkRun {
    pub requests: u64,
    pub requests_per_sec: f64,
    /// connect + read + write + timeout errors.
    pub socket_errors: u64,
    pub non_2xx: u64,
    pub text: String,
}

/// wrk from sw-client with `args` (URL last); panics if wrk itself fails.
pub fn wrk(args: &[&str]) -> WrkRun {
    let mut all = vec!["wrk"];
    all.extend_from_slice(args);
    let out = in_ns("sw-client", &all);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "wrk {args:?}: {text}{}", String::from_utf8_lossy(&out.stderr));
    let after =
        |prefix: &str| text.lines().find_map(|l| l.trim().strip_prefix(prefix).map(str::trim).map(String::from));
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    // "Socket errors: connect 0, read 0, write 0, timeout 0", only when one is not zero.
    let socket_errors =
        after("Socket errors:").map(|l| l.split([' ', ',']).filter_map(|w| w.parse::<u64>().ok()).sum()).unwrap_or(0);
    let non_2xx = after("Non-2xx or 3xx responses:").and_then(|n| n.parse().ok()).unwrap_or(0);
    let requests_per_sec = after("Requests/sec:").and_then(|n| n.parse().ok()).unwrap_or(0.0);
    WrkRun { requests, requests_per_sec, socket_errors, non_2xx, text }
}

/// A number that follows `label` in the switch's report (`flows in table 12, half-open 3`:
/// `report_number(r, "half-open")` is 3); panics if the report has no such label.
pub fn report_number(report: &str, label: &str) -> u64 {
    report
        .lines()
        .find_map(|l| {
            let at = l.find(&format!("{label} "))?;
            l[at + label.len()..].split([' ', ',', ';']).find(|w| !w.is_empty())?.parse().ok()
        })
        .unwrap_or_else(|| panic!("the report has no `{label}`:\n{report}"))
}

/// curl inside namespace `ns` with `args`; its standard output (whatever curl's status).
pub fn curl_ns(ns: &str, args: &[&str]) -> String {
    let mut all = vec!["curl"];
    all.extend_from_slice(args);
    String::from_utf8_lossy(&in_ns(ns, &all).stdout).into_owned()
}

/// `examples/two-arm.toml` with each `(from, to)` replaced (each must be there), written
/// to a file of its own for this test process; its path.
pub fn example_with(name: &str, edits: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(root().join("examples/two-arm.toml")).expect("the example config");
    for (from, to) in edits {
        assert!(text.contains(from), "examples/two-arm.toml has no `{from}`");
        text = text.replace(from, to);
    }
    let path = std::env::temp_dir().join(format!("stickwire-{name}-{}.toml", std::process::id()));
    std::fs::write(&path, text).expect("write the config");
    path.to_str().expect("a UTF-8 path").to_string()
}

/// The example's worker count set to two.
pub const TWO_WORKERS: (&str, &str) = ("workers = \"auto\"", "workers = 2");
