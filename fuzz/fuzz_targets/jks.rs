//! JKS stores. The integrity hash is checked first, so the fuzzer also
//! gets inputs whose trailer is recomputed, to reach the entry parser.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.jks");
    let _ = minica::stores::jks::read(path, data, "changeit");
    // The same body with a valid trailer for the password.
    let mut body = minica::stores::jks::MAGIC.to_be_bytes().to_vec();
    body.extend_from_slice(data);
    let mut ctx = Vec::new();
    for u in "changeit".encode_utf16() {
        ctx.extend_from_slice(&u.to_be_bytes());
    }
    ctx.extend_from_slice(b"Mighty Aphrodite");
    ctx.extend_from_slice(&body);
    body.extend_from_slice(&minica::stores::jks::sha1(&ctx));
    let _ = minica::stores::jks::read(path, &body, "changeit");
});
