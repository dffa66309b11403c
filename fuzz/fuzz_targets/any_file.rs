//! Whatever a user hands `inspect` or `verify`: classified by content.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let password = || Ok(zeroize::Zeroizing::new("changeit".to_string()));
    let _ = minica::inspect::read_any(std::path::Path::new("fuzz.bin"), data, &password);
});
