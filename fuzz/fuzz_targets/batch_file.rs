//! `minica batch` files: name lists and TOML manifests.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = minica::manifest::parse(std::path::Path::new("b.txt"), text);
        let _ = minica::manifest::parse(std::path::Path::new("b.toml"), text);
    }
});
