//! mgmd's control-request parser on any bytes: it never panics; an accepted request prints
//! back, in the JSON form and in the word form, to lines that parse to the same request; a
//! refused one gets a short message that never contains the request (unless the request is
//! itself a piece of the fixed messages).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mgmd::control::{parse_request, RequestError, MAX_REQUEST};

fuzz_target!(|data: &[u8]| {
    match parse_request(data) {
        Ok(req) => {
            for line in [req.to_line(), req.to_text()] {
                // One form can be longer than the other (` to x` against `"x",`): past the
                // cap, the line is refused as too long, and nothing else.
                let expected = if line.len() <= MAX_REQUEST {
                    Ok(&req)
                } else {
                    Err(&RequestError::TooLong { limit: MAX_REQUEST })
                };
                assert_eq!(parse_request(line.as_bytes()).as_ref(), expected, "{line:?}");
            }
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
