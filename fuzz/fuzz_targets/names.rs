//! Names and name constraints given on the command line.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(name) = minica::names::Name::parse(text) {
            let _ = name.to_san();
            let dir = name.dir_name();
            assert!(!dir.contains('/') && !dir.is_empty() && dir != "." && dir != "..", "{dir:?}");
        }
        if let Ok(p) = minica::constraints::Permit::parse(text) {
            let c = minica::constraints::Constraints::from_permits(vec![p]);
            let _ = c.to_rcgen();
        }
    }
});
