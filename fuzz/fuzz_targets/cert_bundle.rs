//! Certificate bundles as `verify`, `truststore --add` and `keystore --cert` read them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(certs) = minica::certs::parse(std::path::Path::new("fuzz.pem"), data) {
        for c in &certs {
            let _ = minica::certs::display_name(c);
            let _ = minica::inspect::describe_cert(c, minica::x509::now());
        }
        if let Some((leaf, rest)) = certs.split_first() {
            let opts = minica::verify::Options {
                at: minica::x509::now(),
                expires_within: None,
                host: Some("fuzz.test".into()),
                purpose: Some(minica::verify::Purpose::Server),
                key_spki: None,
            };
            let _ = minica::verify::verify(leaf, rest, rest, &opts);
        }
    }
});
