//! CSRs as `issue --csr` and `inspect` read them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // `issue --csr --ca`: the subordinate CA's subject and key.
    let _ = minica::issuers::csr_subject(std::path::Path::new("fuzz.csr"), data);
    let _ = minica::csr::read_for_ca(std::path::Path::new("fuzz.csr"), data);
    if let Ok(req) = minica::csr::read(std::path::Path::new("fuzz.csr"), data) {
        let profile = minica::profile::load("server", std::path::Path::new("/nonexistent")).unwrap().0;
        let _ = req.dropped(&profile);
        let _ = rcgen::SubjectPublicKeyInfo::from_der(&req.spki_der);
    }
});
