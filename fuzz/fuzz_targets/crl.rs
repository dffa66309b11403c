//! CRL files as `verify --crl` reads them (PEM or DER), and the facts
//! minica's own CRL checks take from them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(crls) = minica::crl::parse(std::path::Path::new("fuzz.crl"), data) {
        for der in &crls {
            let _ = minica::crl::facts(der);
            // `inspect` of a CRL.
            let _ = minica::inspect::describe_crl(der, minica::x509::now());
        }
    }
    let _ = minica::crl::facts(data);
});
