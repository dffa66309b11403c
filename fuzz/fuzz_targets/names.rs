//! Names and name constraints given on the command line.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let name = minica::names::Name::parse(text);
        if let Ok(name) = &name {
            let _ = name.to_san();
            let dir = name.dir_name();
            assert!(!dir.contains('/') && !dir.is_empty() && dir != "." && dir != "..", "{dir:?}");
            assert!(dir.len() <= minica::names::MAX_DIR_NAME, "{dir:?}");
            let _ = name.uri_host();
        }
        // A permit and a name from the same input, split at the first space.
        let (a, b) = text.split_once(' ').unwrap_or((text, text));
        if let Ok(p) = minica::constraints::Permit::parse(a) {
            let c = minica::constraints::Constraints::from_permits(vec![p.clone()]);
            let _ = c.to_rcgen();
            let _ = c.to_custom_extension();
            let _ = c.verifier_warnings();
            if let Ok(n) = minica::names::Name::parse(b) {
                let _ = p.covers(&n);
                let _ = c.check(&n);
            }
        }
    }
});
