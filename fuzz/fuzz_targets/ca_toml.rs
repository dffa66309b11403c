//! ca.toml, `init --config` files and profile templates.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let p = std::path::Path::new("fuzz.toml");
        if let Ok(cfg) = minica::config::CaConfig::from_toml(text, p) {
            let _ = minica::config::CaConfig::from_toml(&cfg.to_toml(), p).expect("round trip");
        }
        let _ = minica::profile::Profile::from_toml(text, p);
    }
});
