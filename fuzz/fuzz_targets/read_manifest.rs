//! Any bytes as a manifest: reading never panics; errors name a line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = pxtrack::manifest::read_from(data, std::path::Path::new("m.csv")) {
        assert!(e.to_string().starts_with("m.csv:"));
    }
});
