//! The reference topology for end-to-end tests: three namespaces (scripts/netns.sh), the
//! switch on DPDK's af_packet PMD in `sw-lb`, real Linux tools in `sw-client`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
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
    pub fn start(config: &str) -> Switch {
        let mut child = Command::new("ip")
            .args(["netns", "exec", "sw-lb", env!("CARGO_BIN_EXE_stickwire"), "run", "--config", config])
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

/// The value of a counter line `name   value` in the switch's report.
pub fn counter(report: &str, name: &str) -> u64 {
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
