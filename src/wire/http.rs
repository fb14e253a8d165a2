//! HTTP/1.x request heads (RFC 9112) and cookies (RFC 6265), as cookie switching reads them.
//!
//! Everything here runs on the data path over bytes a client or server sent: no function
//! panics, allocates or copies, whatever the bytes are, and every result borrows the input.
//! Request heads are parsed with `httparse` into a header array the caller owns; the end of a
//! head, cookie values, the `;jsessionid=` path parameter and the response side (where to
//! insert a `Set-Cookie`, which session a server's `Set-Cookie` names) are plain byte scans.
//!
//! Cookie values are compared as bytes: a value wrapped in DQUOTEs is unwrapped on both sides
//! ([`RequestHead::cookie`] and [`set_cookie_value`]), so what a server set and what a client
//! sends back compare equal whether or not the server quoted it.

use httparse::Status;

/// The header array [`RequestHead::parse`] fills is `[EMPTY_HEADER; MAX_HEADERS]`: re-exported
/// so callers need no `httparse` of their own, of another version.
pub use httparse::{Header, EMPTY_HEADER};

/// The most header lines a request head may have.
pub const MAX_HEADERS: usize = 64;
/// The longest request line or header line, in bytes, line ending and optional whitespace not
/// counted. nginx's default (`large_client_header_buffers`) is the same 8 KiB.
pub const MAX_LINE_LEN: usize = 8 * 1024;
/// The longest request head, in bytes: what a switch holds for one client before it gives up.
pub const MAX_HEAD_LEN: usize = 16 * 1024;

/// Where the request head ends in `bytes`: the offset just past the blank line that closes
/// it, or `None` if that has not arrived yet.
///
/// Lines may end in CRLF or, as `httparse` accepts, a bare LF; empty lines before the request
/// line are skipped as `httparse` skips them (RFC 9112 section 2.2). The result is the length
/// [`RequestHead::parse`] reports for a well-formed head. Whether the head is well formed is
/// not checked here: that is `parse`'s job.
pub fn head_end(bytes: &[u8]) -> Option<usize> {
    let mut at = skip_empty_lines(bytes);
    loop {
        let lf = at + find_lf(bytes.get(at..)?)?;
        match bytes.get(lf + 1..)? {
            [b'\n', ..] => return Some(lf + 2),
            [b'\r', b'\n', ..] => return Some(lf + 3),
            // The blank line may still be on its way.
            [] | [b'\r'] => return None,
            _ => at = lf + 1,
        }
    }
}

/// The offset of the first byte after any empty lines (`\r\n` or `\n`) at the start.
fn skip_empty_lines(bytes: &[u8]) -> usize {
    let mut at = 0;
    loop {
        match bytes.get(at..) {
            Some([b'\n', ..]) => at += 1,
            Some([b'\r', b'\n', ..]) => at += 2,
            _ => return at,
        }
    }
}

/// The index of the first `\n` in `hay`, eight bytes at a time.
fn find_lf(hay: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const LFS: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let mut chunks = hay.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        // Always 8 bytes; the fallback only spares a panic path.
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])) ^ LFS;
        // A byte is flagged if it was zero (was '\n'); flags above the first zero can be
        // false, the lowest one never is.
        let zeros = word.wrapping_sub(ONES) & !word & HIGHS;
        if zeros != 0 {
            return Some(at + (zeros.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks.remainder().iter().position(|&b| b == b'\n').map(|i| at + i)
}

/// Why a request head could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum HeadError {
    /// Not the start of an HTTP/1.x request head: TLS, binary, garbage, or a request line or
    /// header line `httparse` rejects.
    #[error("not an HTTP/1.x request head")]
    NotHttp,
    /// More than [`MAX_HEADERS`] headers, a line over [`MAX_LINE_LEN`] or a head over
    /// [`MAX_HEAD_LEN`].
    #[error("HTTP request head too large")]
    TooLarge,
    /// So far a valid start of a head, whose end has not arrived yet.
    #[error("HTTP request head incomplete")]
    Incomplete,
}

/// A complete request head: borrowed views of its request line and headers.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// The method token (`GET`, `POST`, ...).
    pub method: &'a [u8],
    /// The request target as sent: origin form (`/a/b;jsessionid=X?q`), absolute form, `*`.
    pub path: &'a [u8],
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// The head's length with its blank line: where a body or the next pipelined request
    /// starts.
    pub len: usize,
    headers: &'a [Header<'a>],
}

impl<'a> RequestHead<'a> {
    /// Parses the request head at the start of `head`, into `headers`.
    ///
    /// `head` may be more than the head (a body, a pipelined request after it: see
    /// [`len`](Self::len)) or less: a valid but unfinished start is [`HeadError::Incomplete`],
    /// unless it is already [`MAX_HEAD_LEN`] long. Bytes that cannot start a request head are
    /// [`HeadError::NotHttp`] as soon as they are seen, so a switch need not wait for a blank
    /// line that a TLS client will never send.
    pub fn parse(head: &'a [u8], headers: &'a mut [Header<'a>; MAX_HEADERS]) -> Result<RequestHead<'a>, HeadError> {
        let mut request = httparse::Request::new(headers);
        let len = match request.parse(head) {
            Ok(Status::Complete(len)) => len,
            Ok(Status::Partial) if head.len() >= MAX_HEAD_LEN => return Err(HeadError::TooLarge),
            Ok(Status::Partial) => return Err(HeadError::Incomplete),
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
            Err(_) => return Err(HeadError::NotHttp),
        };
        let (Some(method), Some(path), Some(version)) = (request.method, request.path, request.version) else {
            return Err(HeadError::NotHttp);
        };
        let headers: &'a [Header<'a>] = request.headers;
        // method SP target SP "HTTP/1.x"
        let request_line = method.len() + 1 + path.len() + 9;
        if len > MAX_HEAD_LEN
            || request_line > MAX_LINE_LEN
            || headers.iter().any(|h| h.name.len() + 1 + h.value.len() > MAX_LINE_LEN)
        {
            return Err(HeadError::TooLarge);
        }
        Ok(RequestHead { method: method.as_bytes(), path: path.as_bytes(), version, len, headers })
    }

    /// Every header, in order.
    pub fn headers(&self) -> &'a [Header<'a>] {
        self.headers
    }

    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &[u8]) -> Option<&'a [u8]> {
        let headers: &'a [Header<'a>] = self.headers;
        headers.iter().find(|h| h.name.as_bytes().eq_ignore_ascii_case(name)).map(|h| h.value)
    }

    /// The value of cookie `name` from the `Cookie` headers (RFC 6265 section 5.4): the first
    /// non-empty one, in header order then pair order.
    ///
    /// Names match exactly and case-sensitively, so `JSESSIONID` never matches
    /// `JSESSIONIDSSO`; a value wrapped in DQUOTEs is unwrapped. An empty value (`ID=`, a
    /// cookie being cleared) says nothing about a session, so the search goes on past it.
    pub fn cookie(&self, name: &[u8]) -> Option<&'a [u8]> {
        let headers: &'a [Header<'a>] = self.headers;
        headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("cookie"))
            .flat_map(|h| cookie_pairs(h.value))
            .find(|&(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v)
    }

    /// The first non-empty `;jsessionid=` path parameter (Tomcat's URL rewriting), its name
    /// matched case-insensitively.
    ///
    /// Only the path is searched, not the query or fragment. The value ends at `;`, `/` (as
    /// Tomcat ends path parameters), `?`, `#` or the end of the target.
    pub fn path_session_id(&self) -> Option<&'a [u8]> {
        path_parameter(self.path, b";jsessionid=")
    }
}

/// The first non-empty value of the path parameter `param` (`;name=`, any case) in `target`.
fn path_parameter<'a>(target: &'a [u8], param: &[u8]) -> Option<&'a [u8]> {
    let path_end = target.iter().position(|&b| b == b'?' || b == b'#').unwrap_or(target.len());
    let mut rest = target.get(..path_end)?;
    while let Some(semi) = rest.iter().position(|&b| b == b';') {
        rest = rest.get(semi..)?;
        if rest.get(..param.len()).is_some_and(|p| p.eq_ignore_ascii_case(param)) {
            let value = rest.get(param.len()..)?;
            let end = value.iter().position(|&b| b == b';' || b == b'/').unwrap_or(value.len());
            if end > 0 {
                return value.get(..end);
            }
        }
        rest = rest.get(1..)?;
    }
    None
}

/// The `(name, value)` pairs of a `Cookie` header value: pairs separated by `;`, optional
/// whitespace around names and values trimmed, DQUOTEs around a value removed. A pair
/// without `=` or with an empty name is skipped; an empty value is yielded as it is.
pub fn cookie_pairs(value: &[u8]) -> CookiePairs<'_> {
    CookiePairs { parts: value.split(is_semicolon) }
}

fn is_semicolon(b: &u8) -> bool {
    *b == b';'
}

/// The iterator [`cookie_pairs`] returns.
#[derive(Debug, Clone)]
pub struct CookiePairs<'a> {
    parts: core::slice::Split<'a, u8, fn(&u8) -> bool>,
}

impl<'a> Iterator for CookiePairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        self.parts.by_ref().find_map(cookie_pair)
    }
}

/// One `name=value` pair, trimmed and unquoted; `None` without `=` or a name.
fn cookie_pair(pair: &[u8]) -> Option<(&[u8], &[u8])> {
    let eq = pair.iter().position(|&b| b == b'=')?;
    let name = trim_ows(pair.get(..eq)?);
    let value = unquote(trim_ows(pair.get(eq + 1..)?));
    (!name.is_empty()).then_some((name, value))
}

/// `bytes` without leading and trailing spaces and tabs.
fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !is_ows(b)).map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

/// `value` without one pair of surrounding DQUOTEs, if it has them.
fn unquote(value: &[u8]) -> &[u8] {
    match value {
        [b'"', inner @ .., b'"'] => inner,
        _ => value,
    }
}

/// The jvmRoute suffix of a Tomcat session id: what follows the last `.`, if non-empty
/// (`9A1F.node2` -> `node2`).
pub fn jvm_route(session_id: &[u8]) -> Option<&[u8]> {
    let dot = session_id.iter().rposition(|&b| b == b'.')?;
    session_id.get(dot + 1..).filter(|route| !route.is_empty())
}

/// If `seg` starts with an HTTP/1.0 or HTTP/1.1 status line and holds all of it, the offset
/// just past its line ending: where a switch inserts a `Set-Cookie` header line.
///
/// The line is `HTTP/1.x`, a space, three digits, then a space and a reason phrase or the
/// line ending; CRLF or a bare LF, within [`MAX_LINE_LEN`] bytes. Anything else is `None`, so
/// a switch never splices a header into bytes it does not understand.
pub fn status_line_end(seg: &[u8]) -> Option<usize> {
    status_line(seg).map(|(_, end)| end)
}

/// The status code of the status line [`status_line_end`] accepts: a switch inserts no
/// cookie into an interim (1xx) response.
pub fn status_code(seg: &[u8]) -> Option<u16> {
    status_line(seg).map(|(code, _)| code)
}

fn status_line(seg: &[u8]) -> Option<(u16, usize)> {
    const VERSION_LEN: usize = b"HTTP/1.1 ".len();
    let rest = seg.strip_prefix(b"HTTP/1.1 ").or_else(|| seg.strip_prefix(b"HTTP/1.0 "))?;
    let &[a, b, c, ref after @ ..] = rest else {
        return None;
    };
    if !(a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit()) {
        return None;
    }
    let code = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
    let window = after.get(..after.len().min(MAX_LINE_LEN))?;
    let lf = find_lf(window)?;
    let tail = strip_cr(window.get(..lf)?);
    // reason-phrase = *( HTAB / SP / VCHAR / obs-text ), after one SP.
    let reason_ok = match tail {
        [] => true,
        [b' ', reason @ ..] => reason.iter().all(|&b| b == b'\t' || (b >= b' ' && b != 0x7f)),
        _ => false,
    };
    reason_ok.then_some((code, VERSION_LEN + 3 + lf + 1))
}

/// `line` without one trailing `\r`.
fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The value of the first `Set-Cookie: NAME=VALUE` header for cookie `name` in a response
/// head, or in the start of one (a server's first segment).
///
/// `bytes` must start with a status line [`status_line_end`] accepts. Only complete header
/// lines are read: a last line without its `\n` is ignored, and the scan stops at the blank
/// line that ends the head. Header names match in any case, cookie names exactly; the value
/// ends at `;` (attributes follow) or the line end, whitespace trimmed, DQUOTEs removed. An
/// empty value (a cookie being deleted) is passed over, as [`RequestHead::cookie`] does.
pub fn set_cookie_value<'a>(bytes: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut at = status_line_end(bytes)?;
    loop {
        let rest = bytes.get(at..)?;
        let lf = find_lf(rest)?;
        let line = strip_cr(rest.get(..lf)?);
        if line.is_empty() {
            return None;
        }
        if let Some(value) = set_cookie_line(line, name) {
            return Some(value);
        }
        at += lf + 1;
    }
}

/// The value of cookie `name` if `line` is a `Set-Cookie` header line setting it.
fn set_cookie_line<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let colon = line.iter().position(|&b| b == b':')?;
    if !line.get(..colon)?.eq_ignore_ascii_case(b"set-cookie") {
        return None;
    }
    let value = line.get(colon + 1..)?;
    let pair = value.split(is_semicolon).next()?;
    let (n, v) = cookie_pair(pair)?;
    (n == name && !v.is_empty()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Heads copied byte for byte from the captures in the shared corpus (the TCP payload of the
    // frames named, as `tshark -r FILE -Y frame.number==N -T fields -e tcp.payload` prints it).

    /// suricata-jsessionid-sso.pcap (OISF/suricata-verify tests/bug-130) frame 4: a Cookie
    /// header holding JSESSIONID and JSESSIONIDSSO, one a prefix of the other.
    static JSESSIONID_SSO_REQUEST: &[u8] = b"GET /publication/pub.home/home.html HTTP/1.1\r\n\
    Host: www.abcdefghij.com\r\n\
    User-Agent: Mozilla/5.0 (X11; U; Linux i686; fr; rv:1.9.0.6) Gecko/2009011912 Firefox/3.0.6\r\n\
    Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
    Accept-Language: fr,fr-fr;q=0.8,en-us;q=0.5,en;q=0.3\r\n\
    Accept-Encoding: gzip,deflate\r\n\
    Accept-Charset: ISO-8859-1,utf-8;q=0.7,*;q=0.7\r\n\
    Keep-Alive: 300\r\n\
    Connection: keep-alive\r\n\
    Referer: http://www.abcdefghij.com/abdeltat/login\r\n\
    Cookie: JSESSIONID=8A029CD6F4754906F7B91EA224D10E13; JSESSIONIDSSO=6CF31DE7AD7A737B8B062B58F66899EF\r\n\
    \r\n";

    /// http-dvwa-login.pcapng (chrissanders/packets) frame 8: a PHP session cookie.
    static DVWA_REQUEST: &[u8] = b"GET /dvwa/dvwa/css/login.css HTTP/1.1\r\n\
    Host: 10.2.2.104\r\n\
    Connection: keep-alive\r\n\
    User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_12_4) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/56.0.2924.87 Safari/537.36\r\n\
    Accept: text/css,*/*;q=0.1\r\n\
    Referer: http://10.2.2.104/dvwa/login.php\r\n\
    Accept-Encoding: gzip, deflate, sdch\r\n\
    Accept-Language: en-US,en;q=0.8\r\n\
    Cookie: security=impossible; PHPSESSID=8tokslnu6t07ru35q4vbsc8tk6\r\n\
    \r\n";

    /// http-dvwa-login.pcapng frame 6, up to the blank line (a gzip body follows): three
    /// Set-Cookie headers, two of them for the same PHPSESSID.
    static DVWA_RESPONSE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\n\
    Date: Wed, 05 Apr 2017 20:10:09 GMT\r\n\
    Server: Apache/2.4.7 (Ubuntu)\r\n\
    X-Powered-By: PHP/5.5.9-1ubuntu4.21\r\n\
    Set-Cookie: PHPSESSID=8tokslnu6t07ru35q4vbsc8tk6; path=/\r\n\
    Expires: Tue, 23 Jun 2009 12:00:00 GMT\r\n\
    Cache-Control: no-cache, must-revalidate\r\n\
    Pragma: no-cache\r\n\
    Set-Cookie: PHPSESSID=8tokslnu6t07ru35q4vbsc8tk6; path=/; httponly\r\n\
    Set-Cookie: security=impossible; httponly\r\n\
    Vary: Accept-Encoding\r\n\
    Content-Encoding: gzip\r\n\
    Content-Length: 698\r\n\
    Keep-Alive: timeout=5, max=100\r\n\
    Connection: Keep-Alive\r\n\
    Content-Type: text/html;charset=utf-8\r\n\
    \r\n";

    /// tcpreplay-test.pcap (appneta/tcpreplay test/test.pcap) frame 19: one Google Analytics
    /// cookie.
    static SLASHDOT_REQUEST: &[u8] = b"GET / HTTP/1.1\r\n\
    Host: slashdot.org\r\n\
    User-Agent: Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10.6; en-US; rv:1.9.2.6) Gecko/20100625 Firefox/3.6.6\r\n\
    Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
    Accept-Language: en-us,en;q=0.5\r\n\
    Accept-Encoding: gzip,deflate\r\n\
    Accept-Charset: ISO-8859-1,utf-8;q=0.7,*;q=0.7\r\n\
    Keep-Alive: 115\r\n\
    Connection: keep-alive\r\n\
    Cookie: __utma=9273847.1868605176.1141323758.1151039884.1167587024.4\r\n\
    Cache-Control: max-age=0\r\n\
    \r\n";

    /// tcpreplay-test.pcap frame 34, the whole segment: a head with a Cloudflare Set-Cookie,
    /// and a body.
    static ICANHAZIP_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\n\
    Date: Tue, 29 Jun 2021 18:59:42 GMT\r\n\
    Content-Type: text/plain\r\n\
    Content-Length: 38\r\n\
    Connection: keep-alive\r\n\
    Access-Control-Allow-Origin: *\r\n\
    Access-Control-Allow-Methods: GET\r\n\
    cf-request-id: 0afabd4bdc00000954c8ad2000000001\r\n\
    Set-Cookie: __cf_bm=1d4c954cdb94a067b65202e6def4ce77fc3607cd-1624993182-1800-AYzoCWbGYkvY2UuoXsAbFEhVwPNSpK1WI1r6lym5IFfL+kAGVZYQX25QlBwIvNQ+Q97K/irAI/2djSpJJ/cIxfc=; path=/; expires=Tue, 29-Jun-21 19:29:42 GMT; domain=.icanhazip.com; HttpOnly; SameSite=None\r\n\
    Vary: Accept-Encoding\r\n\
    Server: cloudflare\r\n\
    CF-RAY: 667164bfca680954-SEA\r\n\
    alt-svc: h3-27=\":443\"; ma=86400, h3-28=\":443\"; ma=86400, h3-29=\":443\"; ma=86400, h3=\":443\"; ma=86400\r\n\
    \r\n\
    2001:4958:15a0:24:c1b3:b766:7fff:d0b3\n";

    /// suricata-ooo-retrans-cookie.pcap (OISF/suricata-verify tests/tcp-rst-unacked-stream-10)
    /// frame 5: a cookie with a numeric name and a base64 value ending in '='.
    static OOO_REQUEST: &[u8] = b"GET / HTTP/1.1\r\n\
    Cookie: 48736=DfFOfQvCt/qYhIG3Uc81oULGUQy0r25Wtiu+JG453r+WJxniYnN6B06hlhMFUAQijSDnLxyq0vrqKR4HfQvbqt6P+gJ5LY+lgmBXmGqeV4yTJ/nqYcN693VbCzrXouQKqMEVn6cjWT9Gaag562KX9Ob5lNVPYlo7NtMbd7OJCxeyKLfWZqZgcVzFwgKtde75ufob9rxw9/N+m8InV4MUtZ45vwqJr/CD3ysWmCBaN0fBnbGow+vryNpsMcOFjUbBwPbr6wHzVse8RiXDkiRfpmlQfSSF3X7ZRg0sEOBbzg/ypnF6MTk8T2AoylgdNn6UoIm5+Cw1c2y/WMGKvYEqDYSHrCluoWDKV4owxTfBNikScHtCV2DCV3W8avLYysKzejtzi4CuLPMCOVOamOEURsNS2JuqDfxdnd8C+CN39vH1o+7GvkOaKPpmxW5X3J3ujlJRw6vUxPGEQVIlZPesDbf45k4=\r\n\
    User-Agent: Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.1; WOW64; Trident/7.0; SLCC2; .NET CLR 2.0.50727; .NET CLR 3.5.30729; .NET CLR 3.0.30729; Media Center PC 6.0; .NET4.0C; .NET4.0E)\r\n\
    Host: 174.56.47.59\r\n\
    Connection: Keep-Alive\r\n\
    Cache-Control: no-cache\r\n\
    \r\n";

    /// zeek-pipelined-requests.pcap (zeek/zeek testing/btest/Traces/http) frames 14 and 16:
    /// two requests one after the other on one connection (client bytes 772..2059), each with
    /// four cookies, one of them holding '=' and '|'.
    static PIPELINED: &[u8] = b"GET /images/template/screen/bullet_utility.png HTTP/1.1\r\n\
    Host: www.mozilla.org\r\n\
    User-Agent: Mozilla/5.0 (Windows; U; Windows NT 5.1; en-US; rv:1.9.1.5) Gecko/20091102 Firefox/3.5.5\r\n\
    Accept: image/png,image/*;q=0.8,*/*;q=0.5\r\n\
    Accept-Language: en-us,en;q=0.5\r\n\
    Accept-Encoding: gzip,deflate\r\n\
    Accept-Charset: ISO-8859-1,utf-8;q=0.7,*;q=0.7\r\n\
    Keep-Alive: 300\r\n\
    Connection: keep-alive\r\n\
    Referer: http://www.mozilla.org/style/screen.css\r\n\
    Cookie: __utma=150903082.601193709.1258578040.1258578040.1258578040.1; __utmb=150903082; __utmc=150903082; __utmz=150903082.1258578040.1.1.utmccn=(organic)|utmcsr=google|utmctr=thunderbird+calendar|utmcmd=organic\r\n\
    \r\n\
    GET /images/template/screen/key-point-top.png HTTP/1.1\r\n\
    Host: www.mozilla.org\r\n\
    User-Agent: Mozilla/5.0 (Windows; U; Windows NT 5.1; en-US; rv:1.9.1.5) Gecko/20091102 Firefox/3.5.5\r\n\
    Accept: image/png,image/*;q=0.8,*/*;q=0.5\r\n\
    Accept-Language: en-us,en;q=0.5\r\n\
    Accept-Encoding: gzip,deflate\r\n\
    Accept-Charset: ISO-8859-1,utf-8;q=0.7,*;q=0.7\r\n\
    Keep-Alive: 300\r\n\
    Connection: keep-alive\r\n\
    Referer: http://www.mozilla.org/style/screen.css\r\n\
    Cookie: __utma=150903082.601193709.1258578040.1258578040.1258578040.1; __utmb=150903082; __utmc=150903082; __utmz=150903082.1258578040.1.1.utmccn=(organic)|utmcsr=google|utmctr=thunderbird+calendar|utmcmd=organic\r\n\
    \r\n";
    const PIPELINED_FIRST_LEN: usize = 644;

    /// zeek-http-methods.pcap (zeek/zeek testing/btest/Traces/http/methods.pcap) frame 46, up
    /// to the blank line: Google's PREF and NID cookies, values holding '=' and ':'.
    static GOOGLE_RESPONSE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\n\
    Date: Sat, 01 Dec 2012 02:29:13 GMT\r\n\
    Expires: -1\r\n\
    Cache-Control: private, max-age=0\r\n\
    Content-Type: text/html; charset=ISO-8859-1\r\n\
    Set-Cookie: PREF=ID=39d553c0453b55af:FF=0:TM=1354328953:LM=1354328953:S=nvK9h5rZVKY7AvMa; expires=Mon, 01-Dec-2014 02:29:13 GMT; path=/; domain=.google.com\r\n\
    Set-Cookie: NID=66=LrODxwSaYoXHNtlBWQvIoz4cDCxDnAU0oEyLOLfopE63gD2HaVaFCdTdgYYIKJ9XYTmiWq0SQmD1lXmupV0jYDehr_jOhsaa09N-vaPMG7T9moVenNeDFCGGcDKAtmmD; expires=Sun, 02-Jun-2013 02:29:13 GMT; path=/; domain=.google.com; HttpOnly\r\n\
    P3P: CP=\"This is not a P3P policy! See http://www.google.com/support/accounts/bin/answer.py?hl=en&answer=151657 for more info.\"\r\n\
    Server: gws\r\n\
    X-XSS-Protection: 1; mode=block\r\n\
    X-Frame-Options: SAMEORIGIN\r\n\
    Transfer-Encoding: chunked\r\n\
    \r\n";

    // zeek-http-methods.pcap frames 4, 44, 108, 269, 192 and 34: requests with bare LF line
    // endings, two good and four malformed on purpose.
    static LF_OPTIONS: &[u8] = b"OPTIONS * HTTP/1.1\n\
    Host: www.google.com\n\
    \n";
    static LF_GET: &[u8] = b"GET / HTTP/1.1\n\
    Host: www.google.com\n\
    \n";
    static LF_BAD_VERSION: &[u8] = b"GET / HTTP/1.\n\
    Host: www.google.com\n\
    \n";
    static LF_BAD_METHOD: &[u8] = b"\xc3\x83\xc3\x82\xc3\x83 / HTTP/1.\n\
    Host: www.google.com\n\
    \n";
    static LF_NO_SPACES: &[u8] = b"GET/HTTP/1.1\n\
    Host: www.google.com\n\
    \n";
    static LF_NO_TARGET: &[u8] = b"OPTIONS\n\
    Host: www.google.com\n\
    \n";

    /// tcpreplay-test.pcap frame 1: a TLS alert record sent to port 443.
    static TLS_ALERT: [u8; 27] = [
        0x15, 0x03, 0x01, 0x00, 0x16, 0x43, 0x1a, 0x88, 0x1e, 0xfa, 0x7a, 0xbc, 0x22, 0x6e, 0xe6, 0x32, 0x7a, 0x53,
        0x47, 0x00, 0xa7, 0x5d, 0xcc, 0x64, 0xea, 0x8e, 0x92,
    ];

    /// The first bytes of every TLS ClientHello (RFC 8446 section 5.1 record header, handshake
    /// type 1, legacy version 3.3): what a TLS client sends to an HTTP port. No capture in the
    /// corpus holds one.
    static TLS_CLIENT_HELLO_PREFIX: [u8; 11] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];

    /// http-dvwa-login.pcapng frame 6: the first bytes of the gzip body after the head.
    static GZIP_BODY: [u8; 32] = [
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xa5, 0x54, 0x4d, 0x6f, 0xdb, 0x30, 0x0c, 0x3d,
        0xaf, 0x40, 0xff, 0x03, 0xab, 0x4b, 0xb6, 0x02, 0xb6, 0xe2, 0xa5, 0xe8, 0xd7, 0x6c,
    ];

    /// Every real request head above, with its length.
    const REQUESTS: [(&[u8], usize); 6] = [
        (JSESSIONID_SSO_REQUEST, 566),
        (DVWA_REQUEST, 426),
        (SLASHDOT_REQUEST, 469),
        (OOO_REQUEST, 771),
        (LF_OPTIONS, 41),
        (LF_GET, 37),
    ];

    fn parse_error(bytes: &[u8]) -> Option<HeadError> {
        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        RequestHead::parse(bytes, &mut headers).err()
    }

    /// `bytes` with `line` (CRLF added) inserted before the line starting with `before`.
    fn insert_line(bytes: &[u8], before: &[u8], line: &[u8]) -> Vec<u8> {
        let at = bytes.windows(before.len()).position(|w| w == before).expect("marker in head");
        [&bytes[..at], line, b"\r\n", &bytes[at..]].concat()
    }

    #[test]
    fn jsessionid_beside_jsessionidsso() {
        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        let head = RequestHead::parse(JSESSIONID_SSO_REQUEST, &mut headers).unwrap();
        assert_eq!(head.method, b"GET");
        assert_eq!(head.path, b"/publication/pub.home/home.html");
        assert_eq!(head.version, 1);
        assert_eq!(head.len, 566);
        assert_eq!(head.headers().len(), 10);
        assert_eq!(head.header(b"HOST"), Some(&b"www.abcdefghij.com"[..]));
        assert_eq!(head.header(b"X-Forwarded-For"), None);
        assert_eq!(head.cookie(b"JSESSIONID"), Some(&b"8A029CD6F4754906F7B91EA224D10E13"[..]));
        assert_eq!(head.cookie(b"JSESSIONIDSSO"), Some(&b"6CF31DE7AD7A737B8B062B58F66899EF"[..]));
        for absent in [&b"JSESSION"[..], b"JSESSIONIDS", b"jsessionid", b"SESSIONID", b""] {
            assert_eq!(head.cookie(absent), None, "{:?}", String::from_utf8_lossy(absent));
        }
        // A session id without a jvmRoute: a Tomcat with no jvmRoute configured.
        assert_eq!(head.cookie(b"JSESSIONID").and_then(jvm_route), None);
        assert_eq!(head.path_session_id(), None);
    }

    #[test]
    fn php_session_cookie() {
        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        let head = RequestHead::parse(DVWA_REQUEST, &mut headers).unwrap();
        assert_eq!(head.path, b"/dvwa/dvwa/css/login.css");
        assert_eq!(head.len, 426);
        assert_eq!(head.cookie(b"PHPSESSID"), Some(&b"8tokslnu6t07ru35q4vbsc8tk6"[..]));
        assert_eq!(head.cookie(b"security"), Some(&b"impossible"[..]));
        let pairs: Vec<_> = cookie_pairs(head.header(b"cookie").unwrap()).collect();
        assert_eq!(pairs, [(&b"security"[..], &b"impossible"[..]), (b"PHPSESSID", b"8tokslnu6t07ru35q4vbsc8tk6")]);
    }

    #[test]
    fn cookie_values_holding_separators() {
        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        let head = RequestHead::parse(PIPELINED, &mut headers).unwrap();
        assert_eq!(head.cookie(b"__utmb"), Some(&b"150903082"[..]));
        let utmz =
            b"150903082.1258578040.1.1.utmccn=(organic)|utmcsr=google|utmctr=thunderbird+calendar|utmcmd=organic";
        assert_eq!(head.cookie(b"__utmz"), Some(&utmz[..]));
        assert_eq!(head.cookie(b"utmccn"), None);
        assert_eq!(cookie_pairs(head.header(b"Cookie").unwrap()).count(), 4);

        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        let head = RequestHead::parse(OOO_REQUEST, &mut headers).unwrap();
        let value = head.cookie(b"48736").unwrap();
        assert_eq!(value.len(), 476);
        assert!(value.starts_with(b"DfFOfQvCt/qYhIG3") && value.ends_with(b"Dbf45k4="));

        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        let head = RequestHead::parse(SLASHDOT_REQUEST, &mut headers).unwrap();
        let value = head.cookie(b"__utma").unwrap();
        assert_eq!(value, b"9273847.1868605176.1141323758.1151039884.1167587024.4");
        // A value with dots is not a session id with a route, but the parser cannot know.
        assert_eq!(jvm_route(value), Some(&b"4"[..]));
    }

    #[test]
    fn pipelined_requests_end_at_the_first_head() {
        assert_eq!(head_end(PIPELINED), Some(PIPELINED_FIRST_LEN));
        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        let first = RequestHead::parse(PIPELINED, &mut headers).unwrap();
        assert_eq!(first.len, PIPELINED_FIRST_LEN);
        assert_eq!(first.path, b"/images/template/screen/bullet_utility.png");

        let rest = &PIPELINED[PIPELINED_FIRST_LEN..];
        assert_eq!(head_end(rest), Some(rest.len()));
        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        let second = RequestHead::parse(rest, &mut headers).unwrap();
        assert_eq!(second.len, 643);
        assert_eq!(second.path, b"/images/template/screen/key-point-top.png");
        assert_eq!(second.cookie(b"__utmc"), Some(&b"150903082"[..]));
    }

    #[test]
    fn heads_split_at_every_offset() {
        for (bytes, len) in REQUESTS.into_iter().chain([(PIPELINED, PIPELINED_FIRST_LEN)]) {
            for cut in 0..len {
                assert_eq!(head_end(&bytes[..cut]), None, "cut at {cut} of {len}");
                assert_eq!(parse_error(&bytes[..cut]), Some(HeadError::Incomplete), "cut at {cut} of {len}");
            }
            assert_eq!(head_end(&bytes[..len]), Some(len));
            assert_eq!(parse_error(&bytes[..len]), None);
        }
    }

    #[test]
    fn bare_lf_heads() {
        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        let head = RequestHead::parse(LF_OPTIONS, &mut headers).unwrap();
        assert_eq!((head.method, head.path, head.len), (&b"OPTIONS"[..], &b"*"[..], 41));
        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        let head = RequestHead::parse(LF_GET, &mut headers).unwrap();
        assert_eq!((head.method, head.path, head.len), (&b"GET"[..], &b"/"[..], 37));
        assert_eq!(head.header(b"host"), Some(&b"www.google.com"[..]));
        assert_eq!(head.cookie(b"JSESSIONID"), None);

        // Mixed endings and the empty lines a client may send before a request.
        for (bytes, end) in [
            (&b"GET / HTTP/1.1\r\nHost: h\n\r\nbody"[..], 26),
            (b"GET / HTTP/1.1\nHost: h\r\n\nbody", 25),
            (b"\r\n\nGET / HTTP/1.0\r\n\r\n", 21),
            (b"\r\n\r\n", 0),
            (b"GET / HTTP/1.1\r\n\rX\r\n\r\n", 22),
        ] {
            let found = head_end(bytes);
            if end == 0 {
                assert_eq!(found, None, "{bytes:?}");
            } else {
                assert_eq!(found, Some(end), "{bytes:?}");
            }
        }
        assert_eq!(parse_error(b"\r\n\nGET / HTTP/1.0\r\n\r\n"), None);
        assert_eq!(parse_error(b"GET / HTTP/1.1\r\n\rX\r\n\r\n"), Some(HeadError::NotHttp));
    }

    #[test]
    fn not_http() {
        for bytes in [
            LF_BAD_VERSION,
            LF_BAD_METHOD,
            LF_NO_SPACES,
            LF_NO_TARGET,
            &TLS_ALERT[..],
            &TLS_CLIENT_HELLO_PREFIX[..],
            &TLS_CLIENT_HELLO_PREFIX[..1],
            &GZIP_BODY[..],
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            DVWA_RESPONSE_HEAD,
            b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
            b"GET /\x00 HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(parse_error(bytes), Some(HeadError::NotHttp), "{:?}", String::from_utf8_lossy(bytes));
        }
        // The malformed zeek requests are still framed: a switch sees where they end.
        assert_eq!(head_end(LF_BAD_VERSION), Some(LF_BAD_VERSION.len()));
        assert_eq!(head_end(&TLS_ALERT), None);
    }

    #[test]
    fn too_large() {
        fn head_with(headers: usize) -> Vec<u8> {
            let mut head = b"GET / HTTP/1.1\r\n".to_vec();
            for i in 0..headers {
                head.extend_from_slice(format!("X-Header-{i}: {i}\r\n").as_bytes());
            }
            head.extend_from_slice(b"\r\n");
            head
        }
        assert_eq!(parse_error(&head_with(MAX_HEADERS)), None);
        assert_eq!(parse_error(&head_with(MAX_HEADERS + 1)), Some(HeadError::TooLarge));
        let hundred = head_with(100);
        assert_eq!(parse_error(&hundred), Some(HeadError::TooLarge));
        // Too many headers is known before the head ends.
        assert_eq!(parse_error(&hundred[..hundred.len() * 9 / 10]), Some(HeadError::TooLarge));

        let long_value = insert_line(DVWA_REQUEST, b"Cookie:", &[&b"X-Long: "[..], &[b'a'; MAX_LINE_LEN]].concat());
        assert_eq!(parse_error(&long_value), Some(HeadError::TooLarge));
        let just_fits = insert_line(DVWA_REQUEST, b"Cookie:", &[&b"X-Long: "[..], &[b'a'; MAX_LINE_LEN - 7]].concat());
        assert_eq!(parse_error(&just_fits), None);
        let long_target = [&b"GET /"[..], &[b'a'; MAX_LINE_LEN], b" HTTP/1.1\r\n\r\n"].concat();
        assert_eq!(parse_error(&long_target), Some(HeadError::TooLarge));

        // Three lines under the line limit, together over the head limit.
        let line = [&b"X-Big: "[..], &[b'b'; 6000]].concat();
        let big = [&b"GET / HTTP/1.1\r\n"[..], &line, b"\r\n", &line, b"\r\n", &line, b"\r\n\r\n"].concat();
        assert_eq!(parse_error(&big), Some(HeadError::TooLarge));
        // Still no end after MAX_HEAD_LEN bytes: waiting longer is pointless.
        assert_eq!(parse_error(&big[..MAX_HEAD_LEN - 1]), Some(HeadError::Incomplete));
        assert_eq!(parse_error(&big[..MAX_HEAD_LEN]), Some(HeadError::TooLarge));
    }

    #[test]
    fn several_cookie_headers() {
        // Not in any capture: clients behind some proxies send more than one Cookie header.
        let bytes = insert_line(DVWA_REQUEST, b"Cookie:", b"Cookie: JSESSIONID=; ServerID=rs2");
        let bytes = insert_line(&bytes, b"Cookie: security", b"Cookie: JSESSIONID=\"9A1F.node2\"; PHPSESSID=first");
        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        let head = RequestHead::parse(&bytes, &mut headers).unwrap();
        // The empty JSESSIONID in the first header says nothing; the second header's does.
        assert_eq!(head.cookie(b"JSESSIONID"), Some(&b"9A1F.node2"[..]));
        assert_eq!(head.cookie(b"JSESSIONID").and_then(jvm_route), Some(&b"node2"[..]));
        assert_eq!(head.cookie(b"ServerID"), Some(&b"rs2"[..]));
        assert_eq!(head.cookie(b"PHPSESSID"), Some(&b"first"[..]));
        assert_eq!(head.cookie(b"security"), Some(&b"impossible"[..]));
    }

    #[test]
    fn cookie_pair_syntax() {
        let pairs: Vec<_> = cookie_pairs(b"a=\"x y\";b=\"\"; c= ;=d; e;\tf = g ;h=\"open;i=\";;j==k;l=m=n").collect();
        let expected: [(&[u8], &[u8]); 9] = [
            (b"a", b"x y"),
            (b"b", b""),
            (b"c", b""),
            (b"f", b"g"),
            (b"h", b"\"open"),
            (b"i", b"\""),
            (b"j", b"=k"),
            (b"l", b"m=n"),
            // The empty trailing part yields nothing.
            (b"", b""),
        ];
        assert_eq!(pairs, expected[..8]);
        assert_eq!(cookie_pairs(b"").count(), 0);
        assert_eq!(cookie_pairs(b";;; ;").count(), 0);

        let bytes = insert_line(DVWA_REQUEST, b"Cookie:", b"Cookie: a=\"\"; ServerID=\"rs2\"; a=1");
        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        let head = RequestHead::parse(&bytes, &mut headers).unwrap();
        assert_eq!(head.cookie(b"ServerID"), Some(&b"rs2"[..]));
        assert_eq!(head.cookie(b"a"), Some(&b"1"[..]));
    }

    #[test]
    fn path_session_ids() {
        for (target, expected) in [
            (&b"/app/cart.jsp;jsessionid=9A1F.node2"[..], Some(&b"9A1F.node2"[..])),
            (b"/app/cart.jsp;jsessionid=9A1F.node2?item=7&q=;jsessionid=X", Some(b"9A1F.node2")),
            (b"/app/cart.jsp;JSESSIONID=9A1F.node2#top", Some(b"9A1F.node2")),
            (b"/app;foo=1;jSessionId=B.n1;bar=2", Some(b"B.n1")),
            (b"/app;jsessionid=C.n3/more", Some(b"C.n3")),
            (b"/app;jsessionid=;jsessionid=D", Some(b"D")),
            (b"http://shop.example/app;jsessionid=E.n4?x", Some(b"E.n4")),
            (b"/app?q=1;jsessionid=F", None),
            (b"/app#;jsessionid=F", None),
            (b"/app;jsessionid=", None),
            (b"/app;jsessionid=?x", None),
            (b"/app;jsessionid", None),
            (b"/app;jsessionidx=G", None),
            (b"/app/jsessionid=G", None),
            (b"*", None),
        ] {
            let request = [&b"GET "[..], target, b" HTTP/1.1\r\nHost: shop.example\r\n\r\n"].concat();
            let mut headers = [EMPTY_HEADER; MAX_HEADERS];
            let head = RequestHead::parse(&request, &mut headers).unwrap();
            assert_eq!(head.path_session_id(), expected, "{:?}", String::from_utf8_lossy(target));
        }
    }

    #[test]
    fn jvm_routes() {
        for (id, route) in [
            (&b"9A1F.node2"[..], Some(&b"node2"[..])),
            (b"a.b.c", Some(b"c")),
            (b".x", Some(b"x")),
            (b"abc.", None),
            (b"abc", None),
            (b".", None),
            (b"", None),
        ] {
            assert_eq!(jvm_route(id), route, "{:?}", String::from_utf8_lossy(id));
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_line_end(DVWA_RESPONSE_HEAD), Some(17));
        assert_eq!(status_code(DVWA_RESPONSE_HEAD), Some(200));
        assert_eq!(status_line_end(ICANHAZIP_RESPONSE), Some(17));
        for (seg, end, code) in [
            (&b"HTTP/1.0 302 Found\r\nLocation: /"[..], 20, 302),
            (b"HTTP/1.1 200\r\n", 14, 200),
            (b"HTTP/1.1 200 OK\n", 16, 200),
            (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 23, 100),
            (b"HTTP/1.1 404 Not\tFound \xe9\r\n", 26, 404),
        ] {
            assert_eq!(status_line_end(seg), Some(end), "{:?}", String::from_utf8_lossy(seg));
            assert_eq!(status_code(seg), Some(code));
        }
        let long_reason = [&b"HTTP/1.1 200 "[..], &[b'x'; MAX_LINE_LEN], b"\r\n"].concat();
        for seg in [
            &b"HTTP/1.1 200 OK"[..],
            b"HTTP/1.1 200 OK\r",
            b"HTTP/1.1 20",
            b"HTTP/2 200\r\n",
            b"HTTP/1.2 200 OK\r\n",
            b"http/1.1 200 OK\r\n",
            b"HTTP/1.1 20x OK\r\n",
            b"HTTP/1.1 2000 OK\r\n",
            b"HTTP/1.1 200OK\r\n",
            b"HTTP/1.1 200 O\rK\r\n",
            b"HTTP/1.1 200 O\x00K\r\n",
            b" HTTP/1.1 200 OK\r\n",
            &long_reason,
            DVWA_REQUEST,
            &GZIP_BODY,
        ] {
            assert_eq!(status_line_end(seg), None, "{:?}", String::from_utf8_lossy(seg));
            assert_eq!(status_code(seg), None);
        }
    }

    #[test]
    fn set_cookie_in_real_responses() {
        let php = Some(&b"8tokslnu6t07ru35q4vbsc8tk6"[..]);
        assert_eq!(set_cookie_value(DVWA_RESPONSE_HEAD, b"PHPSESSID"), php);
        assert_eq!(set_cookie_value(DVWA_RESPONSE_HEAD, b"security"), Some(&b"impossible"[..]));
        for absent in [&b"phpsessid"[..], b"path", b"httponly", b"Set-Cookie", b""] {
            assert_eq!(set_cookie_value(DVWA_RESPONSE_HEAD, absent), None);
        }
        assert_eq!(
            set_cookie_value(ICANHAZIP_RESPONSE, b"__cf_bm"),
            Some(&b"1d4c954cdb94a067b65202e6def4ce77fc3607cd-1624993182-1800-AYzoCWbGYkvY2UuoXsAbFEhVwPNSpK1WI1r6lym5IFfL+kAGVZYQX25QlBwIvNQ+Q97K/irAI/2djSpJJ/cIxfc="[..])
        );
        assert_eq!(
            set_cookie_value(GOOGLE_RESPONSE_HEAD, b"PREF"),
            Some(&b"ID=39d553c0453b55af:FF=0:TM=1354328953:LM=1354328953:S=nvK9h5rZVKY7AvMa"[..])
        );
        assert_eq!(
            set_cookie_value(GOOGLE_RESPONSE_HEAD, b"NID"),
            Some(&b"66=LrODxwSaYoXHNtlBWQvIoz4cDCxDnAU0oEyLOLfopE63gD2HaVaFCdTdgYYIKJ9XYTmiWq0SQmD1lXmupV0jYDehr_jOhsaa09N-vaPMG7T9moVenNeDFCGGcDKAtmmD"[..])
        );
        assert_eq!(set_cookie_value(GOOGLE_RESPONSE_HEAD, b"ID"), None);
        // Request heads are not responses.
        assert_eq!(set_cookie_value(DVWA_REQUEST, b"PHPSESSID"), None);
    }

    #[test]
    fn set_cookie_never_reads_a_partial_line() {
        let line = b"Set-Cookie: PHPSESSID=8tokslnu6t07ru35q4vbsc8tk6; path=/\r\n";
        let start = DVWA_RESPONSE_HEAD.windows(line.len()).position(|w| w == line).unwrap();
        let complete = start + line.len();
        for cut in 0..=DVWA_RESPONSE_HEAD.len() {
            let found = set_cookie_value(&DVWA_RESPONSE_HEAD[..cut], b"PHPSESSID");
            let expected = (cut >= complete).then_some(&b"8tokslnu6t07ru35q4vbsc8tk6"[..]);
            assert_eq!(found, expected, "cut at {cut}");
            assert_eq!(status_line_end(&DVWA_RESPONSE_HEAD[..cut]), (cut >= 17).then_some(17), "cut at {cut}");
        }
    }

    #[test]
    fn set_cookie_stops_at_the_head_end() {
        let body_cookie = [ICANHAZIP_RESPONSE, b"Set-Cookie: ServerID=rs9\r\n\r\n"].concat();
        assert_eq!(set_cookie_value(&body_cookie, b"ServerID"), None);
        assert!(set_cookie_value(&body_cookie, b"__cf_bm").is_some());
    }

    #[test]
    fn set_cookie_header_forms() {
        // Not in any capture: the spellings a server may use, and lines that only look alike.
        let head = b"HTTP/1.1 200 OK\n\
            X-Set-Cookie: A=x1\r\n\
            Set-Cookie : A=x2\r\n\
            X-Folded: yes\r\n\
            \x20Set-Cookie: A=x3\r\n\
            Set-Cookie: B=1; A=x4\r\n\
            Set-Cookie: JSESSIONID=; Max-Age=0; Path=/old\r\n\
            set-cookie:JSESSIONID=\"9A1F.node2\" ; Path=/\n\
            SET-COOKIE: A = y ;\r\n\
            \r\n";
        assert_eq!(set_cookie_value(head, b"A"), Some(&b"y"[..]));
        assert_eq!(set_cookie_value(head, b"B"), Some(&b"1"[..]));
        assert_eq!(set_cookie_value(head, b"JSESSIONID"), Some(&b"9A1F.node2"[..]));
        assert_eq!(set_cookie_value(head, b"Max-Age"), None);
    }

    #[test]
    fn inserted_set_cookie_is_read_back() {
        let end = status_line_end(DVWA_RESPONSE_HEAD).unwrap();
        let line = b"Set-Cookie: ServerID=rs2; Path=/\r\n";
        let rewritten = [&DVWA_RESPONSE_HEAD[..end], line, &DVWA_RESPONSE_HEAD[end..]].concat();
        assert_eq!(set_cookie_value(&rewritten, b"ServerID"), Some(&b"rs2"[..]));
        assert_eq!(set_cookie_value(&rewritten, b"PHPSESSID"), Some(&b"8tokslnu6t07ru35q4vbsc8tk6"[..]));
        assert_eq!(status_line_end(&rewritten), Some(end));
    }

    /// `head_end` written the obvious way, one byte at a time.
    fn head_end_reference(bytes: &[u8]) -> Option<usize> {
        let mut at = 0;
        loop {
            if bytes[at..].starts_with(b"\n") {
                at += 1;
            } else if bytes[at..].starts_with(b"\r\n") {
                at += 2;
            } else {
                break;
            }
        }
        (at..bytes.len()).filter(|&i| bytes[i] == b'\n').find_map(|i| {
            if bytes[i + 1..].starts_with(b"\n") {
                Some(i + 2)
            } else if bytes[i + 1..].starts_with(b"\r\n") {
                Some(i + 3)
            } else {
                None
            }
        })
    }

    /// Bytes from pieces of requests and responses, so the parsers get past their first byte.
    fn plausible() -> impl Strategy<Value = Vec<u8>> {
        const PIECES: [&[u8]; 20] = [
            b"GET",
            b" ",
            b"/",
            b"/a;jsessionid=",
            b"?",
            b" HTTP/1.1",
            b"HTTP/1.0 ",
            b"200 OK",
            b"\r\n",
            b"\n",
            b"\r",
            b"Cookie: ",
            b"Set-Cookie: ",
            b"Host: h",
            b"a=b",
            b"JSESSIONID=",
            b"\"",
            b";",
            b".",
            b"\t",
        ];
        let piece = proptest::sample::select(PIECES.to_vec()).prop_map(<[u8]>::to_vec);
        let pieces = proptest::collection::vec(
            prop_oneof![4 => piece, 1 => proptest::collection::vec(any::<u8>(), 0..4)],
            0..40,
        );
        pieces.prop_map(|pieces| pieces.concat())
    }

    fn arbitrary_or_plausible() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![proptest::collection::vec(any::<u8>(), 0..300), plausible()]
    }

    fn tchar() -> impl Strategy<Value = u8> {
        proptest::sample::select(
            b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".to_vec(),
        )
    }

    fn cookie_name() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(tchar(), 1..12)
    }

    /// RFC 6265 cookie-octets: visible ASCII but DQUOTE, ',', ';' and '\'.
    fn cookie_value() -> impl Strategy<Value = Vec<u8>> {
        let octets: Vec<u8> = (0x21..=0x7e).filter(|b| !b"\",;\\".contains(b)).collect();
        proptest::collection::vec(proptest::sample::select(octets), 1..24)
    }

    fn ows() -> impl Strategy<Value = &'static [u8]> {
        proptest::sample::select(vec![&b""[..], b" ", b"\t", b"  "])
    }

    proptest! {
        #[test]
        fn never_panics(bytes in arbitrary_or_plausible()) {
            let end = head_end(&bytes);
            let mut headers = [EMPTY_HEADER; MAX_HEADERS];
            match RequestHead::parse(&bytes, &mut headers) {
                Ok(head) => {
                    prop_assert_eq!(end, Some(head.len));
                    for name in [&b"JSESSIONID"[..], b"a", b"", b"\""] {
                        let _ = head.cookie(name).map(jvm_route);
                    }
                    let _ = (head.path_session_id().map(jvm_route), head.header(b"cookie"));
                }
                Err(HeadError::Incomplete) => prop_assert!(bytes.len() < MAX_HEAD_LEN),
                Err(_) => {}
            }
            for (name, _) in cookie_pairs(&bytes) {
                prop_assert!(!name.is_empty());
            }
            let _ = jvm_route(&bytes);
            if let Some(end) = status_line_end(&bytes) {
                prop_assert!(end <= bytes.len());
                prop_assert!(status_code(&bytes).is_some());
            }
            for name in [&b"JSESSIONID"[..], b"a", b""] {
                let _ = set_cookie_value(&bytes, name);
            }
        }

        #[test]
        fn head_end_agrees_with_httparse(bytes in arbitrary_or_plausible()) {
            prop_assert_eq!(head_end(&bytes), head_end_reference(&bytes));
            let mut headers = [httparse::EMPTY_HEADER; 4];
            let parsed = httparse::Request::new(&mut headers).parse(&bytes);
            match head_end(&bytes) {
                // httparse may reject the head, but never waits for more.
                Some(end) => {
                    let mut headers = [httparse::EMPTY_HEADER; 4];
                    let head = httparse::Request::new(&mut headers).parse(&bytes[..end]);
                    prop_assert!(!matches!(head, Ok(Status::Partial)), "{:?}", head);
                    if let Ok(Status::Complete(len)) = parsed {
                        prop_assert_eq!(len, end);
                    }
                }
                None => prop_assert!(!matches!(parsed, Ok(Status::Complete(_))), "{:?}", parsed),
            }
        }

        #[test]
        fn find_lf_finds_the_first(bytes in proptest::collection::vec(
            prop_oneof![4 => any::<u8>(), 1 => Just(b'\n'), 1 => Just(0x0b), 1 => Just(0x8a), 1 => Just(0x09)], 0..80)) {
            prop_assert_eq!(find_lf(&bytes), bytes.iter().position(|&b| b == b'\n'));
        }

        #[test]
        fn cookie_found_among_others(
            name in cookie_name(),
            value in cookie_value(),
            quoted: bool,
            others in proptest::collection::vec((cookie_name(), prop_oneof![cookie_value(), Just(vec![])]), 0..8),
            at: proptest::sample::Index,
            split: bool,
            spaces in proptest::collection::vec(ows(), 20),
        ) {
            // Cookies named like the one sought but longer, and no other of its name.
            let mut others: Vec<_> = others.into_iter().filter(|(n, _)| *n != name).collect();
            others.push(([&name[..], b"SSO"].concat(), b"other".to_vec()));
            others.push(([b"x", &name[..]].concat(), b"other".to_vec()));
            let target = if quoted { [&b"\""[..], &value, b"\""].concat() } else { value.clone() };
            let at = at.index(others.len() + 1);
            others.insert(at, (name.clone(), target));

            let pair = |i: usize, (n, v): &(Vec<u8>, Vec<u8>)| {
                [spaces[i % 20], n, spaces[(i + 1) % 20], b"=", spaces[(i + 2) % 20], v, spaces[(i + 3) % 20]].concat()
            };
            let pairs: Vec<Vec<u8>> = others.iter().enumerate().map(|(i, p)| pair(i, p)).collect();
            let cookie_lines = if split && at > 0 {
                format!("Cookie: {}\r\nAccept: */*\r\nCookie: {}\r\n",
                    String::from_utf8_lossy(&pairs[..at].join(&b";"[..])),
                    String::from_utf8_lossy(&pairs[at..].join(&b";"[..])))
            } else {
                format!("Cookie: {}\r\n", String::from_utf8_lossy(&pairs.join(&b";"[..])))
            };
            let request = format!("GET /shop HTTP/1.1\r\nHost: shop.example\r\n{cookie_lines}User-Agent: t\r\n\r\n");
            let request = request.as_bytes();

            let mut headers = [EMPTY_HEADER; MAX_HEADERS];
            let head = RequestHead::parse(request, &mut headers).unwrap();
            prop_assert_eq!(head.cookie(&name), Some(&value[..]));
            prop_assert_eq!(head_end(request), Some(request.len()));
            for cut in 0..request.len() {
                prop_assert_eq!(head_end(&request[..cut]), None);
            }
        }

        #[test]
        fn set_cookie_found_among_headers(
            name in cookie_name(),
            value in cookie_value(),
            others in proptest::collection::vec((cookie_name(), cookie_value()), 0..6),
            at: proptest::sample::Index,
        ) {
            let mut lines: Vec<Vec<u8>> = others
                .into_iter()
                .filter(|(n, _)| *n != name)
                .map(|(n, v)| [&b"Set-Cookie: "[..], &n, b"=", &v, b"; Path=/; ", &name, b"=no"].concat())
                .collect();
            let at = at.index(lines.len() + 1);
            lines.insert(at, [&b"set-cookie: "[..], &name, b"=", &value, b"; HttpOnly"].concat());
            let head = [&b"HTTP/1.1 200 OK\r\n"[..], &lines.join(&b"\r\n"[..]), b"\r\n\r\n"].concat();
            prop_assert_eq!(set_cookie_value(&head, &name), Some(&value[..]));
        }
    }
}
