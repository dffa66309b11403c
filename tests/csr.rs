//! Signing CSRs made by real tools (openssl req, keytool -certreq, minica
//! csr) under policy, and refusing bad ones without writing anything.

mod common;
use common::*;

/// The subjectAltName entries of a certificate, as OpenSSL prints them.
fn sans(cert: &str) -> String {
    openssl(&["x509", "-in", cert, "-noout", "-ext", "subjectAltName"])
        .ok()
        .stdout
        .lines()
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn openssl_csr(env: &Env, name: &str, newkey: &[&str], san: &str, extra: &[&str]) -> String {
    let csr = env.s(&format!("{name}.csr"));
    let mut args = vec![
        "req",
        "-new",
        "-nodes",
        "-keyout",
        &*Box::leak(env.s(&format!("{name}.key")).into_boxed_str()),
        "-out",
        &csr,
        "-subj",
        &*Box::leak(format!("/CN={name}").into_boxed_str()),
    ];
    args.extend_from_slice(newkey);
    let san_ext = format!("subjectAltName={san}");
    args.extend_from_slice(&["-addext", &san_ext]);
    args.extend_from_slice(extra);
    openssl(&args).ok();
    csr
}

#[test]
fn openssl_csrs_of_every_key_type_are_signed_with_exactly_their_names() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    let kinds: [(&str, &[&str]); 4] = [
        ("rsa2048.test", &["-newkey", "rsa:2048"]),
        (
            "p256.test",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        ),
        (
            "p384.test",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        ),
        ("ed25519.test", &["-newkey", "ed25519"]),
    ];
    for (name, newkey) in kinds {
        let san = format!("DNS:{name},DNS:www.{name},IP:192.0.2.1");
        let csr = openssl_csr(&env, name, newkey, &san, &[]);
        let j = env.minica(&["issue", "--csr", &csr, "--json"]).ok().json();
        assert!(
            j["files"]["key"].is_null(),
            "no key is written for a CSR: {j}"
        );
        let cert = env.s(&format!("{name}/cert.pem"));
        openssl(&[
            "verify",
            "-CAfile",
            &env.s(&format!("{name}/ca.pem")),
            "-purpose",
            "sslserver",
            "-verify_hostname",
            &format!("www.{name}"),
            &cert,
        ])
        .ok();
        assert_eq!(
            sans(&cert),
            format!("DNS:{name}, DNS:www.{name}, IP Address:192.0.2.1")
        );
        assert!(!env.file(&format!("{name}/key.pem")).exists());
        // The certificate carries the CSR's key.
        let cert_pub = openssl(&["x509", "-in", &cert, "-noout", "-pubkey"])
            .ok()
            .stdout;
        let csr_pub = openssl(&["req", "-in", &csr, "-noout", "-pubkey"])
            .ok()
            .stdout;
        assert_eq!(cert_pub, csr_pub, "{name}");
    }
    // A client profile for a CSR: sslclient passes, sslserver does not.
    let csr = openssl_csr(
        &env,
        "bob",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "email:bob@corp.test",
        &[],
    );
    env.minica(&["issue", "--csr", &csr, "--client", "--out-dir", "bob"])
        .ok();
    openssl(&[
        "verify",
        "-CAfile",
        &env.s("bob/ca.pem"),
        "-purpose",
        "sslclient",
        &env.s("bob/cert.pem"),
    ])
    .ok();
    assert_ne!(
        openssl(&[
            "verify",
            "-CAfile",
            &env.s("bob/ca.pem"),
            "-purpose",
            "sslserver",
            &env.s("bob/cert.pem")
        ])
        .code,
        0
    );
    // Recorded like any other certificate.
    let list = env.minica(&["list", "--json"]).ok().json();
    assert_eq!(list["certificates"].as_array().unwrap().len(), 5);
}

#[test]
fn csr_from_common_name_and_extra_names() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    let csr = env.s("cn.csr");
    openssl(&[
        "req",
        "-new",
        "-nodes",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-keyout",
        &env.s("cn.key"),
        "-out",
        &csr,
        "-subj",
        "/CN=cn-only.test",
    ])
    .ok();
    env.minica(&[
        "issue",
        "--csr",
        &csr,
        "--san",
        "alias.test",
        "--san",
        "127.0.0.1",
    ])
    .ok();
    assert_eq!(
        sans(&env.s("cn-only.test/cert.pem")),
        "DNS:cn-only.test, DNS:alias.test, IP Address:127.0.0.1"
    );
}

#[test]
fn requested_powers_are_dropped_with_a_warning() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    let csr = openssl_csr(
        &env,
        "greedy.test",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "DNS:greedy.test",
        &[
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            "-addext",
            "extendedKeyUsage=serverAuth,codeSigning,clientAuth",
        ],
    );
    let r = env.minica(&["issue", "--csr", &csr]).ok();
    assert!(r.stderr.contains("CA:TRUE; ignored"), "{}", r.stderr);
    assert!(
        r.stderr.contains("dropped: keyCertSign, cRLSign"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("dropped: clientAuth, codeSigning"),
        "{}",
        r.stderr
    );
    let text = x509_text(&env.file("greedy.test/cert.pem"));
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(
        !text.contains("Certificate Sign")
            && !text.contains("Code Signing")
            && !text.contains("Client Authentication"),
        "{text}"
    );
    // It cannot act as a CA: a leaf "signed" by it does not verify.
    assert!(text.contains("TLS Web Server Authentication"));
}

/// keytool's CSRs carry a Subject Key Identifier request, which rcgen's CSR
/// parser rejects: they must work here, for RSA and EC keys.
#[test]
fn keytool_csrs_and_the_java_round_trip() {
    for (alg, extra) in [
        ("RSA", &["-keysize", "2048"][..]),
        ("EC", &["-groupname", "secp384r1"][..]),
    ] {
        let env = Env::new();
        env.minica(&["init"]).ok();
        let ks = env.s("server.p12");
        let mut genkey = vec![
            "-genkeypair",
            "-alias",
            "server",
            "-keyalg",
            alg,
            "-dname",
            "CN=java.test",
            "-ext",
            "san=dns:java.test,ip:127.0.0.1",
            "-validity",
            "30",
            "-keystore",
            &ks,
            "-storetype",
            "PKCS12",
            "-storepass",
            "changeit",
        ];
        genkey.extend_from_slice(extra);
        run("keytool", &genkey).ok();
        let csr = env.s("java.csr");
        run(
            "keytool",
            &[
                "-certreq",
                "-alias",
                "server",
                "-keystore",
                &ks,
                "-storepass",
                "changeit",
                "-file",
                &csr,
                "-ext",
                "san=dns:java.test,ip:127.0.0.1",
            ],
        )
        .ok();

        env.minica(&["issue", "--csr", &csr]).ok();
        let cert = env.s("java.test/cert.pem");
        openssl(&[
            "verify",
            "-CAfile",
            &env.s("java.test/ca.pem"),
            "-purpose",
            "sslserver",
            "-verify_hostname",
            "java.test",
            &cert,
        ])
        .ok();
        assert_eq!(sans(&cert), "DNS:java.test, IP Address:127.0.0.1");

        // The CA first, then the signed reply into the key's own entry.
        run(
            "keytool",
            &[
                "-importcert",
                "-noprompt",
                "-alias",
                "minica-root",
                "-file",
                &env.s("java.test/ca.pem"),
                "-keystore",
                &ks,
                "-storepass",
                "changeit",
            ],
        )
        .ok();
        let reply = run(
            "keytool",
            &[
                "-importcert",
                "-alias",
                "server",
                "-file",
                &cert,
                "-keystore",
                &ks,
                "-storepass",
                "changeit",
            ],
        )
        .ok();
        let said = format!("{}{}", reply.stdout, reply.stderr);
        assert!(
            said.contains("Certificate reply was installed"),
            "{alg}: {said}"
        );
        let list = run(
            "keytool",
            &[
                "-list",
                "-v",
                "-alias",
                "server",
                "-keystore",
                &ks,
                "-storepass",
                "changeit",
            ],
        )
        .ok();
        assert!(
            list.stdout.contains("Entry type: PrivateKeyEntry"),
            "{}",
            list.stdout
        );
        assert!(
            list.stdout.contains("Certificate chain length: 2"),
            "{alg}: {}",
            list.stdout
        );
    }
}

#[test]
fn minica_on_both_ends() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    let made = env
        .minica(&[
            "csr",
            "svc.test",
            "10.9.8.7",
            "--key-type",
            "ecdsa-p384",
            "--out-dir",
            "svc",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(made["key_type"], "ecdsa-p384");
    assert_eq!(mode(&env.file("svc/key.pem")), 0o600);
    openssl(&["req", "-in", &env.s("svc/csr.pem"), "-noout", "-verify"]).ok();
    env.minica(&["issue", "--csr", &env.s("svc/csr.pem"), "--out-dir", "svc"])
        .ok();
    openssl(&[
        "verify",
        "-CAfile",
        &env.s("svc/ca.pem"),
        "-purpose",
        "sslserver",
        "-verify_ip",
        "10.9.8.7",
        &env.s("svc/cert.pem"),
    ])
    .ok();
    assert_eq!(
        sans(&env.s("svc/cert.pem")),
        "DNS:svc.test, IP Address:10.9.8.7"
    );
    let key_pub = openssl(&["pkey", "-in", &env.s("svc/key.pem"), "-pubout"])
        .ok()
        .stdout;
    let cert_pub = openssl(&["x509", "-in", &env.s("svc/cert.pem"), "-noout", "-pubkey"])
        .ok()
        .stdout;
    assert_eq!(key_pub, cert_pub);
}

#[test]
fn bad_csrs_are_refused_and_nothing_is_written() {
    let env = Env::new();
    env.minica(&["init", "--permit", ".test"]).ok();
    // A policy that allows only names under corp.test.
    std::fs::write(
        env.ca_dir().join("ca.toml"),
        "[policy]\nnames = [\"corp.test\"]\n",
    )
    .unwrap();

    let ec = &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"][..];
    let good = openssl_csr(&env, "a.corp.test", ec, "DNS:a.corp.test", &[]);
    // DER form of the good CSR, and one with a flipped signature byte.
    let der = env.file("good.der");
    openssl(&[
        "req",
        "-in",
        &good,
        "-outform",
        "DER",
        "-out",
        der.to_str().unwrap(),
    ])
    .ok();
    let mut flipped = std::fs::read(&der).unwrap();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    std::fs::write(env.file("flipped.der"), &flipped).unwrap();
    let good_pem = std::fs::read_to_string(&good).unwrap();
    std::fs::write(env.file("truncated.csr"), &good_pem[..good_pem.len() / 2]).unwrap();
    let der_bytes = std::fs::read(&der).unwrap();
    std::fs::write(
        env.file("truncated.der"),
        &der_bytes[..der_bytes.len() - 10],
    )
    .unwrap();
    std::fs::write(env.file("junk.csr"), b"\x00\x01garbage\xff").unwrap();
    std::fs::write(env.file("empty.csr"), b"").unwrap();
    let outside_policy = openssl_csr(&env, "x.other.test", ec, "DNS:x.other.test", &[]);
    let outside_ca = openssl_csr(&env, "evil.example", ec, "DNS:evil.example", &[]);
    let weak = openssl_csr(
        &env,
        "weak.corp.test",
        &["-newkey", "rsa:1024"],
        "DNS:weak.corp.test",
        &[],
    );
    let p521 = openssl_csr(
        &env,
        "p521.corp.test",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"],
        "DNS:p521.corp.test",
        &[],
    );

    // The good one works, in DER too (then it is removed to start clean).
    env.minica(&["issue", "--csr", der.to_str().unwrap(), "--out-dir", "ok"])
        .ok();
    std::fs::remove_dir_all(env.file("ok")).unwrap();

    let cases: Vec<(String, &str)> = vec![
        (env.s("flipped.der"), "signature does not verify"),
        (env.s("truncated.csr"), "truncated.csr"),
        (env.s("truncated.der"), "truncated or corrupt"),
        (env.s("junk.csr"), "is not a certificate signing request"),
        (env.s("empty.csr"), "empty.csr"),
        (
            env.ca_dir().join("ca.pem").to_string_lossy().into_owned(),
            "not a certificate signing request",
        ),
        (env.s("nonexistent.csr"), "no such file"),
        (env.path().to_string_lossy().into_owned(), "is a directory"),
        (outside_policy, "policy.names"),
        (outside_ca, "outside the CA's name constraints"),
        (weak, "RSA-1024"),
        (p521, "policy.allowed_keys"),
    ];
    for (csr, needle) in cases {
        let before = snapshot(env.path());
        let r = env
            .minica(&["issue", "--csr", &csr, "--out-dir", "out"])
            .fails_with(2);
        r.one_sentence_naming(needle);
        assert_eq!(
            before,
            snapshot(env.path()),
            "{csr}: something changed on disk"
        );
    }
}
