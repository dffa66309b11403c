//! `minica store`: stores minica did not write (keytool's JKS and PKCS#12,
//! OpenSSL 3's default and -legacy PKCS#12, NSS pk12util's, the JDK's
//! cacerts) are listed, edited, converted and exported, and each result is
//! opened by the real readers: keytool, Java's KeyStore + JSSE, openssl.

mod common;

use std::path::{Path, PathBuf};

use common::*;

const PW: &str = "changeit";

struct Setup {
    env: Env,
    pw: String,
}

fn setup() -> Setup {
    let env = Env::new();
    env.minica(&["init", "--cn", "Store Root"]).ok();
    env.minica(&["issue", "svc.test"]).ok();
    std::fs::write(env.file("pw"), format!("{PW}\n")).unwrap();
    let pw = env.s("pw");
    Setup { env, pw }
}

impl Setup {
    fn store(&self, args: &[&str]) -> Run {
        let mut all = vec!["store"];
        all.extend_from_slice(args);
        self.env.minica(&all)
    }

    fn list(&self, file: &str, with_pw: bool) -> Vec<(String, String)> {
        let mut args = vec!["--json", "store", "list", file];
        if with_pw {
            args.extend(["--password-file", &self.pw]);
        }
        let v = self.env.minica(&args).ok().json();
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["alias"].as_str().unwrap().to_string(),
                    e["kind"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn keytool_list(&self, file: &str) -> String {
        run("keytool", &["-list", "-keystore", file, "-storepass", PW])
            .ok()
            .stdout
    }
}

fn keytool(args: &[&str]) {
    run("keytool", args).ok();
}

/// keytool's and OpenSSL's stores are read, edited entry by entry (the
/// other entries' bytes kept), and what comes out is what keytool and a
/// JSSE client see.
#[test]
fn edits_of_keytool_stores_keep_the_rest_and_java_uses_them() {
    let s = setup();
    let env = &s.env;
    let other = Env::new();
    other.minica(&["init", "--cn", "Partner Root"]).ok();
    for (file, kind) in [("kt.jks", "JKS"), ("kt.p12", "PKCS12")] {
        let f = env.s(file);
        keytool(&[
            "-importcert",
            "-noprompt",
            "-storetype",
            kind,
            "-keystore",
            &f,
            "-storepass",
            PW,
            "-alias",
            "partner",
            "-file",
            &other.s("ca/ca.pem"),
        ]);
        let before = std::fs::read(&f).unwrap();
        assert_eq!(
            s.list(&f, true),
            [("partner".to_string(), "trusted".to_string())]
        );
        // Trust our root too.
        let r = s
            .store(&[
                "add",
                &f,
                "--cert",
                &env.s("ca/ca.pem"),
                "--password-file",
                &s.pw,
            ])
            .ok();
        assert!(r.stdout.contains("store-root"), "{}", r.stdout);
        let after = std::fs::read(&f).unwrap();
        if kind == "JKS" {
            // The old entry's bytes, then the new one; count and trailer change.
            assert_eq!(after[12..before.len() - 20], before[12..before.len() - 20]);
        } else {
            // keytool sealed its certificate safe: that safe is kept whole.
            let sealed = first_safe(&before);
            assert!(contains(&after, &sealed), "the keytool safe was rewritten");
        }
        let list = s.keytool_list(&f);
        assert!(
            list.contains("partner, ") && list.contains("store-root, "),
            "{list}"
        );
        assert_eq!(list.matches("trustedCertEntry").count(), 2, "{list}");
        // Again: nothing changes.
        let r = s
            .store(&[
                "add",
                &f,
                "--cert",
                &env.s("ca/ca.pem"),
                "--password-file",
                &s.pw,
            ])
            .ok();
        assert!(r.stdout.contains("nothing changed"), "{}", r.stdout);
        if kind == "PKCS12" {
            // This one stays a truststore: Java trusts the certificate of
            // any key entry in a truststore too.
            continue;
        }
        // A key entry.
        s.store(&[
            "add",
            &f,
            "--key",
            &env.s("svc.test/key.pem"),
            "--cert",
            &env.s("svc.test/cert.pem"),
            "--chain",
            &env.s("svc.test/ca.pem"),
            "--password-file",
            &s.pw,
        ])
        .ok();
        let jl = java(&["list", &f, &s.pw]).ok().stdout;
        assert!(jl.contains("key svc.test EC chain=2"), "{jl}");
        assert!(
            jl.contains("trusted partner") && jl.contains("trusted store-root"),
            "{jl}"
        );
    }

    // A JSSE client on the keytool truststore minica edited: it trusts our
    // server, then, once the root is removed, it does not.
    let ts = env.s("kt.p12");
    s.store(&[
        "export",
        &env.s("kt.jks"),
        "svc.test",
        "--out-dir",
        &env.s("exported"),
        "--password-file",
        &s.pw,
    ])
    .ok();
    let (server, port) = tls_server(
        &env.file("exported/chain.pem"),
        &env.file("exported/key.pem"),
    );
    let hello = "<Body><UserName>alice</UserName><Password>pw</Password></Body>";
    let r = java(&["client", "-", &ts, &s.pw, "svc.test", &port, hello]);
    assert!(r.stdout.contains("<Status>OK</Status>"), "{r:?}");
    s.store(&["remove", &ts, "store-root", "--password-file", &s.pw])
        .ok();
    let r = java(&["client", "-", &ts, &s.pw, "svc.test", &port, hello]);
    assert!(!r.stdout.contains("<Status>OK</Status>"), "{r:?}");
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("PKIX path building failed"),
        "{r:?}"
    );
    drop(server);
    let list = s.keytool_list(&ts);
    assert!(
        !list.contains("store-root, ") && list.contains("partner, "),
        "{list}"
    );
}

/// The first safe of a PKCS#12's authenticated safe, as bytes.
fn first_safe(p12: &[u8]) -> Vec<u8> {
    // Enough to find a sealed safe: its EncryptedData content, 64 bytes in.
    let oid = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x06];
    let at = p12
        .windows(oid.len())
        .position(|w| w == oid)
        .expect("a sealed safe");
    p12[at..at + 200].to_vec()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Stores written by OpenSSL (3.0 default, and -legacy) and NSS pk12util
/// are read: the key entry with its chain, under one alias.
#[test]
fn stores_from_openssl_and_nss_are_read() {
    let s = setup();
    let env = &s.env;
    let pass = format!("pass:{PW}");
    for (file, legacy) in [("ossl.p12", false), ("ossl-legacy.p12", true)] {
        let mut args = vec![
            "pkcs12",
            "-export",
            "-in",
            "svc.test/cert.pem",
            "-inkey",
            "svc.test/key.pem",
            "-certfile",
            "svc.test/ca.pem",
            "-name",
            "svc",
            "-passout",
            &pass,
            "-out",
            file,
        ];
        if legacy {
            args.push("-legacy");
        }
        let mut all = vec!["-C".to_string(), env.path().display().to_string()];
        let _ = &mut all;
        let out = std::process::Command::new("openssl")
            .args(&args)
            .current_dir(env.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The CA certificate OpenSSL put beside the key is its chain.
        let v = env
            .minica(&[
                "--json",
                "store",
                "list",
                &env.s(file),
                "--password-file",
                &s.pw,
            ])
            .ok()
            .json();
        let e = &v["entries"];
        assert_eq!(e.as_array().unwrap().len(), 1, "{file}: {v}");
        assert_eq!(
            (e[0]["alias"].as_str(), e[0]["kind"].as_str()),
            (Some("svc"), Some("key")),
            "{v}"
        );
        assert_eq!(e[0]["chain_length"], 2, "{v}");
    }
    // NSS: import minica's keystore with pk12util, export it again.
    env.minica(&["keystore", "svc.test", "--password-file", &s.pw])
        .ok();
    let db = env.file("nssdb");
    std::fs::create_dir(&db).unwrap();
    let spec = format!("sql:{}", db.display());
    run("certutil", &["-N", "-d", &spec, "--empty-password"]).ok();
    run(
        "pk12util",
        &["-i", &env.s("svc.test/keystore.p12"), "-d", &spec, "-W", PW],
    )
    .ok();
    // One alias per entry: NSS names the certificate as Java names the key.
    let nicks = run("certutil", &["-L", "-d", &spec]).ok().stdout;
    assert!(nicks.lines().any(|l| l.starts_with("svc.test ")), "{nicks}");
    assert!(!nicks.contains("CN=svc.test"), "{nicks}");
    let out = env.s("nss.p12");
    run(
        "pk12util",
        &["-o", &out, "-n", "svc.test", "-d", &spec, "-W", PW],
    )
    .ok();
    let entries = s.list(&out, true);
    assert!(entries.iter().any(|(_, k)| k == "key"), "{entries:?}");
    // Bouncy Castle's writer, as KeyStore Explorer uses it.
    let bc = "/usr/share/java/bcprov.jar";
    assert!(
        Path::new(bc).is_file(),
        "{bc} is missing: apt-get install libbcprov-java"
    );
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/java/BcStore.java");
    let bc_out = env.s("bc.p12");
    run(
        "java",
        &["-cp", bc, src, &env.s("svc.test/keystore.p12"), &bc_out, PW],
    )
    .ok();
    let r = openssl(&[
        "pkcs12", "-in", &bc_out, "-info", "-noout", "-passin", &pass, "-legacy",
    ])
    .ok();
    let info = format!("{}{}", r.stdout, r.stderr);
    assert!(
        info.contains("pbeWithSHA1And40BitRC2-CBC"),
        "not BC's default form: {info}"
    );
    let v = env
        .minica(&["--json", "store", "list", &bc_out, "--password-file", &s.pw])
        .ok()
        .json();
    let e = &v["entries"];
    assert_eq!(e.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        (e[0]["alias"].as_str(), e[0]["kind"].as_str()),
        (Some("svc.test"), Some("key")),
        "{v}"
    );
    assert_eq!(e[0]["chain_length"], 2, "{v}");
    // `minica keystore DIR` names the entry by the certificate, not the path.
    env.minica(&["issue", "localhost", "--out-dir", "some/dir/localhost"])
        .ok();
    env.minica(&["keystore", "some/dir/localhost", "--password-file", &s.pw])
        .ok();
    let jl = java(&["list", &env.s("some/dir/localhost/keystore.p12"), &s.pw])
        .ok()
        .stdout;
    assert!(jl.contains("key localhost "), "{jl}");
    let jl = java(&["list", &env.s("svc.test/keystore.p12"), &s.pw])
        .ok()
        .stdout;
    assert!(jl.contains("key svc.test "), "{jl}");
}

/// Each profile is opened by the reader it is named for, with the
/// algorithms it names; password-less stores are trusted by Java as they
/// are.
#[test]
fn profiles_and_conversions_of_the_jdk_cacerts() {
    let s = setup();
    let env = &s.env;
    let cacerts = env.s("cacerts");
    let real = jdk_cacerts();
    std::fs::copy(&real, &cacerts).unwrap();
    let n = s.list(&cacerts, true).len();
    assert!(n > 50, "a real cacerts has many entries: {n}");
    // add, remove: back to the very bytes.
    let orig = std::fs::read(&cacerts).unwrap();
    s.store(&[
        "add",
        &cacerts,
        "--cert",
        &env.s("ca/ca.pem"),
        "--password-file",
        &s.pw,
    ])
    .ok();
    assert_eq!(s.list(&cacerts, true).len(), n + 1);
    s.store(&["remove", &cacerts, "store-root", "--password-file", &s.pw])
        .ok();
    assert_eq!(std::fs::read(&cacerts).unwrap(), orig);

    let pass = format!("pass:{PW}");
    for (profile, expect, legacy) in [
        ("modern", vec!["PBES2", "AES-256-CBC", "MAC: sha256"], false),
        (
            "legacy-3des",
            vec!["pbeWithSHA1And3-KeyTripleDES-CBC", "MAC: sha1"],
            false,
        ),
        (
            "legacy-rc2",
            vec!["pbeWithSHA1And40BitRC2-CBC", "MAC: sha1"],
            true,
        ),
    ] {
        let out = env.s(&format!("{profile}.p12"));
        s.store(&[
            "convert",
            &cacerts,
            &out,
            "--p12-profile",
            profile,
            "--password-file",
            &s.pw,
        ])
        .ok();
        let mut args = vec!["pkcs12", "-in", &out, "-info", "-noout", "-passin", &pass];
        if legacy {
            args.push("-legacy");
        }
        let r = openssl(&args).ok();
        let info = format!("{}{}", r.stdout, r.stderr);
        for e in expect {
            assert!(info.contains(e), "{profile}: no {e} in {info}");
        }
        assert_eq!(
            s.keytool_list(&out).matches("trustedCertEntry").count(),
            n,
            "{profile}"
        );
    }
    // legacy-rc2 needs OpenSSL 3's legacy provider, as its name says.
    let r = openssl(&[
        "pkcs12",
        "-in",
        &env.s("legacy-rc2.p12"),
        "-info",
        "-noout",
        "-passin",
        &pass,
    ]);
    assert_ne!(r.code, 0, "{r:?}");
    // A key entry in legacy-rc2: the key bag is 3DES, the certificates RC2.
    s.store(&[
        "add",
        &env.s("legacy-rc2.p12"),
        "--key",
        &env.s("svc.test/key.pem"),
        "--cert",
        &env.s("svc.test/cert.pem"),
        "--password-file",
        &s.pw,
    ])
    .ok();
    let r = openssl(&[
        "pkcs12",
        "-in",
        &env.s("legacy-rc2.p12"),
        "-info",
        "-noout",
        "-passin",
        &pass,
        "-legacy",
    ])
    .ok();
    let info = format!("{}{}", r.stdout, r.stderr);
    assert!(
        info.contains("Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC"),
        "{info}"
    );

    // Password-less, as JDK 18+ ships cacerts: no MAC, nothing encrypted;
    // keytool lists it with any password, and minica reads it with none.
    let pl = env.s("pl.p12");
    s.store(&[
        "convert",
        &cacerts,
        &pl,
        "--p12-profile",
        "passwordless",
        "--password-file",
        &s.pw,
    ])
    .ok();
    let r = openssl(&["pkcs12", "-in", &pl, "-info", "-noout", "-passin", "pass:"]).ok();
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("MAC is absent"),
        "{r:?}"
    );
    assert_eq!(s.list(&pl, false).len(), n);
    let l = run(
        "keytool",
        &["-list", "-keystore", &pl, "-storepass", "anything"],
    )
    .ok()
    .stdout;
    assert_eq!(l.matches("trustedCertEntry").count(), n);
    // A key has no place in it.
    let before = snapshot(env.path());
    s.store(&[
        "add",
        &pl,
        "--key",
        &env.s("svc.test/key.pem"),
        "--cert",
        &env.s("svc.test/cert.pem"),
    ])
    .fails_with(2)
    .one_sentence_naming("no password");
    assert_eq!(before, snapshot(env.path()));

    // JKS to PKCS#12 and back; merge with duplicates by fingerprint.
    let back = env.s("back.jks");
    s.store(&[
        "convert",
        &env.s("modern.p12"),
        &back,
        "--format",
        "jks",
        "--password-file",
        &s.pw,
    ])
    .ok();
    assert_eq!(s.keytool_list(&back).matches("trustedCertEntry").count(), n);
    let merged = env.s("merged.p12");
    s.store(&[
        "merge",
        &merged,
        &cacerts,
        &env.s("modern.p12"),
        &pl,
        "--password-file",
        &s.pw,
    ])
    .ok();
    assert_eq!(
        s.keytool_list(&merged).matches("trustedCertEntry").count(),
        n
    );
    // passwd: the old password no longer opens it, the new one does.
    std::fs::write(env.file("new"), "n3w-secret\n").unwrap();
    s.store(&[
        "passwd",
        &back,
        "--password-file",
        &s.pw,
        "--new-password-file",
        &env.s("new"),
    ])
    .ok();
    assert_ne!(
        run("keytool", &["-list", "-keystore", &back, "-storepass", PW]).code,
        0
    );
    let l = run(
        "keytool",
        &["-list", "-keystore", &back, "-storepass", "n3w-secret"],
    )
    .ok()
    .stdout;
    assert_eq!(l.matches("trustedCertEntry").count(), n);
}

/// Every refusal is one sentence and a documented exit code, and changes
/// nothing.
#[test]
fn refusals_change_nothing() {
    let s = setup();
    let env = &s.env;
    let f = env.s("ks.p12");
    env.minica(&[
        "keystore",
        "svc.test",
        "--out",
        &f,
        "--password-file",
        &s.pw,
    ])
    .ok();
    std::fs::write(env.file("bad"), "wrong\n").unwrap();
    std::fs::write(env.file("garbage.p12"), [0x30, 0x82, 0x01, 0x00, 0x02]).unwrap();
    let other = Env::new();
    other.minica(&["init"]).ok();
    other.minica(&["issue", "x.test"]).ok();
    let before = snapshot(env.path());
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (
            vec![
                "list".into(),
                f.clone(),
                "--password-file".into(),
                env.s("bad"),
            ],
            2,
            "wrong password",
        ),
        (
            vec![
                "list".into(),
                env.s("garbage.p12"),
                "--password-file".into(),
                s.pw.clone(),
            ],
            2,
            "garbage.p12",
        ),
        (
            vec![
                "remove".into(),
                f.clone(),
                "nope".into(),
                "--password-file".into(),
                s.pw.clone(),
            ],
            2,
            "nope",
        ),
        (
            vec![
                "add".into(),
                f.clone(),
                "--key".into(),
                other.s("x.test/key.pem"),
                "--cert".into(),
                env.s("svc.test/cert.pem"),
                "--alias".into(),
                "mixed".into(),
                "--password-file".into(),
                s.pw.clone(),
            ],
            2,
            "does not belong",
        ),
        (
            vec![
                "add".into(),
                f.clone(),
                "--key".into(),
                env.s("svc.test/key.pem"),
                "--cert".into(),
                env.s("svc.test/cert.pem"),
                "--password-file".into(),
                s.pw.clone(),
            ],
            3,
            "svc.test",
        ),
        (
            vec![
                "export".into(),
                f.clone(),
                "nope".into(),
                "--out-dir".into(),
                env.s("o"),
                "--password-file".into(),
                s.pw.clone(),
            ],
            2,
            "nope",
        ),
        (
            vec![
                "convert".into(),
                f.clone(),
                f.clone(),
                "--password-file".into(),
                s.pw.clone(),
            ],
            3,
            "ks.p12",
        ),
    ];
    for (args, code, needle) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = s.store(&a).fails_with(code);
        r.one_sentence_naming(needle);
        assert!(
            !r.stderr.contains(PW),
            "a password in an error: {}",
            r.stderr
        );
        assert_eq!(before, snapshot(env.path()), "{args:?} changed something");
    }
}

/// Two `store add` at the same moment on one store: each reads, edits and
/// replaces it, so without the store's lock one entry would be lost.
#[test]
fn concurrent_adds_keep_both() {
    let s = setup();
    let env = &s.env;
    let other = Env::new();
    other.minica(&["init", "--cn", "Other Root"]).ok();
    let f = env.s("race.jks");
    // A copy of the JDK's cacerts: a few hundred entries make an edit slow
    // enough to race.
    let real = jdk_cacerts();
    let start = |cert: String| {
        std::process::Command::new(BIN)
            .args([
                "store",
                "add",
                &f,
                "--cert",
                &cert,
                "--password-file",
                &s.pw,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    for round in 0..15 {
        std::fs::copy(&real, &f).unwrap();
        let (a, b) = (start(env.s("ca/ca.pem")), start(other.s("ca/ca.pem")));
        for p in [a, b] {
            let out = p.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let list = s.keytool_list(&f);
        for alias in ["store-root, ", "other-root, "] {
            assert!(
                list.contains(alias),
                "round {round}: the add of {alias} was lost"
            );
        }
    }
}

/// The JDK's own cacerts, found from `java.home`.
fn jdk_cacerts() -> PathBuf {
    std::fs::canonicalize(
        run("java", &["-XshowSettings:properties", "-version"])
            .stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix("java.home = "))
            .map(|h| Path::new(h).join("lib/security/cacerts"))
            .unwrap(),
    )
    .unwrap()
}
