//! The life of a CA: an intermediate that signs while the root stays
//! offline, subordinate CAs for other engines, revocation with CRLs, and
//! renewal, each checked by software minica did not write (openssl verify
//! with -crl_check, s_client, curl, a JSSE client through the
//! intermediate).

mod common;
use common::*;

use std::path::Path;

const LOGIN: &str = "<Body><UserName>alice</UserName><Password>pw</Password></Body>";

/// `minica` with the CA passphrase in the environment (for root operations).
fn with_pass(env: &Env, args: &[&str]) -> Run {
    let out = std::process::Command::new(BIN)
        .args(args)
        .current_dir(env.path())
        .env("MINICA_CA_DIR", env.ca_dir())
        .env("MINICA_CA_PASSWORD", "a root passphrase")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        what: format!("minica {}", args.join(" ")),
    }
}

fn verify_with_openssl(env: &Env, leaf_dir: &str, extra: &[&str]) -> Run {
    let chain = std::fs::read_to_string(env.file(&format!("{leaf_dir}/chain.pem"))).unwrap();
    // Everything after the leaf is untrusted intermediates.
    let rest = chain
        .split_once(
            "-----END CERTIFICATE-----
",
        )
        .map_or("", |(_, rest)| rest);
    std::fs::write(env.file("untrusted.pem"), rest).unwrap();
    let ca = env.ca_dir().join("ca.pem");
    let mut args = vec![
        "verify".to_string(),
        "-CAfile".into(),
        ca.to_string_lossy().into_owned(),
    ];
    if !rest.is_empty() {
        args.push("-untrusted".into());
        args.push(env.s("untrusted.pem"));
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(env.s(&format!("{leaf_dir}/cert.pem")));
    openssl(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn an_intermediate_signs_while_the_root_stays_offline() {
    let env = Env::new();
    with_pass(
        &env,
        &[
            "init",
            "--encrypt",
            "--permit",
            ".test",
            "--permit",
            "localhost",
            "--permit",
            "127.0.0.0/8",
        ],
    )
    .ok();
    // Making the intermediate needs the root's passphrase...
    env.minica(&["ca", "intermediate", "daily"]).fails_with(2);
    let r = with_pass(&env, &["ca", "intermediate", "daily"]).ok();
    assert!(
        r.stdout.contains("Leaves are now signed by daily"),
        "{}",
        r.stdout
    );
    // ...issuing never does: no passphrase is given here.
    env.minica(&["issue", "localhost", "127.0.0.1"]).ok();
    let chain = std::fs::read_to_string(env.file("localhost/chain.pem")).unwrap();
    assert_eq!(
        chain.matches("BEGIN CERTIFICATE").count(),
        2,
        "leaf + intermediate"
    );
    assert_eq!(
        std::fs::read(env.file("localhost/ca.pem")).unwrap(),
        std::fs::read(env.ca_dir().join("ca.pem")).unwrap(),
        "ca.pem is the root"
    );
    verify_with_openssl(&env, "localhost", &["-purpose", "sslserver"]).ok();
    // Without the intermediate, openssl cannot build the path.
    let r = openssl(&[
        "verify",
        "-CAfile",
        &env.ca_dir().join("ca.pem").to_string_lossy(),
        &env.s("localhost/cert.pem"),
    ]);
    assert_ne!(r.code, 0);
    // minica verify agrees, and explains the intermediate.
    let v = env
        .minica(&[
            "verify",
            "localhost/chain.pem",
            "--host",
            "localhost",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(v["valid"], true, "{v}");
    // The intermediate inherited the root's name constraints.
    let text = x509_text(&env.ca_dir().join("issuers/daily/cert.pem"));
    assert!(
        text.contains("DNS:test") && text.contains("CA:TRUE, pathlen:0"),
        "{text}"
    );
    env.minica(&["issue", "evil.example"])
        .fails_with(2)
        .one_sentence_naming("evil.example");

    // A real TLS handshake through the intermediate: the example server
    // presents chain.pem; openssl s_client, curl, the JSSE client and the
    // example client trust the root alone.
    std::fs::write(env.file("pw"), "changeit\n").unwrap();
    env.minica(&["truststore", "--out", "ts.p12", "--password-file", "pw"])
        .ok();
    let (server, port) = tls_server(
        &env.file("localhost/chain.pem"),
        &env.file("localhost/key.pem"),
    );
    let root = env.ca_dir().join("ca.pem").to_string_lossy().into_owned();
    let r = run_with_input(
        "openssl",
        &[
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
            "-verify_return_error",
            "-verify_hostname",
            "localhost",
            "-CAfile",
            &root,
        ],
        format!("{LOGIN}\n").as_bytes(),
    );
    assert!(r.stdout.contains("Verify return code: 0 (ok)"), "{r:?}");
    let r = run(
        "curl",
        &[
            "-sS",
            "--cacert",
            &root,
            "--resolve",
            &format!("localhost:{port}:127.0.0.1"),
            "--data-binary",
            LOGIN,
            &format!("https://localhost:{port}/"),
        ],
    )
    .ok();
    assert!(r.stdout.contains("<Status>OK</Status>"), "{r:?}");
    let r = java(&[
        "client",
        "-",
        &env.s("ts.p12"),
        &env.s("pw"),
        "localhost",
        &port,
        LOGIN,
    ])
    .ok();
    assert!(r.stdout.contains("<Status>OK</Status>"), "{r:?}");
    let r = run(
        &example("tls_client"),
        &[
            "--ca",
            &root,
            "--host",
            "localhost",
            "--port",
            &port,
            "--user",
            "alice",
        ],
    )
    .ok();
    assert!(r.stdout.contains("<Status>OK</Status>"), "{r:?}");
    drop(server);
}

#[test]
fn java_refuses_a_forged_leaf_outside_the_intermediates_constraints() {
    // The default of `init --permit`: leaves come from the constrained
    // intermediate `issuing`. A thief of its key forges a leaf for
    // evil.example (minica would refuse to sign it): OpenSSL and Java both
    // refuse it.
    let env = Env::new();
    env.minica(&["init", "--permit", "localhost", "--permit", "127.0.0.0/8"])
        .ok();
    let idir = env.ca_dir().join("issuers/issuing");
    let (openssl_ok, java_ok) = forge_and_try(&env, &idir.join("cert.pem"), &idir.join("key.pem"));
    assert!(
        !openssl_ok,
        "OpenSSL accepted a leaf outside the intermediate's constraints"
    );
    assert!(
        !java_ok,
        "Java accepted a leaf outside the intermediate's constraints"
    );

    // Why that is the default: with the constraints on the root alone
    // (--no-intermediate), the same forgery signed by the root's key is
    // refused by OpenSSL but accepted by Java, whose PKIX does not apply a
    // trust anchor's name constraints.
    let env = Env::new();
    env.minica(&[
        "init",
        "--permit",
        "localhost",
        "--permit",
        "127.0.0.0/8",
        "--no-intermediate",
    ])
    .ok();
    assert!(!env.ca_dir().join("issuers").exists());
    let ca = env.ca_dir();
    let (openssl_ok, java_ok) = forge_and_try(&env, &ca.join("ca.pem"), &ca.join("ca-key.pem"));
    assert!(!openssl_ok, "OpenSSL applies the root's constraints");
    assert!(
        java_ok,
        "Java now applies a trust anchor's name constraints: revisit the README"
    );
}

/// Forges a server leaf for evil.example signed by `ca_key`, serves it,
/// and reports whether `openssl verify` and a JSSE client (trusting the
/// root) accept it.
fn forge_and_try(env: &Env, ca_cert: &Path, ca_key: &Path) -> (bool, bool) {
    let d = env.file("forged");
    std::fs::create_dir(&d).unwrap();
    let key = d.join("key.pem");
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
    let csr = d.join("csr.pem");
    openssl(&[
        "req",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        "/CN=evil.example",
        "-out",
        csr.to_str().unwrap(),
    ])
    .ok();
    std::fs::write(d.join("ext"), "subjectAltName=DNS:evil.example\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        csr.to_str().unwrap(),
        "-CA",
        &ca_cert.to_string_lossy(),
        "-CAkey",
        &ca_key.to_string_lossy(),
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        &d.join("ext").to_string_lossy(),
        "-out",
        &d.join("cert.pem").to_string_lossy(),
    ])
    .ok();
    let mut chain = std::fs::read_to_string(d.join("cert.pem")).unwrap();
    if ca_cert != env.ca_dir().join("ca.pem") {
        chain.push_str(&std::fs::read_to_string(ca_cert).unwrap());
    }
    std::fs::write(d.join("chain.pem"), chain).unwrap();
    let r = verify_with_openssl(env, "forged", &[]);
    let openssl_ok = r.code == 0;
    if !openssl_ok {
        assert!(r.stderr.contains("subtree violation"), "{r:?}");
    }
    std::fs::write(env.file("pw"), "changeit\n").unwrap();
    env.minica(&["truststore", "--out", "ts.p12", "--password-file", "pw"])
        .ok();
    let (server, port) = tls_server(&d.join("chain.pem"), &key);
    let r = java(&[
        "client",
        "-",
        &env.s("ts.p12"),
        &env.s("pw"),
        "evil.example",
        &port,
        LOGIN,
    ]);
    drop(server);
    (openssl_ok, r.stdout.contains("<Status>OK</Status>"))
}

#[test]
fn a_root_without_room_refuses_an_intermediate_with_the_fix() {
    let env = Env::new();
    std::fs::write(env.file("ca.toml"), "[ca]\npath_len = 0\n").unwrap();
    env.minica(&["init", "--config", "ca.toml"]).ok();
    let before = snapshot(env.path());
    env.minica(&["ca", "intermediate", "daily"])
        .fails_with(2)
        .one_sentence_naming("pathLenConstraint 0");
    assert_eq!(before, snapshot(env.path()));
}

#[test]
fn revoked_leaves_are_refused_by_openssl_and_minica_with_the_crl() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    env.minica(&["ca", "intermediate", "daily"]).ok();
    env.minica(&["issue", "good.test"]).ok();
    env.minica(&["issue", "bad.test"]).ok();
    let r = env
        .minica(&["revoke", "bad.test", "--reason", "keyCompromise"])
        .ok();
    assert!(
        r.stdout.contains("minica crl --issuer daily"),
        "{}",
        r.stdout
    );
    // Revoking twice is revoking once.
    env.minica(&["revoke", "bad.test"]).fails_with(2);
    env.minica(&["crl", "--out", "daily.crl"]).ok();
    env.minica(&["crl", "--root", "--out", "root.crl"]).ok();
    let crl = env.s("daily.crl");
    let text = openssl(&["crl", "-in", &crl, "-noout", "-text"])
        .ok()
        .stdout;
    assert!(
        text.contains("Key Compromise") && text.contains("CRL Number"),
        "{text}"
    );
    assert!(text.contains("Authority Key Identifier"), "{text}");
    // inspect explains it: who issued it, until when, what it revokes.
    let i = env.minica(&["inspect", "daily.crl", "--json"]).ok().json();
    let bad_serial = openssl(&[
        "x509",
        "-in",
        &env.s("bad.test/cert.pem"),
        "-noout",
        "-serial",
    ])
    .ok()
    .stdout
    .trim()
    .trim_start_matches("serial=")
    .to_lowercase();
    assert_eq!(
        i["crls"][0]["revoked"][0]["serial"],
        bad_serial.as_str(),
        "{i}"
    );
    assert_eq!(i["crls"][0]["revoked"][0]["reason"], "keyCompromise", "{i}");
    assert!(i["crls"][0]["days_left"].as_i64().unwrap() >= 29, "{i}");
    // The CRL verifies against the intermediate.
    openssl(&[
        "crl",
        "-in",
        &crl,
        "-noout",
        "-CAfile",
        &env.ca_dir()
            .join("issuers/daily/cert.pem")
            .to_string_lossy(),
    ])
    .ok();

    verify_with_openssl(&env, "good.test", &["-crl_check", "-CRLfile", &crl]).ok();
    let r = verify_with_openssl(&env, "bad.test", &["-crl_check", "-CRLfile", &crl]);
    assert_ne!(r.code, 0);
    assert!(
        r.stdout.contains("certificate revoked") || r.stderr.contains("certificate revoked"),
        "{r:?}"
    );
    // Every level: the root's CRL for the intermediate too.
    verify_with_openssl(
        &env,
        "good.test",
        &[
            "-crl_check_all",
            "-CRLfile",
            &crl,
            "-CRLfile",
            &env.s("root.crl"),
        ],
    )
    .ok();
    let r = verify_with_openssl(&env, "good.test", &["-crl_check_all", "-CRLfile", &crl]);
    assert_ne!(
        r.code, 0,
        "without the root's CRL -crl_check_all cannot pass: {r:?}"
    );

    // minica verify --crl says the same.
    let v = env
        .minica(&[
            "verify",
            "bad.test/chain.pem",
            "--crl",
            "daily.crl",
            "--crl",
            "root.crl",
            "--json",
        ])
        .json();
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["reason"], "revoked", "{v}");
    let v = env
        .minica(&[
            "verify",
            "good.test/chain.pem",
            "--crl",
            "daily.crl",
            "--crl",
            "root.crl",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(v["valid"], true, "{v}");
    // list shows it.
    let l = env.minica(&["list", "--json"]).ok().json();
    let bad = l["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["names"][0]["value"] == "bad.test")
        .unwrap()
        .clone();
    assert_eq!(bad["revoked"]["reason"], "keyCompromise", "{bad}");

    // Revoking the intermediate goes into the root's CRL.
    env.minica(&["revoke", "daily", "--reason", "cACompromise"])
        .ok();
    env.minica(&["crl", "--root", "--out", "root.crl"]).ok();
    let r = verify_with_openssl(
        &env,
        "good.test",
        &[
            "-crl_check_all",
            "-CRLfile",
            &crl,
            "-CRLfile",
            &env.s("root.crl"),
        ],
    );
    assert_ne!(r.code, 0, "{r:?}");
}

#[test]
fn subordinate_cas_for_other_engines_only_when_policy_allows() {
    let env = Env::new();
    env.minica(&["init", "--permit", ".corp.test"]).ok();
    let key = env.s("sub.key");
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &key,
    ])
    .ok();
    openssl(&[
        "req",
        "-new",
        "-key",
        &key,
        "-subj",
        "/CN=Vault Issuing CA/O=Corp",
        "-out",
        &env.s("sub.csr"),
    ])
    .ok();
    let before = snapshot(env.path());
    env.minica(&["issue", "--csr", "sub.csr", "--sub-ca", "--out-dir", "sub"])
        .fails_with(2)
        .one_sentence_naming("sign_sub_ca");
    assert_eq!(before, snapshot(env.path()));
    let cfg = env.ca_dir().join("ca.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("sign_sub_ca = false"), "{text}");
    text = text.replace("sign_sub_ca = false", "sign_sub_ca = true");
    std::fs::write(&cfg, text).unwrap();
    // Constraints wider than the root's are refused; narrower ones are written.
    env.minica(&[
        "issue",
        "--csr",
        "sub.csr",
        "--sub-ca",
        "--out-dir",
        "sub",
        "--permit",
        ".other.test",
    ])
    .fails_with(2);
    env.minica(&[
        "issue",
        "--csr",
        "sub.csr",
        "--sub-ca",
        "--out-dir",
        "sub",
        "--permit",
        ".vault.corp.test",
    ])
    .ok();
    let t = x509_text(&env.file("sub/cert.pem"));
    assert!(
        t.contains("CA:TRUE, pathlen:0")
            && t.contains("DNS:vault.corp.test")
            && t.contains("CN = Vault Issuing CA"),
        "{t}"
    );
    // The engine signs a leaf with it; openssl accepts the chain to the minica root.
    std::fs::write(
        env.file("leaf.ext"),
        "subjectAltName=DNS:app.vault.corp.test\nbasicConstraints=critical,CA:FALSE\n",
    )
    .unwrap();
    let lkey = env.s("leaf.key");
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &lkey,
    ])
    .ok();
    openssl(&[
        "req",
        "-new",
        "-key",
        &lkey,
        "-subj",
        "/CN=app.vault.corp.test",
        "-out",
        &env.s("leaf.csr"),
    ])
    .ok();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &env.s("leaf.csr"),
        "-CA",
        &env.s("sub/cert.pem"),
        "-CAkey",
        &key,
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        &env.s("leaf.ext"),
        "-out",
        &env.s("leaf.pem"),
    ])
    .ok();
    openssl(&[
        "verify",
        "-CAfile",
        &env.ca_dir().join("ca.pem").to_string_lossy(),
        "-untrusted",
        &env.s("sub/cert.pem"),
        &env.s("leaf.pem"),
    ])
    .ok();
}

#[test]
fn renewal_keeps_names_and_key_and_needs_renewal_says_when() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    env.minica(&["issue", "app.test", "127.0.0.1", "--days", "90"])
        .ok();
    let pubkey = |p: &str| {
        openssl(&["x509", "-in", &env.s(p), "-noout", "-pubkey"])
            .ok()
            .stdout
    };
    let serial = |p: &str| {
        openssl(&["x509", "-in", &env.s(p), "-noout", "-serial"])
            .ok()
            .stdout
    };
    let (k0, s0) = (pubkey("app.test/cert.pem"), serial("app.test/cert.pem"));
    // A fresh 90-day certificate: not due at 2/3 of its life, due within 100 days.
    env.minica(&["needs-renewal", "app.test/cert.pem"])
        .fails_with(1);
    env.minica(&["needs-renewal", "app.test/cert.pem", "--within", "100d"])
        .ok();
    env.minica(&["needs-renewal", "app.test/cert.pem", "--fraction", "0%"])
        .ok();
    env.minica(&["needs-renewal", "app.test/cert.pem", "--fraction", "7/3"])
        .fails_with(2);

    env.minica(&["renew", "app.test"]).ok();
    assert_ne!(serial("app.test/cert.pem"), s0);
    assert_eq!(
        pubkey("app.test/cert.pem"),
        k0,
        "the key stays without --rekey"
    );
    let t = x509_text(&env.file("app.test/cert.pem"));
    assert!(
        t.contains("DNS:app.test") && t.contains("IP Address:127.0.0.1"),
        "{t}"
    );
    openssl(&[
        "verify",
        "-CAfile",
        &env.s("app.test/ca.pem"),
        &env.s("app.test/cert.pem"),
    ])
    .ok();
    openssl(&[
        "x509",
        "-in",
        &env.s("app.test/cert.pem"),
        "-noout",
        "-checkend",
        &(89 * 86400).to_string(),
    ])
    .ok();
    let r = openssl(&[
        "x509",
        "-in",
        &env.s("app.test/cert.pem"),
        "-noout",
        "-checkend",
        &(91 * 86400).to_string(),
    ]);
    assert_ne!(r.code, 0, "the same 90-day lifetime");
    env.minica(&["renew", "app.test", "--rekey"]).ok();
    assert_ne!(pubkey("app.test/cert.pem"), k0, "--rekey makes a new key");
    openssl(&[
        "verify",
        "-CAfile",
        &env.s("app.test/ca.pem"),
        &env.s("app.test/cert.pem"),
    ])
    .ok();
    // The key file matches the certificate.
    let kp = openssl(&["pkey", "-in", &env.s("app.test/key.pem"), "-pubout"])
        .ok()
        .stdout;
    assert_eq!(kp, pubkey("app.test/cert.pem"));
    // The record: the old ones are "replaced", the newest present.
    let l = env.minica(&["list", "--json"]).ok().json();
    let entries = l["certificates"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["files_status"]["status"] == "present")
            .count(),
        1
    );

    // --expiring renews what expires in time, and nothing else.
    env.minica(&["issue", "long.test", "--days", "300"]).ok();
    let s_long = serial("long.test/cert.pem");
    let r = env
        .minica(&["renew", "--expiring", "100d", "--json"])
        .ok()
        .json();
    assert_eq!(r["renewed"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(serial("long.test/cert.pem"), s_long);
    let l = env
        .minica(&["list", "--expiring", "100d", "--json"])
        .ok()
        .json();
    assert!(
        l["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["names"][0]["value"] == "app.test"),
        "{l}"
    );
    let r = env.minica(&["renew", "--expiring", "1d"]).ok();
    assert!(r.stdout.contains("Nothing to renew"), "{}", r.stdout);
}

/// pkilint (RFC 5280 profile) finds no error in the CRLs and the
/// intermediate minica makes, and pyca/cryptography, which refuses a whole
/// chain carrying a DNS constraint with a leading dot, accepts a leaf under
/// a `--permit .corp.test` intermediate. Not checked, on purpose: pkilint's
/// CA/Browser Forum profile (subscriber CRLs of at most 10 days, a public-CA
/// rule), and pkilint's domain syntax check, which refuses a single-label
/// constraint such as `test` (valid RFC 1034 syntax, and what a local CA
/// for `.test` needs).
#[test]
fn pkilint_is_clean_and_pyca_accepts_the_constrained_chain() {
    let env = Env::new();
    env.minica(&["init", "--permit", ".corp.test"]).ok();
    env.minica(&["ca", "intermediate", "daily"]).ok();
    env.minica(&["issue", "app.corp.test"]).ok();
    env.minica(&["revoke", "app.corp.test", "--reason", "superseded"])
        .ok();
    env.minica(&["crl", "--out", "daily.crl"]).ok();
    env.minica(&["crl", "--root", "--out", "root.crl"]).ok();
    for (kind, file) in [("CRL", "daily.crl"), ("ARL", "root.crl")] {
        let r = run(
            "python3",
            &[
                "-m",
                "pkilint.bin.lint_crl",
                "lint",
                "-t",
                kind,
                "-p",
                "PKIX",
                "-s",
                "WARNING",
                &env.s(file),
            ],
        );
        assert_eq!(r.code, 0, "{file}: {r:?}");
        assert!(r.stdout.trim().is_empty(), "{file}: {}", r.stdout);
    }
    for cert in [
        "ca/ca.pem",
        "ca/issuers/daily/cert.pem",
        "app.corp.test/cert.pem",
    ] {
        let r = run(
            "python3",
            &[
                "-m",
                "pkilint.bin.lint_pkix_cert",
                "lint",
                "-s",
                "WARNING",
                &env.s(cert),
            ],
        );
        // Exit 0: pkilint ran and found nothing at WARNING or above.
        assert_eq!(r.code, 0, "{cert}: {r:?}");
        assert!(
            !r.stdout.contains("(ERROR)") && !r.stdout.contains("(FATAL)"),
            "{cert}: {}",
            r.stdout
        );
    }
    let text = x509_text(&env.ca_dir().join("issuers/daily/cert.pem"));
    assert!(
        text.contains("DNS:corp.test") && !text.contains("DNS:.corp.test"),
        "{text}"
    );
    let script = format!(
        r#"
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store
root = x509.load_pem_x509_certificate(open({root:?}, "rb").read())
chain = x509.load_pem_x509_certificates(open({chain:?}, "rb").read())
v = PolicyBuilder().store(Store([root])).build_server_verifier(x509.DNSName("app.corp.test"))
v.verify(chain[0], chain[1:])
print("VERIFIED")
"#,
        root = env.ca_dir().join("ca.pem").to_string_lossy(),
        chain = env.s("app.corp.test/chain.pem"),
    );
    let r = run("python3", &["-c", &script]).ok();
    assert!(r.stdout.contains("VERIFIED"), "{r:?}");
}

/// rustls (the example client, with `--crl`) refuses the handshake with a
/// server whose certificate is revoked, and completes it with one that is
/// not: both under an intermediate, both CRLs given.
#[test]
fn rustls_refuses_a_revoked_server_with_the_crls() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    env.minica(&["ca", "intermediate", "daily"]).ok();
    env.minica(&["issue", "good.test"]).ok();
    env.minica(&["issue", "bad.test"]).ok();
    env.minica(&["revoke", "bad.test", "--reason", "keyCompromise"])
        .ok();
    env.minica(&["crl", "--out", "daily.crl"]).ok();
    env.minica(&["crl", "--root", "--out", "root.crl"]).ok();
    let root = env.ca_dir().join("ca.pem").to_string_lossy().into_owned();
    for (name, revoked) in [("good.test", false), ("bad.test", true)] {
        let (server, port) = tls_server(
            &env.file(&format!("{name}/chain.pem")),
            &env.file(&format!("{name}/key.pem")),
        );
        let client = |crls: &[&str]| {
            let mut a = vec!["--ca", &root, "--host", name, "--port", &port];
            for c in crls {
                a.push("--crl");
                a.push(c);
            }
            run(&example("tls_client"), &a)
        };
        // Without the CRLs, both handshakes succeed: the refusal below is revocation.
        let r = client(&[]);
        assert!(r.stdout.contains("<Status>OK</Status>"), "{name}: {r:?}");
        let (d, rt) = (env.s("daily.crl"), env.s("root.crl"));
        let r = client(&[&d, &rt]);
        if revoked {
            assert_ne!(r.code, 0, "{name}: {r:?}");
            assert!(r.stderr.contains("Revoked"), "{name}: {r:?}");
        } else {
            assert!(r.stdout.contains("<Status>OK</Status>"), "{name}: {r:?}");
        }
        drop(server);
    }
}

/// `[issue] crl_url` puts a CRL distribution point in new leaves.
#[test]
fn crl_url_becomes_a_distribution_point() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    let cfg = env.ca_dir().join("ca.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("[issue]\n"), "{text}");
    std::fs::write(
        &cfg,
        text.replace(
            "[issue]\n",
            "[issue]\ncrl_url = \"http://ca.test/crl.pem\"\n",
        ),
    )
    .unwrap();
    env.minica(&["issue", "dp.test"]).ok();
    let t = x509_text(&env.file("dp.test/cert.pem"));
    assert!(
        t.contains("CRL Distribution Points") && t.contains("URI:http://ca.test/crl.pem"),
        "{t}"
    );
}

/// `renew` writes a keystore beside the certificate again, in its format
/// and protection and under its alias, when given the store's password (a
/// PEM one always); without it, it says the keystore is stale; with a wrong
/// one, nothing changes.
#[test]
fn renew_rewrites_keystores_beside_the_certificate() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    std::fs::write(env.file("pw"), "s3cret-pw\n").unwrap();
    std::fs::write(env.file("bad"), "wrong-pw\n").unwrap();
    let serial_of = |pem: &str| {
        openssl(&["x509", "-noout", "-serial", "-in", pem])
            .ok()
            .stdout
            .trim()
            .to_string()
    };
    let p12_leaf = |path: &str, legacy: bool| {
        let mut args = vec![
            "pkcs12",
            "-in",
            path,
            "-nokeys",
            "-clcerts",
            "-passin",
            "pass:s3cret-pw",
        ];
        if legacy {
            args.push("-legacy");
        }
        let out = openssl(&args).ok().stdout;
        std::fs::write(env.file("from-store.pem"), out).unwrap();
        serial_of(&env.s("from-store.pem"))
    };
    for (name, extra) in [
        ("p12.test", vec![]),
        ("compat.test", vec!["--compat"]),
        ("jks.test", vec!["--format", "jks"]),
        ("pem.test", vec!["--format", "pem"]),
    ] {
        let mut args = vec!["issue", name, "--keystore", "--password-file", "pw"];
        args.extend(&extra);
        env.minica(&args).ok();
    }
    let before = snapshot(env.path());
    // A wrong password: refused, nothing written.
    env.minica(&["renew", "p12.test", "--password-file", "bad"])
        .fails_with(2)
        .one_sentence_naming("keystore.p12");
    assert_eq!(before, snapshot(env.path()));
    // No password: renewed, the keystore left with a warning.
    let r = env.minica(&["renew", "jks.test"]).ok();
    assert!(
        r.stderr
            .contains("keystore.jks still holds the old certificate"),
        "{}",
        r.stderr
    );
    // With it: each store holds the new certificate.
    for name in ["p12.test", "compat.test", "jks.test", "pem.test"] {
        env.minica(&["renew", name, "--password-file", "pw"]).ok();
        let cert = env.s(&format!("{name}/cert.pem"));
        let new = serial_of(&cert);
        let dir = env.file(name);
        let in_store = if dir.join("keystore.p12").exists() {
            let legacy = name == "compat.test";
            let s = p12_leaf(dir.join("keystore.p12").to_str().unwrap(), legacy);
            let info = openssl(&[
                "pkcs12",
                "-in",
                dir.join("keystore.p12").to_str().unwrap(),
                "-info",
                "-noout",
                "-passin",
                "pass:s3cret-pw",
                "-legacy",
            ])
            .ok();
            let mac = format!("{}{}", info.stdout, info.stderr);
            assert_eq!(mac.contains("MAC: sha1"), legacy, "{name}: {mac}");
            s
        } else if dir.join("keystore.jks").exists() {
            let list = run(
                "keytool",
                &[
                    "-list",
                    "-rfc",
                    "-keystore",
                    dir.join("keystore.jks").to_str().unwrap(),
                    "-storepass",
                    "s3cret-pw",
                ],
            )
            .ok();
            assert!(
                list.stdout.contains("Alias name: jks.test"),
                "{}",
                list.stdout
            );
            let first = list
                .stdout
                .split("-----END CERTIFICATE-----")
                .next()
                .unwrap();
            let pem = format!(
                "-----BEGIN CERTIFICATE-----{}-----END CERTIFICATE-----\n",
                first.split("-----BEGIN CERTIFICATE-----").nth(1).unwrap()
            );
            std::fs::write(env.file("from-store.pem"), pem).unwrap();
            serial_of(&env.s("from-store.pem"))
        } else {
            serial_of(dir.join("keystore.pem").to_str().unwrap())
        };
        assert_eq!(
            in_store, new,
            "{name}: the keystore holds the old certificate"
        );
        assert_eq!(
            mode(
                &dir.join(
                    std::fs::read_dir(&dir)
                        .unwrap()
                        .map(|e| e.unwrap().file_name())
                        .find(|n| n.to_string_lossy().starts_with("keystore."))
                        .unwrap()
                )
            ),
            0o600
        );
    }
}

/// An `issuers/NAME` directory filled by someone else: an intermediate of
/// another root, a certificate with a key that is not its own, a leaf
/// posing as a CA. Each is refused when used, in one sentence, with nothing
/// written; a CRL that would outlive its issuer is refused too.
#[test]
fn hostile_issuer_directories_and_overlong_crls_are_refused() {
    let env = Env::new();
    env.minica(&["init", "--permit", ".test"]).ok();
    let other = Env::new();
    other.minica(&["init", "--permit", ".test"]).ok();
    other.minica(&["issue", "leaf.test"]).ok();
    let ours = env.ca_dir().join("issuers/issuing");
    let theirs = other.ca_dir().join("issuers/issuing");
    let plant = |name: &str, cert: &Path, key: &Path| {
        let d = env.ca_dir().join("issuers").join(name);
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        std::fs::copy(cert, d.join("cert.pem")).unwrap();
        std::fs::copy(key, d.join("key.pem")).unwrap();
        std::fs::set_permissions(
            d.join("key.pem"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
    };
    plant("foreign", &theirs.join("cert.pem"), &theirs.join("key.pem"));
    plant("mismatch", &ours.join("cert.pem"), &theirs.join("key.pem"));
    plant(
        "leafy",
        &other.file("leaf.test/cert.pem"),
        &other.file("leaf.test/key.pem"),
    );
    for name in ["foreign", "mismatch", "leafy"] {
        let before = snapshot(env.path());
        let r = env.minica(&["issue", "x.test", "--issuer", name]);
        assert_ne!(r.code, 0, "{name}: {r:?}");
        assert!(
            [2, 4].contains(&r.code),
            "{name}: exit {} is not a documented refusal: {r:?}",
            r.code
        );
        assert_eq!(r.stderr.trim().lines().count(), 1, "{name}: {}", r.stderr);
        assert!(
            r.stderr.contains(name),
            "{name}: the error names the issuer: {}",
            r.stderr
        );
        assert_eq!(
            before,
            snapshot(env.path()),
            "{name}: something was written"
        );
    }
    // The issuing intermediate lives 5 years: a CRL promising a next update
    // after it expires is refused.
    let before = snapshot(env.path());
    let r = env.minica(&["crl", "--days", "3000", "--out", "long.crl"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(before, snapshot(env.path()));
}
