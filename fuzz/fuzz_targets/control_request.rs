//! mgmd's control-request parser on any bytes: it never panics; an accepted request prints
//! back to a line that parses to the same request; a refused one gets a short message that
//! never contains the request (unless the request is itself a piece of the fixed messages).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mgmd::control::{parse_request, RequestError, MAX_REQUEST};

fuzz_target!(|data: &[u8]| {
    match parse_request(data) {
        Ok(req) => {
            let line = req.to_line();
            assert!(line.len() <= MAX_REQUEST);
            assert_eq!(parse_request(line.as_bytes()), Ok(req), "{line:?}");
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.len() < 300, "{msg:?}");
            let Ok(text) = std::str::from_utf8(data) else {
                return;
            };
            let text = text.trim();
            if text.len() < 8 {
                return;
            }
            let vocabulary: String = RequestError::examples()
                .iter()
                .map(|e| e.to_string() + "\n")
                .collect();
            if !vocabulary.contains(text) {
                assert!(!msg.contains(text), "{msg:?} echoes the request");
            }
        }
    }
});
