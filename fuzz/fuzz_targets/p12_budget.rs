//! The PKCS#12 work budget: `cost` walks any bytes without panicking, and
//! what it lets through is within the budget.
#![no_main]
use libfuzzer_sys::fuzz_target;
use minica::stores::MAX_ITERATIONS;
use minica::stores::pkcs12::{MAX_KDF_WORK, cost};

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = cost(std::path::Path::new("fuzz.p12"), data) {
        assert!(c.work <= MAX_KDF_WORK);
        assert!(c.largest <= u64::from(MAX_ITERATIONS));
    }
});
