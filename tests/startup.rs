//! Start-up cost (issue #17 section 4): the everyday commands never ask
//! aws-lc for a random byte, so its CPU-jitter entropy collector (~38 ms
//! of CPU at the first one) never runs, whether or not aws-lc-sys was built
//! with AWS_LC_SYS_NO_JITTER_ENTROPY (src/rng.rs says why). Checked under
//! gdb with a breakpoint on the collector's initialisation, and against a
//! command that must still reach it (a TLS handshake: rustls draws its
//! randoms from aws-lc), so that a renamed symbol cannot make the check
//! pass by matching nothing.

mod common;
use common::*;

use std::process::{Command, Stdio};

/// aws-lc's symbols carry its version (aws_lc_0_47_0_...): a regex, so an
/// aws-lc-sys upgrade keeps the breakpoint.
const JITTER_INIT: &str = "^aws_lc_[0-9_]*_jent_entropy_init_ex$";

/// Runs `minica ARGS` under gdb with a breakpoint on the jitter collector's
/// initialisation; true when the breakpoint was hit.
fn reaches_jitter(env: &Env, args: &[&str]) -> bool {
    require("gdb");
    let out = Command::new("gdb")
        .args(["-batch", "-nx", "-ex", "set pagination off"])
        .args(["-ex", &format!("rbreak {JITTER_INIT}"), "-ex", "run"])
        .arg("--args")
        .arg(BIN)
        .args(args)
        .current_dir(env.path())
        .env("MINICA_CA_DIR", env.ca_dir())
        .env("HOME", env.path())
        .env("STORE_PW", "changeit")
        .env_remove("XDG_DATA_HOME")
        .stdin(Stdio::null())
        .output()
        .expect("run gdb");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("Breakpoint 1 at"),
        "gdb found no {JITTER_INIT} in {BIN}:\n{text}"
    );
    let hit = text.contains("Breakpoint 1, ");
    assert!(
        hit || text.contains("exited normally"),
        "minica {} failed under gdb:\n{text}",
        args.join(" ")
    );
    hit
}

#[test]
fn everyday_commands_never_start_aws_lc_jitter_entropy() {
    if option_env!("AWS_LC_SYS_NO_JITTER_ENTROPY").is_some() {
        // aws-lc was built without the collector: nothing here to reach.
        eprintln!("built with AWS_LC_SYS_NO_JITTER_ENTROPY: the guard has nothing to check");
        return;
    }
    // RSA keys too: src/rsa_keygen.rs draws from the OS, not aws-lc.
    for key_type in ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048"] {
        let env = Env::new();
        let mut runs: Vec<Vec<&str>> = vec![
            vec!["init", "--key-type", key_type, "-q"],
            vec!["issue", "a.test", "--key-type", key_type, "-q"],
            vec!["issue", "b.test", "--keystore", "--format", "p12"],
            vec!["issue", "c.test", "--keystore", "--format", "jks"],
            vec!["renew", "a.test", "-q"],
            vec!["crl", "--out", "crl.pem", "-q"],
        ];
        for r in &mut runs[2..4] {
            r.extend(["--password-env", "STORE_PW", "-q"]);
        }
        for args in &runs {
            assert!(
                !reaches_jitter(&env, args),
                "minica {} ran aws-lc's jitter entropy collector (~38 ms): something \
                 asked aws-lc for random bytes instead of src/rng.rs",
                args.join(" ")
            );
        }
        std::fs::write(env.file("hosts.txt"), "x.test\ny.test www.y.test\n").unwrap();
        assert!(!reaches_jitter(
            &env,
            &["batch", "hosts.txt", "--out-dir", "certs", "-q"]
        ));
        // apply: a first run makes keys, stores and a revoked fixture's
        // CRL; a second one only judges.
        std::fs::write(
            env.file("env.toml"),
            "[[certificate]]\nnames = [\"k.test\"]\nkeystore = { format = \"p12\", password = \"pw\" }\n\
             [[certificate]]\nnames = [\"r.test\"]\nfault = \"revoked\"\n\
             [[certificate]]\nnames = [\"w.test\"]\nfault = \"weak_key\"\n",
        )
        .unwrap();
        for _ in 0..2 {
            assert!(
                !reaches_jitter(&env, &["apply", "env.toml", "-q"]),
                "minica apply ran aws-lc's jitter entropy collector"
            );
        }
    }
}

#[test]
fn a_tls_handshake_still_reaches_it_so_the_breakpoint_is_real() {
    if option_env!("AWS_LC_SYS_NO_JITTER_ENTROPY").is_some() {
        eprintln!("built with AWS_LC_SYS_NO_JITTER_ENTROPY: the guard has nothing to check");
        return;
    }
    let env = Env::new();
    env.minica(&["issue", "127.0.0.1", "--out-dir", "srv", "-q"])
        .ok();
    let (_server, port) = tls_server(&env.file("srv/chain.pem"), &env.file("srv/key.pem"));
    assert!(reaches_jitter(
        &env,
        &[
            "verify",
            &format!("https://127.0.0.1:{port}"),
            "--ca",
            &env.s("srv/ca.pem"),
            "-q"
        ]
    ));
}
