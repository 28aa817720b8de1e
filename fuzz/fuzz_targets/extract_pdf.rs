//! Fuzzes the PDF entry point exactly as a dropped file reaches it: sniffing, the
//! isolated parser, layout and cleaning. A panic inside the isolated parser is turned
//! into an error by design; anything else that panics, aborts, overflows the stack,
//! exhausts memory or hangs is a crash here.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reportlens::ingest::{extract_mem, ExtractOptions};
use std::path::Path;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let opts = ExtractOptions {
        timeout: Duration::from_secs(20),
        ..ExtractOptions::default()
    };
    if let Ok(doc) = extract_mem(Path::new("fuzz.pdf"), data.to_vec(), &opts) {
        // A document is never silently empty.
        assert!(doc.blocks.iter().any(|b| !b.text.trim().is_empty()));
    }
});
