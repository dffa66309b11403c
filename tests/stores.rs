//! Keystores and truststores, checked by keytool, openssl pkcs12, curl and a
//! real JSSE handshake.

mod common;
use common::*;

const PW: &str = "changeit";

/// A CA with a server and a client certificate of `key_type`, and a
/// password file.
fn setup(key_type: &str) -> Env {
    let env = Env::new();
    env.minica(&["init"]).ok();
    env.minica(&["issue", "localhost", "--key-type", key_type])
        .ok();
    env.minica(&["issue", "--client", "alice", "--key-type", key_type])
        .ok();
    std::fs::write(env.file("pw"), format!("{PW}\n")).unwrap();
    env
}

fn keytool_list(store: &str, pw: &str) -> String {
    run(
        "keytool",
        &["-list", "-v", "-keystore", store, "-storepass", pw],
    )
    .ok()
    .stdout
}

#[test]
fn keytool_reads_every_store_minica_writes() {
    let other = Env::new();
    other.minica(&["init", "--cn", "Other Root"]).ok();
    let other_root = other.ca_dir().join("ca.pem");
    for key_type in ["ecdsa-p256", "rsa-2048", "ed25519"] {
        let env = setup(key_type);
        let pwf = env.s("pw");
        for (label, extra) in [
            ("p12", &["--format", "p12"][..]),
            ("compat", &["--compat"][..]),
            ("jks", &["--format", "jks"][..]),
        ] {
            let ext = if label == "jks" { "jks" } else { "p12" };
            let ks = env.s(&format!("ks-{label}.{ext}"));
            let ts = env.s(&format!("ts-{label}.{ext}"));
            let mut args = vec![
                "keystore",
                "localhost",
                "--password-file",
                &pwf,
                "--out",
                &ks,
            ];
            args.extend_from_slice(extra);
            env.minica(&args).ok();
            let mut args = vec![
                "truststore",
                "--add",
                other_root.to_str().unwrap(),
                "--password-file",
                &pwf,
                "--out",
                &ts,
            ];
            args.extend_from_slice(extra);
            env.minica(&args).ok();

            let list = keytool_list(&ks, PW);
            let what = format!("{key_type} {label}");
            assert!(
                list.contains("Your keystore contains 1 entry"),
                "{what}: {list}"
            );
            assert!(list.contains("Alias name: localhost"), "{what}: {list}");
            assert!(
                list.contains("Entry type: PrivateKeyEntry"),
                "{what}: {list}"
            );
            assert!(
                list.contains("Certificate chain length: 2"),
                "{what}: {list}"
            );
            let list = keytool_list(&ts, PW);
            assert_eq!(
                list.matches("Entry type: trustedCertEntry").count(),
                2,
                "{what}: {list}"
            );
            assert!(!list.contains("PrivateKeyEntry"), "{what}: {list}");
            assert!(list.contains("other-root"), "{what}: {list}");

            // Java can also recover the key, not just list the entry.
            let jl = java(&["list", &ks, &pwf]).ok().stdout;
            assert!(
                jl.contains("key localhost") && jl.contains("chain=2"),
                "{what}: {jl}"
            );
        }
        assert_eq!(
            mode(&env.file("ks-p12.p12")),
            0o600,
            "a keystore holds a key"
        );
    }
}

#[test]
fn openssl_reads_default_and_compat_pkcs12_without_legacy() {
    let env = setup("ecdsa-p256");
    let pwf = env.s("pw");
    env.minica(&["keystore", "localhost", "--password-file", &pwf])
        .ok();
    env.minica(&[
        "keystore",
        "localhost",
        "--password-file",
        &pwf,
        "--compat",
        "--out",
        &env.s("compat.p12"),
    ])
    .ok();
    let info = openssl(&[
        "pkcs12",
        "-info",
        "-in",
        &env.s("localhost/keystore.p12"),
        "-passin",
        &format!("pass:{PW}"),
        "-nokeys",
    ])
    .ok();
    assert!(
        info.stderr
            .contains("PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256"),
        "{}",
        info.stderr
    );
    assert!(info.stderr.contains("MAC: sha256"), "{}", info.stderr);
    let compat = openssl(&[
        "pkcs12",
        "-info",
        "-in",
        &env.s("compat.p12"),
        "-passin",
        &format!("pass:{PW}"),
        "-nokeys",
    ])
    .ok();
    assert!(
        compat.stderr.contains("pbeWithSHA1And3-KeyTripleDES-CBC"),
        "{}",
        compat.stderr
    );
    assert!(compat.stderr.contains("MAC: sha1"), "{}", compat.stderr);
    // The key inside is the certificate's.
    let key = openssl(&[
        "pkcs12",
        "-in",
        &env.s("localhost/keystore.p12"),
        "-passin",
        &format!("pass:{PW}"),
        "-nocerts",
        "-nodes",
    ])
    .ok()
    .stdout;
    std::fs::write(env.file("k.pem"), key).unwrap();
    let a = openssl(&["pkey", "-in", &env.s("k.pem"), "-pubout"])
        .ok()
        .stdout;
    let b = openssl(&[
        "x509",
        "-in",
        &env.s("localhost/cert.pem"),
        "-noout",
        "-pubkey",
    ])
    .ok()
    .stdout;
    assert_eq!(a, b);
    // Iterations can be set.
    env.minica(&[
        "truststore",
        "--password-file",
        &pwf,
        "--iterations",
        "2048",
    ])
    .ok();
    let t = openssl(&[
        "pkcs12",
        "-info",
        "-in",
        &env.s("truststore.p12"),
        "-passin",
        &format!("pass:{PW}"),
        "-nokeys",
    ])
    .ok();
    assert!(t.stderr.contains("Iteration 2048"), "{}", t.stderr);
}

/// A JSSE server and client with minica's stores, mutual TLS, for p12 and
/// jks. The JKS pair uses a non-ASCII password (UTF-16 in JKS); Java 17
/// refuses non-ASCII PKCS#12 passwords itself (see `non_ascii_passwords`).
#[test]
fn java_mutual_tls_handshake() {
    for key_type in ["ecdsa-p256", "rsa-2048", "ed25519"] {
        let env = setup(key_type);
        for format in ["p12", "jks"] {
            let pw = if format == "jks" {
                "pässwörd-€\n"
            } else {
                "changeit\n"
            };
            std::fs::write(env.file("pw"), pw).unwrap();
            let pwf = env.s("pw");
            let f = |s: &str| env.s(&format!("{s}.{format}"));
            env.minica(&[
                "keystore",
                "localhost",
                "--format",
                format,
                "--password-file",
                &pwf,
                "--out",
                &f("server"),
            ])
            .ok();
            env.minica(&[
                "keystore",
                "alice",
                "--format",
                format,
                "--password-file",
                &pwf,
                "--out",
                &f("client"),
            ])
            .ok();
            env.minica(&[
                "truststore",
                "--format",
                format,
                "--password-file",
                &pwf,
                "--out",
                &f("trust"),
            ])
            .ok();

            let cp = java_peer();
            let mut server = Background::spawn(
                "java",
                &[
                    "-cp",
                    cp.to_str().unwrap(),
                    "TlsPeer",
                    "server",
                    &f("server"),
                    &f("trust"),
                    &pwf,
                ],
            );
            let port = server.read_until("PORT ");
            let ok = java(&[
                "client",
                &f("client"),
                &f("trust"),
                &pwf,
                "localhost",
                &port,
                "ping",
            ])
            .ok();
            assert!(
                ok.stdout.contains("hello ping from") && ok.stdout.contains("CN=alice"),
                "{key_type} {format}: {}",
                ok.stdout
            );

            // The same client trusting another CA refuses the server.
            let other = Env::new();
            other.minica(&["init"]).ok();
            let other_trust = env.s(&format!("other-trust.{format}"));
            other
                .minica(&[
                    "truststore",
                    "--format",
                    format,
                    "--password-file",
                    &pwf,
                    "--out",
                    &other_trust,
                ])
                .ok();
            let bad = java(&[
                "client",
                &f("client"),
                &other_trust,
                &pwf,
                "localhost",
                &port,
                "ping",
            ]);
            assert_ne!(bad.code, 0, "{key_type} {format}: {}", bad.stdout);
            assert!(bad.stdout.contains("PKIX path"), "{}", bad.stdout);
            // And the server refuses a client without a certificate.
            let anon = java(&["client", "-", &f("trust"), &pwf, "localhost", &port, "ping"]);
            assert_ne!(anon.code, 0, "{key_type} {format}: {}", anon.stdout);
        }
    }
}

/// Non-ASCII passwords: PKCS#12 encodes them as BMPString (OpenSSL reads
/// it); Java before 25 refuses them in PKCS#12, so minica warns; JKS with
/// the same password opens in Java (UTF-16).
#[test]
fn non_ascii_passwords() {
    let env = setup("ecdsa-p256");
    std::fs::write(env.file("pw"), "pässwörd-€\n").unwrap();
    let pwf = env.s("pw");
    let r = env
        .minica(&["keystore", "localhost", "--password-file", &pwf])
        .ok();
    assert!(r.stderr.contains("not ASCII"), "{}", r.stderr);
    let info = openssl(&[
        "pkcs12",
        "-info",
        "-in",
        &env.s("localhost/keystore.p12"),
        "-passin",
        &format!("file:{pwf}"),
        "-nokeys",
    ])
    .ok();
    assert!(info.stdout.contains("BEGIN CERTIFICATE"), "{}", info.stdout);
    let r = env
        .minica(&[
            "keystore",
            "localhost",
            "--format",
            "jks",
            "--password-file",
            &pwf,
        ])
        .ok();
    assert!(!r.stderr.contains("not ASCII"), "{}", r.stderr);
    let jl = java(&["list", &env.s("localhost/keystore.jks"), &pwf])
        .ok()
        .stdout;
    assert!(jl.contains("key localhost EC chain=2"), "{jl}");
}

#[test]
fn curl_with_a_pkcs12_client_certificate() {
    let env = setup("ecdsa-p256");
    let pwf = env.s("pw");
    env.minica(&["keystore", "alice", "--password-file", &pwf])
        .ok();
    let port = free_port();
    let ca = env.s("localhost/ca.pem");
    let mut server = Background::spawn(
        "openssl",
        &[
            "s_server",
            "-www",
            "-4",
            "-accept",
            &port.to_string(),
            "-cert",
            &env.s("localhost/chain.pem"),
            "-key",
            &env.s("localhost/key.pem"),
            "-Verify",
            "1",
            "-verify_return_error",
            "-CAfile",
            &ca,
        ],
    );
    server.wait_for_port(port);
    let url = format!("https://localhost:{port}/");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let cert = format!("{}:{PW}", env.s("alice/keystore.p12"));
    let r = run(
        "curl",
        &[
            "-sS",
            "--resolve",
            &resolve,
            "--cacert",
            &ca,
            "--cert-type",
            "P12",
            "--cert",
            &cert,
            &url,
        ],
    )
    .ok();
    assert!(r.stdout.contains("Client certificate"), "{}", r.stdout);
    assert!(
        r.stdout.contains("CN = alice") || r.stdout.contains("CN=alice"),
        "{}",
        r.stdout
    );
    // Without the client certificate the server refuses.
    let r = run(
        "curl",
        &["-sS", "--resolve", &resolve, "--cacert", &ca, &url],
    );
    assert_ne!(r.code, 0, "{r:?}");
}

#[test]
fn issue_makes_both_stores_in_one_step() {
    let env = Env::new();
    std::fs::write(env.file("pw"), format!("{PW}\n")).unwrap();
    let j = env
        .minica(&[
            "issue",
            "ci.test",
            "--keystore",
            "--truststore",
            "--password-file",
            &env.s("pw"),
            "--json",
        ])
        .ok()
        .json();
    assert!(
        j["files"]["keystore"]
            .as_str()
            .unwrap()
            .ends_with("ci.test/keystore.p12"),
        "{j}"
    );
    let list = keytool_list(&env.s("ci.test/keystore.p12"), PW);
    assert!(
        list.contains("PrivateKeyEntry") && list.contains("Certificate chain length: 2"),
        "{list}"
    );
    let list = keytool_list(&env.s("ci.test/truststore.p12"), PW);
    assert!(list.contains("trustedCertEntry"), "{list}");
    // The password may come from the environment (documented default variable) or stdin.
    let out = std::process::Command::new(BIN)
        .args(["issue", "env.test", "--keystore", "--format", "jks"])
        .current_dir(env.path())
        .env("MINICA_CA_DIR", env.ca_dir())
        .env("MINICA_STORE_PASSWORD", PW)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(keytool_list(&env.s("env.test/keystore.jks"), PW).contains("PrivateKeyEntry"));
    let r = run_with_input(
        BIN,
        &[
            "truststore",
            "--ca-dir",
            env.ca_dir().to_str().unwrap(),
            "--password-stdin",
            "--out",
            &env.s("stdin.p12"),
        ],
        b"changeit\n",
    )
    .ok();
    assert!(r.stdout.contains("Wrote truststore"), "{}", r.stdout);
    assert!(keytool_list(&env.s("stdin.p12"), PW).contains("trustedCertEntry"));
}

#[test]
fn short_password_warns() {
    let env = setup("ecdsa-p256");
    std::fs::write(env.file("short"), "abc\n").unwrap();
    let r = env
        .minica(&["truststore", "--password-file", &env.s("short")])
        .ok();
    assert!(r.stderr.contains("shorter than 6"), "{}", r.stderr);
}

#[test]
fn store_bad_input_is_refused_and_nothing_is_written() {
    let env = setup("ecdsa-p256");
    let pwf = env.s("pw");
    // A certificate issued from a CSR has no key here.
    env.minica(&["csr", "remote.test", "--out-dir", "remote-key"])
        .ok();
    env.minica(&["issue", "--csr", &env.s("remote-key/csr.pem")])
        .ok();
    std::fs::write(env.file("junk.pem"), "not a certificate").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["keystore", "remote.test", "--password-file", "PW"],
            "no key",
        ),
        (
            &["keystore", "nothing.test", "--password-file", "PW"],
            "no certificate here",
        ),
        (
            &[
                "keystore",
                "--cert",
                "localhost/cert.pem",
                "--key",
                "alice/key.pem",
                "--password-file",
                "PW",
            ],
            "does not belong",
        ),
        (
            &["truststore", "--add", "junk.pem", "--password-file", "PW"],
            "junk.pem",
        ),
        (
            &[
                "truststore",
                "--add",
                "localhost/key.pem",
                "--password-file",
                "PW",
            ],
            "PRIVATE KEY",
        ),
        (
            &["truststore", "--password-file", "missing-pw"],
            "missing-pw",
        ),
        (&["keystore", "localhost"], "no store password given"),
        (
            &["issue", "nopw.test", "--keystore"],
            "no store password given",
        ),
        (
            &[
                "issue",
                "--csr",
                "remote-key/csr.pem",
                "--keystore",
                "--password-file",
                "PW",
            ],
            "--keystore needs the key",
        ),
    ];
    for (args, needle) in cases {
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                if *a == "PW" {
                    pwf.clone()
                } else {
                    a.to_string()
                }
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let before = snapshot(env.path());
        let r = env.minica(&args).fails_with(2);
        r.one_sentence_naming(needle);
        assert_eq!(before, snapshot(env.path()), "{args:?} changed something");
    }
    // An existing store is not replaced without --force.
    env.minica(&["truststore", "--password-file", &pwf]).ok();
    let before = snapshot(env.path());
    env.minica(&["truststore", "--password-file", &pwf])
        .fails_with(3)
        .one_sentence_naming("truststore.p12");
    assert_eq!(before, snapshot(env.path()));
}

#[test]
fn a_missing_password_creates_nothing_not_even_a_ca() {
    let env = Env::new();
    let before = snapshot(env.path());
    env.minica(&["issue", "first.test", "--keystore"])
        .fails_with(2)
        .one_sentence_naming("no store password given");
    assert_eq!(before, snapshot(env.path()));
    assert!(!env.ca_dir().exists());
}
