//! The Prometheus endpoint: `GET /metrics` over HTTP/1.x, one request per connection.
//!
//! Bounded like the admin API: at most [`MAX_CONNECTIONS`] served at once (more are answered
//! 503 and closed), a request head of at most [`HEAD_LIMIT`] bytes within [`READ_TIMEOUT`]
//! (else 431 or 408), a body is never read. Anything but `GET` or `HEAD` is 405, any other
//! path 404, bytes that are not HTTP 400; every answer closes the connection.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub const MAX_CONNECTIONS: usize = 8;
pub const HEAD_LIMIT: usize = 8192;
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

type Render = dyn Fn() -> String + Send + Sync + 'static;

/// The listener and its threads; stops when dropped.
pub struct MetricsServer {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Serves `render()`'s text at `/metrics` on `addr`.
    pub fn spawn(addr: SocketAddr, render: impl Fn() -> String + Send + Sync + 'static) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let render: Arc<Render> = Arc::new(render);
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new().name("metrics".into()).spawn(move || accept(listener, render, flag))?;
        Ok(MetricsServer { local_addr, stop, thread: Some(thread) })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept(listener: TcpListener, render: Arc<Render>, stop: Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((mut stream, _)) => {
                threads.retain(|t| !t.is_finished());
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
                if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                    let _ = respond(&mut stream, 503, "Service Unavailable", "too many connections\n", &[], true);
                    continue;
                }
                active.fetch_add(1, Ordering::SeqCst);
                let (render, mine) = (Arc::clone(&render), Arc::clone(&active));
                let spawned = thread::Builder::new().name("metrics-conn".into()).spawn(move || {
                    let _ = serve(stream, &*render);
                    mine.fetch_sub(1, Ordering::SeqCst);
                });
                match spawned {
                    Ok(t) => threads.push(t),
                    Err(_) => {
                        active.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            }
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
    for t in threads {
        let _ = t.join();
    }
}

/// Reads one request head and answers it.
fn serve(mut stream: TcpStream, render: &Render) -> io::Result<()> {
    let deadline = Instant::now() + READ_TIMEOUT;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {
                let method = request.method.unwrap_or("");
                let path = request.path.unwrap_or("");
                let path = path.split('?').next().unwrap_or(path);
                return match (method, path) {
                    ("GET" | "HEAD", "/metrics") => {
                        let body = render();
                        let ctype = [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")];
                        respond(&mut stream, 200, "OK", &body, &ctype, method == "HEAD")
                    }
                    (_, "/metrics") => respond(
                        &mut stream,
                        405,
                        "Method Not Allowed",
                        &format!("only GET and HEAD, not {method}\n"),
                        &[("Allow", "GET, HEAD")],
                        false,
                    ),
                    _ => respond(&mut stream, 404, "Not Found", "the metrics are at /metrics\n", &[], false),
                };
            }
            Ok(httparse::Status::Partial) => {}
            Err(_) => return respond(&mut stream, 400, "Bad Request", "not an HTTP request\n", &[], false),
        }
        if head.len() >= HEAD_LIMIT {
            let why = format!("request head over {HEAD_LIMIT} bytes\n");
            return respond(&mut stream, 431, "Request Header Fields Too Large", &why, &[], false);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return respond(&mut stream, 408, "Request Timeout", "the request head took too long\n", &[], false);
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => head.extend_from_slice(&chunk[..n.min(HEAD_LIMIT - head.len())]),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn respond(
    stream: &mut TcpStream,
    code: u16,
    reason: &str,
    body: &str,
    headers: &[(&str, &str)],
    head_only: bool,
) -> io::Result<()> {
    let mut out = format!("HTTP/1.1 {code} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !headers.iter().any(|(n, _)| *n == "Content-Type") {
        out.push_str("Content-Type: text/plain\r\n");
    }
    out.push_str("\r\n");
    if !head_only {
        out.push_str(body);
    }
    stream.write_all(out.as_bytes())?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    // Read what the client still sends (briefly), so closing does not reset the answer.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut sink = [0u8; 1024];
    for _ in 0..16 {
        match stream.read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(request);
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn serves_get_and_refuses_the_rest_with_a_reason() {
        let server = MetricsServer::spawn("127.0.0.1:0".parse().unwrap(), || "up 1\n".into()).unwrap();
        let addr = server.local_addr();
        let ok = ask(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n") && ok.ends_with("\r\n\r\nup 1\n"), "{ok}");
        assert!(ok.contains("text/plain; version=0.0.4"));
        let post = ask(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
        assert!(post.starts_with("HTTP/1.1 405 ") && post.contains("Allow: GET, HEAD"), "{post}");
        assert!(ask(addr, b"GET / HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 404 "));
        assert!(ask(addr, b"\x16\x03\x01garbage\r\n\r\n").starts_with("HTTP/1.1 400 "));
        let mut huge = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        huge.resize(20_000, b'a');
        assert!(ask(addr, &huge).starts_with("HTTP/1.1 431 "));
        let head = ask(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200 ") && head.ends_with("\r\n\r\n"), "{head}");
    }
}
