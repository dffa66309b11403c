//! The secret reader behind --password-file and --password-stdin: any
//! input ends in a bounded secret or an error, never a panic or a hang.
#![no_main]
use libfuzzer_sys::fuzz_target;
use minica::password::{MAX_SECRET_BYTES, Purpose, first_line_of};

fuzz_target!(|data: &[u8]| {
    let purpose = Purpose {
        what: "store password",
        default_env: "MINICA_FUZZ_UNSET",
        confirm: false,
    };
    if let Ok(secret) = first_line_of(data, std::path::Path::new("fuzz"), &purpose) {
        assert!(secret.len() <= MAX_SECRET_BYTES);
        assert!(!secret.contains(['\n', '\r']));
    }
});
