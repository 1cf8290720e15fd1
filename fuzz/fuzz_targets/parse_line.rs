//! Any bytes as an access-log line: parsing never panics, and a parsed line's fields decode.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(line) = pxtrack::logparse::parse_line(data) {
        let _ = pxtrack::logparse::decode(line.user_agent);
        let _ = pxtrack::logparse::decode(line.request.uri);
        assert!(line.status >= 100 && line.status < 600);
    }
});
