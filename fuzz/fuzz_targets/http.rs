//! Arbitrary bytes through the HTTP request-head scanner, the cookie parsers and the
//! response-side scans, with the properties that tie them together: `head_end` and
//! `RequestHead::parse` agree on where a head ends, and every value found lies in the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stickwire::wire::http::{
    cookie_pairs, head_end, jvm_route, set_cookie_value, status_code, status_line_end, HeadError, RequestHead,
    EMPTY_HEADER, MAX_HEADERS, MAX_HEAD_LEN,
};

/// Whether `part` is a slice of `whole`'s memory (found values are views, never copies).
fn within(whole: &[u8], part: &[u8]) -> bool {
    let (start, end) = (whole.as_ptr() as usize, whole.as_ptr() as usize + whole.len());
    let at = part.as_ptr() as usize;
    part.is_empty() || (start <= at && at + part.len() <= end)
}

const NAMES: [&[u8]; 4] = [b"JSESSIONID", b"ServerID", b"a", b""];

fuzz_target!(|data: &[u8]| {
    let end = head_end(data);
    if let Some(end) = end {
        assert!(end <= data.len());
    }

    let mut headers = [EMPTY_HEADER; MAX_HEADERS];
    match RequestHead::parse(data, &mut headers) {
        Ok(head) => {
            assert_eq!(end, Some(head.len));
            assert!(head.len <= MAX_HEAD_LEN);
            for name in NAMES {
                if let Some(value) = head.cookie(name) {
                    assert!(!value.is_empty() && within(data, value));
                    let _ = jvm_route(value);
                }
            }
            if let Some(id) = head.path_session_id() {
                assert!(!id.is_empty() && within(head.path, id));
                if let Some(route) = jvm_route(id) {
                    assert!(!route.is_empty() && within(id, route));
                }
            }
            for header in head.headers() {
                for (name, value) in cookie_pairs(header.value) {
                    assert!(!name.is_empty() && within(header.value, name) && within(header.value, value));
                }
            }
        }
        Err(HeadError::Incomplete) => assert!(data.len() < MAX_HEAD_LEN),
        Err(HeadError::NotHttp | HeadError::TooLarge) => {}
    }

    for (name, value) in cookie_pairs(data) {
        assert!(!name.is_empty() && within(data, name) && within(data, value));
    }
    if let Some(end) = status_line_end(data) {
        assert!(end <= data.len() && data[..end].ends_with(b"\n"));
        assert!(status_code(data).is_some());
    }
    for name in NAMES {
        if let Some(value) = set_cookie_value(data, name) {
            assert!(!value.is_empty() && within(data, value));
        }
    }
});
