//! PKCS#12 stores as `inspect`, `verify` and the examples read them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = minica::stores::pkcs12::read(std::path::Path::new("fuzz.p12"), data, "changeit");
});
