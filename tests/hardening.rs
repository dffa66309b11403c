//! A CA under parallel CI jobs, crashes and hostile input: it must keep
//! working and never lose or leak anything.

mod common;
use common::*;

use std::path::Path;
use std::process::{Command, Stdio};

fn serial_of(cert: &Path) -> String {
    openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-serial"])
        .ok()
        .stdout
        .trim()
        .trim_start_matches("serial=")
        .to_lowercase()
}

#[test]
fn thirty_two_parallel_issues() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    let children: Vec<_> = (0..32)
        .map(|i| {
            spawn(
                &env,
                &[
                    "issue",
                    &format!("n{i}.test"),
                    "--out-dir",
                    &format!("o{i}"),
                ],
            )
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let list = env.minica(&["list", "--json"]).ok().json();
    let certs = list["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 32, "32 intact record entries");
    assert_eq!(list["unreadable_lines"].as_array().unwrap().len(), 0);
    let mut serials = std::collections::HashSet::new();
    for i in 0..32 {
        let cert = env.file(&format!("o{i}/cert.pem"));
        openssl(&[
            "verify",
            "-CAfile",
            &env.ca_dir().join("ca.pem").to_string_lossy(),
            cert.to_str().unwrap(),
        ])
        .ok();
        let serial = serial_of(&cert);
        assert!(
            certs.iter().any(|c| c["serial"] == serial.as_str()),
            "{serial} not recorded"
        );
        serials.insert(serial);
    }
    assert_eq!(serials.len(), 32, "32 distinct serials");
}

#[test]
fn parallel_first_issues_make_one_ca() {
    let env = Env::new();
    let children: Vec<_> = (0..8)
        .map(|i| spawn(&env, &["issue", &format!("f{i}.test")]))
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ca = env.ca_dir().join("ca.pem");
    for i in 0..8 {
        openssl(&[
            "verify",
            "-CAfile",
            ca.to_str().unwrap(),
            &env.s(&format!("f{i}.test/cert.pem")),
        ])
        .ok();
    }
    assert_eq!(
        env.minica(&["list", "--json"]).ok().json()["certificates"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
}

/// Every PEM file under `dir` is whole, and no temporary file is left.
fn assert_no_partial_files(dir: &Path) {
    for (path, (bytes, _)) in snapshot(dir) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.ends_with(".tmp"),
            "temporary file left: {}",
            path.display()
        );
        if name.ends_with(".pem") {
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                text.starts_with("-----BEGIN ") && text.trim_end().ends_with("-----"),
                "partial file {}: {text:?}",
                path.display()
            );
            if name == "cert.pem" || name == "ca.pem" || name == "chain.pem" {
                openssl(&["x509", "-in", path.to_str().unwrap(), "-noout"]).ok();
            } else if name.contains("key") && !text.contains("ENCRYPTED") {
                openssl(&["pkey", "-in", path.to_str().unwrap(), "-noout"]).ok();
            }
        }
    }
}

#[test]
fn killed_issues_never_leave_partial_files_or_lose_records() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    let mut rng = Lcg(0x5eed);
    for i in 0..60 {
        let child = spawn(
            &env,
            &[
                "issue",
                &format!("k{i}.test"),
                "--out-dir",
                &format!("k{i}"),
            ],
        );
        kill_after(child, rng.next(6000));
        // The CA loads after every kill.
        env.minica(&["list", "--json"]).ok();
    }
    assert_no_partial_files(env.path());
    let list = env.minica(&["list", "--json"]).ok().json();
    let entries = list["certificates"].as_array().unwrap();
    // Every recorded certificate is on disk, or `list` says it is missing.
    for e in entries {
        let cert = Path::new(e["cert"].as_str().unwrap());
        if cert.exists() {
            assert_eq!(e["files_status"]["status"], "present");
            assert_eq!(serial_of(cert), e["serial"].as_str().unwrap());
        } else {
            assert_eq!(e["files_status"]["status"], "missing", "{e}");
        }
    }
    // Every certificate on disk is recorded.
    for i in 0..60 {
        let cert = env.file(&format!("k{i}/cert.pem"));
        if cert.exists() {
            let serial = serial_of(&cert);
            assert!(
                entries.iter().any(|e| e["serial"] == serial.as_str()),
                "k{i}: on disk but not recorded"
            );
        }
    }
    // And issuing still works.
    env.minica(&["issue", "after.test"]).ok();
}

#[test]
fn killed_inits_leave_no_ca_or_a_whole_one() {
    let mut rng = Lcg(0xc0ffee);
    for i in 0..25 {
        let env = Env::new();
        let child = spawn(
            &env,
            &[
                "init",
                "--key-type",
                if i % 2 == 0 { "ecdsa-p256" } else { "rsa-2048" },
            ],
        );
        kill_after(child, rng.next(if i % 2 == 0 { 4000 } else { 60_000 }));
        // Either there is no CA and one is made now, or the killed init's CA
        // loads; the next command first finishes or undoes the killed one.
        env.minica(&["issue", "x.test"]).ok();
        assert_no_partial_files(env.path());
        openssl(&[
            "verify",
            "-CAfile",
            &env.ca_dir().join("ca.pem").to_string_lossy(),
            &env.s("x.test/cert.pem"),
        ])
        .ok();
    }
}

#[test]
fn encrypted_ca_key() {
    let env = Env::new();
    std::fs::write(env.file("pass"), "a long CA passphrase\n").unwrap();
    std::fs::write(env.file("wrong"), "not it\n").unwrap();
    let pass = env.s("pass");
    env.minica(&["init", "--ca-password-file", &pass, "--encrypt"])
        .ok();
    let key = env.ca_dir().join("ca-key.pem");
    assert_eq!(mode(&key), 0o600);
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{pem}"
    );
    // OpenSSL reads it: PBES2 with scrypt and AES-256-CBC.
    let parsed = openssl(&["asn1parse", "-in", key.to_str().unwrap()])
        .ok()
        .stdout;
    assert!(
        parsed.contains("PBES2") && parsed.contains(":scrypt") && parsed.contains("aes-256-cbc"),
        "{parsed}"
    );
    openssl(&[
        "pkey",
        "-in",
        key.to_str().unwrap(),
        "-passin",
        &format!("file:{pass}"),
        "-noout",
    ])
    .ok();

    env.minica(&["issue", "--ca-password-file", &pass, "enc.test"])
        .ok();
    // Without the passphrase and no terminal: one sentence, nothing written.
    let before = snapshot(env.path());
    env.minica(&["issue", "nopass.test"])
        .fails_with(2)
        .one_sentence_naming("no CA passphrase given");
    env.minica(&["issue", "--ca-password-file", &env.s("wrong"), "wrong.test"])
        .fails_with(2)
        .one_sentence_naming("wrong passphrase");
    assert_eq!(before, snapshot(env.path()));
    // The environment variable works too.
    let out = Command::new(BIN)
        .args(["issue", "envpass.test"])
        .current_dir(env.path())
        .env("MINICA_CA_DIR", env.ca_dir())
        .env("MINICA_CA_PASSWORD", "a long CA passphrase")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Decrypt in place, then encrypt again.
    env.minica(&["ca", "decrypt", "--ca-password-file", &env.s("wrong")])
        .fails_with(2);
    env.minica(&["ca", "decrypt", "--ca-password-file", &pass])
        .ok();
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    assert_eq!(mode(&key), 0o600);
    env.minica(&["issue", "plain.test"]).ok();
    env.minica(&["ca", "decrypt"])
        .fails_with(2)
        .one_sentence_naming("not encrypted");
    env.minica(&["ca", "encrypt", "--ca-password-file", &pass])
        .ok();
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .starts_with("-----BEGIN ENCRYPTED")
    );
    env.minica(&["issue", "--ca-password-file", &pass, "again.test"])
        .ok();
    for n in ["enc.test", "envpass.test", "plain.test", "again.test"] {
        openssl(&[
            "verify",
            "-CAfile",
            &env.ca_dir().join("ca.pem").to_string_lossy(),
            &env.s(&format!("{n}/cert.pem")),
        ])
        .ok();
    }
    assert_no_partial_files(env.path());
}

/// A CA that expired: made by `openssl ca -selfsign` with dates in the past.
fn expired_ca(dir: &Path) {
    let d = dir.join("db");
    let cnf = openssl_ca_db(&d);
    let key = dir.join("ca-key.pem");
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        key.to_str().unwrap(),
    ])
    .ok();
    let csr = d.join("ca.csr");
    openssl(&[
        "req",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        "/CN=Expired Root",
        "-out",
        csr.to_str().unwrap(),
    ])
    .ok();
    std::fs::write(
        d.join("ext"),
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
    )
    .unwrap();
    openssl(&[
        "ca",
        "-batch",
        "-notext",
        "-selfsign",
        "-config",
        cnf.to_str().unwrap(),
        "-keyfile",
        key.to_str().unwrap(),
        "-in",
        csr.to_str().unwrap(),
        "-out",
        dir.join("ca.pem").to_str().unwrap(),
        "-startdate",
        "20200101000000Z",
        "-enddate",
        "20200201000000Z",
        "-extfile",
        d.join("ext").to_str().unwrap(),
    ])
    .ok();
    std::fs::remove_dir_all(d).unwrap();
    // Every command opens a CA under its lock, which makes `.lock` the first
    // time: a directory minica has used has one.
    std::fs::write(dir.join(".lock"), "").unwrap();
}

/// Bad input across every command: no panic, a documented exit code, one
/// sentence naming the file, and nothing on disk changed.
#[test]
fn thirty_bad_inputs() {
    let env = Env::new();
    let f = |n: &str| env.s(n);
    std::fs::write(env.file("pw"), "changeit\n").unwrap();
    env.minica(&[
        "issue",
        "good.test",
        "--keystore",
        "--truststore",
        "--password-file",
        &f("pw"),
    ])
    .ok();
    env.minica(&[
        "keystore",
        "good.test",
        "--format",
        "jks",
        "--password-file",
        &f("pw"),
    ])
    .ok();
    env.minica(&["csr", "req.test", "--out-dir", "req"]).ok();
    let cert = std::fs::read(env.file("good.test/cert.pem")).unwrap();
    let p12 = std::fs::read(env.file("good.test/keystore.p12")).unwrap();
    let jks = std::fs::read(env.file("good.test/keystore.jks")).unwrap();
    let csr = std::fs::read(env.file("req/csr.pem")).unwrap();
    let w = |n: &str, b: &[u8]| std::fs::write(env.file(n), b).unwrap();
    w(
        "garbage.bin",
        &(0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect::<Vec<_>>(),
    );
    w("empty", b"");
    w("trunc-cert.pem", &cert[..cert.len() / 2]);
    w("trunc-cert.der", &[0x30, 0x82, 0x02, 0x00, 0x30, 0x82]);
    w("trunc.p12", &p12[..p12.len() / 3]);
    w("junk.p12", &[0x30, 0x80, 0x02, 0x01, 0x03, 0xff, 0xff]);
    w("trunc.jks", &jks[..40]);
    w("trunc-csr.pem", &csr[..csr.len() - 60]);
    w("names-ctl.txt", b"ok.test\nbad\x07bell.test\n");
    w(
        "manifest.toml",
        b"[[certificate]]\nnames = [\"m.test\"]\ncolour = \"red\"\n",
    );
    w("big.pem", &vec![b'A'; 17 * 1024 * 1024]);
    w("cfg-junk.toml", &[0xff, 0x00, 0xfe, 0x12]);
    w("cfg-unknown.toml", b"[ca]\nname = \"x\"\nflavour = 1\n");
    std::fs::create_dir(env.file("adir")).unwrap();
    // A CA that expired, and one whose key is another CA's.
    let expired = env.file("expired-ca");
    expired_ca(&expired);
    let other = Env::new();
    other.minica(&["init"]).ok();
    let mismatched = env.file("mismatched-ca");
    std::fs::create_dir(&mismatched).unwrap();
    std::fs::copy(env.ca_dir().join("ca.pem"), mismatched.join("ca.pem")).unwrap();
    std::fs::write(mismatched.join(".lock"), "").unwrap(); // as in every CA directory minica opened
    std::fs::copy(
        other.ca_dir().join("ca-key.pem"),
        mismatched.join("ca-key.pem"),
    )
    .unwrap();
    let exp = expired.to_string_lossy().into_owned();
    let mis = mismatched.to_string_lossy().into_owned();
    let pwf = f("pw");

    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["verify", "garbage.bin"], 2, "garbage.bin"),
        (vec!["verify", "empty"], 2, "empty"),
        (vec!["verify", "trunc-cert.pem"], 2, "trunc-cert.pem"),
        (vec!["verify", "trunc-cert.der"], 2, "trunc-cert.der"),
        (
            vec!["verify", "trunc.p12", "--password-file", &pwf],
            2,
            "trunc.p12",
        ),
        (
            vec!["verify", "junk.p12", "--password-file", &pwf],
            2,
            "junk.p12",
        ),
        (
            vec!["verify", "trunc.jks", "--password-file", &pwf],
            2,
            "trunc.jks",
        ),
        (
            vec!["verify", "req/csr.pem"],
            2,
            "not a certificate or keystore",
        ),
        (vec!["verify", "adir"], 2, "is a directory"),
        (vec!["verify", "big.pem"], 2, "too large"),
        (vec!["inspect", "garbage.bin"], 2, "garbage.bin"),
        (vec!["inspect", "empty"], 2, "is empty"),
        (vec!["inspect", "trunc-csr.pem"], 2, "trunc-csr.pem"),
        (
            vec!["inspect", "trunc.p12", "--password-file", &pwf],
            2,
            "trunc.p12",
        ),
        (vec!["inspect", "adir"], 2, "is a directory"),
        (vec!["issue", "--csr", "garbage.bin"], 2, "garbage.bin"),
        (vec!["issue", "--csr", "empty"], 2, "empty"),
        (vec!["issue", "--csr", "trunc-csr.pem"], 2, "trunc-csr.pem"),
        (
            vec!["issue", "--csr", "good.test/cert.pem"],
            2,
            "not a certificate signing request",
        ),
        (vec!["issue", "--csr", "adir"], 2, "is a directory"),
        (vec!["issue", "bell\u{7}.test"], 2, "control characters"),
        (vec!["issue", "esc\u{1b}[31m.test"], 2, "control characters"),
        (vec!["issue", "x.test", "--ca-dir", &exp], 2, "expired"),
        (
            vec!["issue", "x.test", "--ca-dir", &mis],
            2,
            "does not match",
        ),
        (
            vec!["init", "--config", "cfg-junk.toml", "--ca-dir", "newca"],
            2,
            "cfg-junk.toml",
        ),
        (
            vec!["init", "--config", "cfg-unknown.toml", "--ca-dir", "newca"],
            2,
            "flavour",
        ),
        (
            vec!["init", "--config", "adir", "--ca-dir", "newca"],
            2,
            "is a directory",
        ),
        (vec!["batch", "names-ctl.txt"], 2, "names-ctl.txt"),
        (vec!["batch", "manifest.toml"], 2, "colour"),
        (vec!["batch", "empty"], 2, "empty"),
        (
            vec![
                "keystore",
                "--cert",
                "good.test/cert.pem",
                "--key",
                "garbage.bin",
                "--password-file",
                &pwf,
                "--out",
                "k3.p12",
            ],
            2,
            "garbage.bin",
        ),
        (
            vec![
                "keystore",
                "--cert",
                "trunc-cert.pem",
                "--key",
                "good.test/key.pem",
                "--password-file",
                &pwf,
                "--out",
                "k3.p12",
            ],
            2,
            "trunc-cert.pem",
        ),
        (
            vec![
                "keystore",
                "good.test",
                "--password-file",
                "adir",
                "--out",
                "k2.p12",
            ],
            2,
            "is a directory",
        ),
        (
            vec![
                "truststore",
                "--add",
                "empty",
                "--password-file",
                &pwf,
                "--out",
                "t2.p12",
            ],
            2,
            "empty",
        ),
        (
            vec![
                "truststore",
                "--add",
                "big.pem",
                "--password-file",
                &pwf,
                "--out",
                "t2.p12",
            ],
            2,
            "too large",
        ),
        (
            vec![
                "verify",
                "good.test/cert.pem",
                "--truststore",
                "trunc.jks",
                "--password-file",
                &pwf,
            ],
            2,
            "trunc.jks",
        ),
    ];
    assert!(cases.len() >= 30);
    for (args, code, needle) in &cases {
        let before = snapshot(env.path());
        let r = env.minica(args).fails_with(*code);
        r.one_sentence_naming(needle);
        assert_eq!(
            before,
            snapshot(env.path()),
            "{args:?} changed something on disk"
        );
    }
    // Unknown keys in the CA directory's own ca.toml: named, and nothing issued.
    std::fs::write(env.ca_dir().join("ca.toml"), "[ca]\nbogus = true\n").unwrap();
    let before = snapshot(env.path());
    env.minica(&["issue", "late.test"])
        .fails_with(2)
        .one_sentence_naming("bogus");
    assert_eq!(before, snapshot(env.path()));
}

/// No secret on stdout, stderr, or in an error.
#[test]
fn secrets_are_never_printed() {
    let env = Env::new();
    let secret = "s3cret-Store-Pass";
    std::fs::write(env.file("pw"), format!("{secret}\n")).unwrap();
    let r = env
        .minica(&[
            "issue",
            "s.test",
            "--keystore",
            "--truststore",
            "--password-file",
            &env.s("pw"),
            "--json",
        ])
        .ok();
    let key = std::fs::read_to_string(env.file("s.test/key.pem")).unwrap();
    let key_body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    for out in [&r.stdout, &r.stderr] {
        assert!(!out.contains(secret));
        assert!(!out.contains(&key_body[8..40]));
    }
    std::fs::write(env.file("wrong"), "Wr0ng-Pass-Phrase\n").unwrap();
    let r = env
        .minica(&[
            "inspect",
            "s.test/keystore.p12",
            "--password-file",
            &env.s("wrong"),
        ])
        .fails_with(2);
    assert!(
        !r.stderr.contains("Wr0ng-Pass-Phrase") && !r.stderr.contains(secret),
        "{}",
        r.stderr
    );
    for args in [
        vec!["inspect", "s.test/key.pem", "--json"],
        vec![
            "inspect",
            "s.test/keystore.p12",
            "--password-file",
            "pw",
            "--json",
        ],
    ] {
        let r = env.minica(&args).ok();
        assert!(
            !r.stdout.contains(&key_body[8..40]),
            "{args:?} printed key material"
        );
    }
}

/// `minica batch`: lines of names and a TOML manifest, each certificate
/// checked by openssl and recorded; a bad entry stops the batch before any
/// key is made.
#[test]
fn batch_issues_many_and_checks_first() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    let names: String = (0..40).map(|i| format!("b{i}.test 10.0.1.{i}\n")).collect();
    std::fs::write(env.file("names.txt"), format!("# hosts\n{names}")).unwrap();
    let j = env
        .minica(&["batch", "names.txt", "--out-dir", "out", "--json"])
        .ok()
        .json();
    assert_eq!(j["issued"].as_array().unwrap().len(), 40);
    let ca = env.ca_dir().join("ca.pem");
    for i in [0, 17, 39] {
        let cert = env.s(&format!("out/b{i}.test/cert.pem"));
        openssl(&[
            "verify",
            "-CAfile",
            ca.to_str().unwrap(),
            "-purpose",
            "sslserver",
            "-verify_ip",
            &format!("10.0.1.{i}"),
            &cert,
        ])
        .ok();
        assert_eq!(mode(&env.file(&format!("out/b{i}.test/key.pem"))), 0o600);
    }
    std::fs::write(
        env.file("m.toml"),
        "[[certificate]]\nnames = [\"alice\"]\nprofile = \"client\"\ndays = 30\nkey_type = \"rsa-2048\"\nout = \"people/alice\"\n\n[[certificate]]\nnames = [\"api.test\"]\n",
    )
    .unwrap();
    env.minica(&["batch", "m.toml", "--out-dir", "m"]).ok();
    openssl(&[
        "verify",
        "-CAfile",
        ca.to_str().unwrap(),
        "-purpose",
        "sslclient",
        &env.s("m/people/alice/cert.pem"),
    ])
    .ok();
    assert!(x509_text(&env.file("m/people/alice/cert.pem")).contains("rsaEncryption"));
    openssl(&[
        "verify",
        "-CAfile",
        ca.to_str().unwrap(),
        "-purpose",
        "sslserver",
        &env.s("m/api.test/cert.pem"),
    ])
    .ok();
    assert_eq!(
        env.minica(&["list", "--json"]).ok().json()["certificates"]
            .as_array()
            .unwrap()
            .len(),
        42
    );
    // One bad line: nothing written, nothing recorded.
    std::fs::write(env.file("bad.txt"), "ok1.test\nexa..mple\nok2.test\n").unwrap();
    let before = snapshot(env.path());
    env.minica(&["batch", "bad.txt", "--out-dir", "out2"])
        .fails_with(2)
        .one_sentence_naming("certificate 2");
    assert_eq!(before, snapshot(env.path()));
}

/// Started with stdout and stderr closed (a daemon's child, a careless
/// `>&-`), minica must not hand their numbers to the files it opens: what
/// it prints would land in the lock, the journal or a key file. std's
/// start-up reopens them on /dev/null; minica's own start-up (it skips
/// std's, src/main.rs) must do the same.
#[test]
fn closed_standard_streams_never_become_files_it_writes() {
    use std::os::unix::process::CommandExt;
    let env = Env::new();
    env.minica(&["init"]).ok();
    let mut cmd = env.command(&["issue", "closed.test", "--out-dir", "out"]);
    // SAFETY: only close(2), async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(1);
            libc::close(2);
            Ok(())
        });
    }
    let status = cmd.status().unwrap();
    assert!(status.success(), "{status}");
    // What number 1 is while it runs: /dev/null, so reading /dev/stdout
    // finds an empty file, not a missing one (nor one of minica's own).
    let mut inspect = Command::new(BIN);
    inspect
        .args(["inspect", "/dev/stdout"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: as above.
    unsafe {
        inspect.pre_exec(|| {
            libc::close(1);
            Ok(())
        });
    }
    let out = inspect.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/dev/stdout: is empty"), "{err}");
    for f in ["cert.pem", "key.pem", "chain.pem", "ca.pem"] {
        let text = std::fs::read_to_string(env.file(&format!("out/{f}"))).unwrap();
        assert!(text.starts_with("-----BEGIN "), "{f}: {text}");
        assert!(
            !text.contains("closed.test"),
            "{f} got printed text: {text}"
        );
    }
    env.openssl_verifies("out/cert.pem");
    let journal = std::fs::read(env.ca_dir().join(".journal")).unwrap();
    assert!(
        journal.starts_with(b"minica-journal"),
        "the journal got printed text"
    );
    let lock = std::fs::metadata(env.ca_dir().join(".lock")).unwrap();
    assert_eq!(lock.len(), 0, "the lock file got printed text");
    env.minica(&["list"]).ok();
}

/// Where a seccomp filter refuses syncfs and io_uring (as some container
/// runtimes do), a transaction still flushes, each file the plain way, and
/// the command succeeds: a refused way to flush is not a failed flush.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn refused_syncfs_and_io_uring_still_flush_and_commit() {
    use std::os::unix::process::CommandExt;
    let env = Env::new();
    env.minica(&["init"]).ok();
    // Little waiting to be written, so that minica tries syncfs first.
    // SAFETY: sync(2) takes nothing.
    unsafe { libc::sync() };
    let mut cmd = env.command(&["issue", "refused.test", "--out-dir", "out", "-q"]);
    // SAFETY: prctl(2) with a filter that outlives the call, between fork
    // and exec; nothing allocates.
    unsafe {
        cmd.pre_exec(|| {
            const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
            let stmt = |code: u32, k: u32| libc::sock_filter {
                code: code as u16,
                jt: 0,
                jf: 0,
                k,
            };
            let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
                code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
                jt,
                jf,
                k,
            };
            let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
            let filter = [
                stmt(load, 4), // seccomp_data.arch
                jeq(AUDIT_ARCH_X86_64, 0, 3),
                stmt(load, 0), // seccomp_data.nr
                jeq(libc::SYS_syncfs as u32, 2, 0),
                jeq(libc::SYS_io_uring_setup as u32, 1, 0),
                stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
                stmt(
                    libc::BPF_RET | libc::BPF_K,
                    libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
                ),
            ];
            let prog = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr() as *mut libc::sock_filter,
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &prog as *const libc::sock_fprog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.openssl_verifies("out/cert.pem");
    let list = env.minica(&["list", "--json"]).ok().json();
    assert_eq!(list["certificates"].as_array().unwrap().len(), 1);
}
