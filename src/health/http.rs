//! Reading an HTTP check's response as it arrives, in bounded memory, until a verdict.
//!
//! The head is gathered (at most [`HEAD_LIMIT`] bytes) and parsed with `httparse`; the body is
//! never kept, only searched, with a carry of `needle.len() - 1` bytes across reads. The
//! whole response is capped by `HttpCheck::max_response`, so an endless body ends the check.

use super::state::{Reason, Verdict};
use super::target::HttpCheck;

/// The longest response head kept (bounded by `max_response` too).
pub const HEAD_LIMIT: usize = 8 * 1024;
/// Headers a response head may have.
const MAX_HEADERS: usize = 64;

/// One response, read so far.
#[derive(Debug)]
pub struct ResponseReader {
    /// Bytes read, head and body, against `max_response`.
    read: usize,
    phase: Phase,
}

#[derive(Debug)]
enum Phase {
    Head(Vec<u8>),
    Body(BodyScan),
}

/// The body search, after an accepted status.
#[derive(Debug)]
struct BodyScan {
    status: u16,
    /// Body bytes still to come when `Content-Length` said how many.
    remaining: Option<u64>,
    /// The previous read's last bytes, then the current read: a needle split across reads
    /// is found.
    window: Vec<u8>,
}

impl ResponseReader {
    pub fn new() -> ResponseReader {
        ResponseReader { read: 0, phase: Phase::Head(Vec::new()) }
    }

    /// Whether any byte arrived: a timeout then waited for the rest, not the first.
    pub fn started(&self) -> bool {
        self.read > 0
    }

    /// Takes the next bytes of the response; a verdict once one is reached.
    pub fn feed(&mut self, check: &HttpCheck, data: &[u8]) -> Option<Verdict> {
        let room = check.max_response.saturating_sub(self.read);
        let take = data.len().min(room);
        self.read += take;
        if let Some(verdict) = self.consume(check, &data[..take]) {
            return Some(verdict);
        }
        (take < data.len()).then(|| Verdict::fail(Reason::TooLarge(check.max_response)))
    }

    /// The server closed its side: the verdict on what came.
    pub fn end(&self, check: &HttpCheck) -> Verdict {
        match &self.phase {
            Phase::Head(head) if head.is_empty() => Verdict::fail(Reason::ClosedEarly),
            Phase::Head(_) => Verdict::fail(Reason::ClosedInHead),
            Phase::Body(_) => Verdict::fail(Reason::BodyLacks(needle(check).to_owned())),
        }
    }

    fn consume(&mut self, check: &HttpCheck, data: &[u8]) -> Option<Verdict> {
        match &mut self.phase {
            Phase::Body(scan) => scan.feed(check, data),
            Phase::Head(head) => {
                let limit = HEAD_LIMIT.min(check.max_response);
                let take = data.len().min(limit - head.len());
                head.extend_from_slice(&data[..take]);
                let (status, head_len, content_length) = match parse_head(head) {
                    Head::Partial if head.len() == limit => {
                        return Some(Verdict::fail(Reason::HeadTooLarge(limit)));
                    }
                    Head::Partial => return None,
                    Head::Bad(reason) => return Some(Verdict::fail(reason)),
                    Head::Complete { status, len, content_length } => (status, len, content_length),
                };
                if !check.expect_status.contains(&status) {
                    return Some(Verdict::fail(Reason::Status(status)));
                }
                if check.expect_body.is_none() {
                    return Some(Verdict::pass(Reason::Status(status)));
                }
                // The bytes after the head, in `head` and in the rest of `data`, are body.
                let mut scan = BodyScan { status, remaining: content_length, window: Vec::new() };
                let verdict = scan.feed(check, &head[head_len..]).or_else(|| scan.feed(check, &data[take..]));
                self.phase = Phase::Body(scan);
                verdict
            }
        }
    }
}

impl BodyScan {
    fn feed(&mut self, check: &HttpCheck, data: &[u8]) -> Option<Verdict> {
        let text = needle(check);
        let needle = text.as_bytes();
        // Bytes past Content-Length are not this body's.
        let data = match self.remaining {
            Some(left) => &data[..data.len().min(usize::try_from(left).unwrap_or(usize::MAX))],
            None => data,
        };
        self.window.extend_from_slice(data);
        if self.window.windows(needle.len()).any(|w| w == needle) {
            return Some(Verdict::pass(Reason::StatusAndBody(self.status, text.to_owned())));
        }
        let keep = self.window.len().min(needle.len() - 1);
        self.window.drain(..self.window.len() - keep);
        if let Some(left) = &mut self.remaining {
            *left -= data.len() as u64;
            if *left == 0 {
                return Some(Verdict::fail(Reason::BodyLacks(text.to_owned())));
            }
        }
        None
    }
}

/// The expected body string; validation made it non-empty whenever a body is searched.
fn needle(check: &HttpCheck) -> &str {
    check.expect_body.as_deref().unwrap_or(" ")
}

enum Head {
    Partial,
    Bad(Reason),
    Complete { status: u16, len: usize, content_length: Option<u64> },
}

fn parse_head(head: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(head) {
        Ok(httparse::Status::Partial) => Head::Partial,
        Ok(httparse::Status::Complete(len)) => {
            let status = response.code.unwrap_or(0);
            let content_length = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            Head::Complete { status, len, content_length }
        }
        Err(httparse::Error::Version | httparse::Error::Status) => Head::Bad(Reason::BadStatusLine),
        Err(_) => Head::Bad(Reason::BadHead),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: Option<&str>) -> HttpCheck {
        HttpCheck { expect_body: body.map(str::to_owned), max_response: 1024, ..HttpCheck::get("/") }
    }

    /// Feeds `response` `step` bytes at a time; the verdict and whether it came before the end.
    fn read(check: &HttpCheck, response: &[u8], step: usize) -> (Verdict, bool) {
        let mut reader = ResponseReader::new();
        for chunk in response.chunks(step) {
            if let Some(v) = reader.feed(check, chunk) {
                return (v, true);
            }
        }
        (reader.end(check), false)
    }

    fn reason(check: &HttpCheck, response: &[u8]) -> String {
        let every_split: Vec<_> = (1..=response.len().max(1)).map(|step| read(check, response, step)).collect();
        // The verdict does not depend on how the bytes were cut up.
        assert!(every_split.windows(2).all(|w| w[0] == w[1]), "{every_split:?}");
        every_split[0].0.reason.to_string()
    }

    #[test]
    fn status_decides_without_body_search() {
        let c = check(None);
        assert_eq!(reason(&c, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"), "HTTP 200");
        assert_eq!(reason(&c, b"HTTP/1.0 503 Busy\r\n\r\n"), "HTTP 503");
        let two = HttpCheck { expect_status: vec![200, 301], ..c };
        assert!(read(&two, b"HTTP/1.1 301 Moved\r\n\r\n", 4).0.passed);
    }

    #[test]
    fn body_search_spans_reads_and_respects_content_length() {
        let c = check(Some("ALIVE"));
        assert_eq!(reason(&c, b"HTTP/1.1 200 OK\r\n\r\nI am ALIVE!"), "HTTP 200, body has `ALIVE`");
        assert_eq!(reason(&c, b"HTTP/1.1 200 OK\r\n\r\nI am dead"), "body lacks `ALIVE`");
        // Content-Length ends the body before the server closes; bytes after it do not count.
        let (v, early) = read(&c, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnopeALIVE", 3);
        assert_eq!((v.reason.to_string().as_str(), early), ("body lacks `ALIVE`", true));
        // A failing status is reported as such, whatever the body.
        assert_eq!(reason(&c, b"HTTP/1.1 500 Oops\r\n\r\nALIVE"), "HTTP 500");
    }

    #[test]
    fn garbage_and_cut_responses_fail_with_a_reason() {
        let c = check(None);
        assert_eq!(reason(&c, b"SSH-2.0-OpenSSH_9.6\r\n"), "malformed status line");
        assert_eq!(reason(&c, b"HTTP/1.1 2x0 OK\r\n\r\n"), "malformed status line");
        assert_eq!(reason(&c, b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n"), "malformed response header");
        assert_eq!(reason(&c, b""), "connection closed before a response");
        assert_eq!(reason(&c, b"HTTP/1.1 200 OK\r\nServer: x"), "connection closed in the response head");
    }

    #[test]
    fn caps_bound_head_and_body() {
        let c = check(Some("needle"));
        let mut endless = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        endless.resize(5000, b'x');
        assert_eq!(read(&c, &endless, 512).0.reason.to_string(), "response over 1 KiB");
        let mut huge_head = b"HTTP/1.1 200 OK\r\n".to_vec();
        huge_head.resize(9000, b'a');
        let big = HttpCheck { max_response: 64 * 1024, ..c };
        assert_eq!(read(&big, &huge_head, 700).0.reason.to_string(), "response head over 8 KiB");
        // The needle found within the cap passes even if more follows.
        let mut found = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        found.extend_from_slice(b"..needle..");
        found.resize(5000, b'x');
        assert!(read(&check(Some("needle")), &found, 4096).0.passed);
    }
}
