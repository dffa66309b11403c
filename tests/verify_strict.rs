//! `minica verify` as the strictest correct validator (issue 11): every
//! certificate of the path is checked, the trust anchor included; the
//! verdict does not depend on the order of the files; EKU, CommonName name
//! constraints, weak keys, terminal-safe output, bounded inputs, CRLs and
//! live endpoints. Chains are made with openssl, not minica. Each test here
//! fails on the code before issue 11.

mod common;
use common::*;

const LEAF_EXT: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n";
const CA_EXT: &str = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";
const ROOT_EXTS: &[&str] = &[
    "basicConstraints=critical,CA:TRUE",
    "keyUsage=critical,keyCertSign,cRLSign",
];

/// A scratch directory of keys and certificates made with openssl.
struct Pki {
    env: Env,
    cnf: String,
}

impl Pki {
    fn new() -> Pki {
        let env = Env::new();
        // A config with no default extensions: each root gets exactly the
        // extensions a test asks for.
        let cnf = env.s("req.cnf");
        std::fs::write(&cnf, "[req]\ndistinguished_name=dn\n[dn]\n").unwrap();
        Pki { env, cnf }
    }

    fn p(&self, name: &str) -> String {
        self.env.s(name)
    }

    /// A key: "ec" (P-256), "p192", "dsa" or "rsa1024".
    fn key(&self, name: &str, kind: &str) -> String {
        let path = self.p(&format!("{name}.key"));
        match kind {
            "ec" | "p192" => {
                let curve = if kind == "ec" { "P-256" } else { "P-192" };
                openssl(&[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    &format!("ec_paramgen_curve:{curve}"),
                    "-out",
                    &path,
                ])
                .ok();
            }
            "dsa" => {
                let params = self.p(&format!("{name}.params"));
                openssl(&[
                    "genpkey",
                    "-genparam",
                    "-algorithm",
                    "DSA",
                    "-pkeyopt",
                    "dsa_paramgen_bits:2048",
                    "-out",
                    &params,
                ])
                .ok();
                openssl(&["genpkey", "-paramfile", &params, "-out", &path]).ok();
            }
            "rsa1024" => {
                openssl(&[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:1024",
                    "-out",
                    &path,
                ])
                .ok();
            }
            other => panic!("unknown key kind {other}"),
        }
        path
    }

    /// A self-signed certificate `name` with exactly `exts`, valid `days`.
    fn root_with_key(&self, name: &str, key: &str, subj: &str, days: u32, exts: &[&str]) -> String {
        let out = self.p(&format!("{name}.pem"));
        let days = days.to_string();
        let mut args = vec![
            "req", "-x509", "-new", "-config", &self.cnf, "-key", key, "-subj", subj, "-days",
            &days, "-out", &out,
        ];
        for e in exts {
            args.push("-addext");
            args.push(e);
        }
        openssl(&args).ok();
        out
    }

    fn root(&self, name: &str, exts: &[&str]) -> String {
        let key = self.key(name, "ec");
        self.root_with_key(name, &key, &format!("/CN={name}"), 3650, exts)
    }

    /// `name` signed by `issuer` (files issuer.pem / issuer.key) with `ext`.
    fn sign_key(&self, name: &str, key: &str, subj: &str, issuer: &str, ext: &str) -> String {
        let csr = self.p(&format!("{name}.csr"));
        openssl(&[
            "req", "-new", "-config", &self.cnf, "-key", key, "-subj", subj, "-out", &csr,
        ])
        .ok();
        let extfile = self.p(&format!("{name}.ext"));
        std::fs::write(&extfile, ext).unwrap();
        let out = self.p(&format!("{name}.pem"));
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &self.p(&format!("{issuer}.pem")),
            "-CAkey",
            &self.p(&format!("{issuer}.key")),
            "-days",
            "90",
            "-extfile",
            &extfile,
            "-out",
            &out,
        ])
        .ok();
        out
    }

    fn sign(&self, name: &str, issuer: &str, ext: &str) -> String {
        let key = self.key(name, "ec");
        self.sign_key(name, &key, &format!("/CN={name}"), issuer, ext)
    }

    fn bundle(&self, name: &str, parts: &[&str]) -> String {
        let mut pem = String::new();
        for p in parts {
            pem.push_str(&std::fs::read_to_string(p).unwrap());
        }
        let out = self.p(name);
        std::fs::write(&out, pem).unwrap();
        out
    }

    /// `minica verify ARGS --json`: exit code and report.
    fn verify(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut all = vec!["verify"];
        all.extend_from_slice(args);
        all.push("--json");
        let r = self.env.minica(&all);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        let code = r.code;
        (code, r.json())
    }
}

fn leaf_ext(san: &str) -> String {
    format!("{LEAF_EXT}subjectAltName={san}\n")
}

#[track_caller]
fn assert_refused(pki: &Pki, args: &[&str], reason: &str) -> serde_json::Value {
    let (code, j) = pki.verify(args);
    assert_eq!(code, 1, "{args:?}: expected NOT VALID: {j:#}");
    assert_eq!(j["valid"], false, "{j:#}");
    assert_eq!(j["reason"], reason, "{args:?}: wrong reason: {j:#}");
    j
}

#[test]
fn the_trust_anchor_is_checked_too() {
    let pki = Pki::new();
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "notca",
            &[
                "basicConstraints=critical,CA:FALSE",
                "keyUsage=critical,keyCertSign",
            ],
            "anchor_not_ca",
        ),
        (
            "nobc",
            &["keyUsage=critical,keyCertSign,cRLSign"],
            "anchor_not_ca",
        ),
        (
            "nokcs",
            &[
                "basicConstraints=critical,CA:TRUE",
                "keyUsage=critical,digitalSignature,cRLSign",
            ],
            "issuer_key_usage",
        ),
        (
            "unkcrit",
            &[
                "basicConstraints=critical,CA:TRUE",
                "keyUsage=critical,keyCertSign,cRLSign",
                "1.3.6.1.4.1.55555.1=critical,ASN1:NULL",
            ],
            "unknown_critical_extension",
        ),
        (
            "clientroot",
            &[
                "basicConstraints=critical,CA:TRUE",
                "keyUsage=critical,keyCertSign,cRLSign",
                "extendedKeyUsage=clientAuth",
            ],
            "wrong_purpose",
        ),
    ];
    for (name, exts, reason) in cases {
        let root = pki.root(name, exts);
        let leaf = pki.sign(&format!("leaf-{name}"), name, &leaf_ext("DNS:a.test"));
        let j = assert_refused(&pki, &[&leaf, "--ca", &root, "--host", "a.test"], reason);
        let msg = j.to_string();
        assert!(
            msg.contains(name),
            "{name}: the reason names the root: {msg}"
        );
    }

    // pathLenConstraint 0 on the root, with an intermediate below it.
    let root = pki.root(
        "pl0",
        &[
            "basicConstraints=critical,CA:TRUE,pathlen:0",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    pki.sign("pl0-inter", "pl0", CA_EXT);
    let leaf = pki.sign("pl0-leaf", "pl0-inter", &leaf_ext("DNS:a.test"));
    let bundle = pki.bundle("pl0.bundle", &[&leaf, &pki.p("pl0-inter.pem")]);
    assert_refused(&pki, &[&bundle, "--ca", &root], "path_length");

    // The same chains under a proper root are valid: the checks refuse
    // only what is wrong.
    let good = pki.root("good", ROOT_EXTS);
    pki.sign("good-inter", "good", CA_EXT);
    let leaf = pki.sign("good-leaf", "good-inter", &leaf_ext("DNS:a.test"));
    let bundle = pki.bundle("good.bundle", &[&leaf, &pki.p("good-inter.pem")]);
    let (code, j) = pki.verify(&[&bundle, "--ca", &good, "--host", "a.test"]);
    assert_eq!(code, 0, "{j:#}");
    assert_eq!(j["path"].as_array().unwrap().len(), 3, "{j:#}");
    assert_eq!(j["path"][2]["role"], "root", "{j:#}");
}

#[test]
fn twin_roots_give_one_verdict_in_any_order() {
    let pki = Pki::new();
    // Two roots named "twin": one valid for a day, one for ten years.
    let k_old = pki.key("old", "ec");
    let old = pki.root_with_key("old", &k_old, "/CN=twin", 1, ROOT_EXTS);
    let k_new = pki.key("new", "ec");
    let new = pki.root_with_key("new", &k_new, "/CN=twin", 3650, ROOT_EXTS);
    let by_old = pki.sign("by-old", "old", &leaf_ext("DNS:a.test"));
    let by_new = pki.sign("by-new", "new", &leaf_ext("DNS:a.test"));
    let later = format!(
        "@{}",
        time::OffsetDateTime::now_utc().unix_timestamp() + 3 * 86_400
    );
    for (first, second) in [(&old, &new), (&new, &old)] {
        // Signed only by the expired twin: never valid, whichever is listed first.
        let j = assert_refused(
            &pki,
            &[&by_old, "--ca", first, "--ca", second, "--at", &later],
            "expired",
        );
        assert!(j.to_string().contains("root"), "{j:#}");
        // Signed by the valid twin: valid, whichever is listed first.
        let (code, j) = pki.verify(&[&by_new, "--ca", first, "--ca", second, "--at", &later]);
        assert_eq!(code, 0, "{j:#}");
    }
}

#[test]
fn common_name_under_name_constraints_and_eku_with_host() {
    let pki = Pki::new();
    let root = pki.root(
        "nc",
        &[
            "basicConstraints=critical,CA:TRUE",
            "keyUsage=critical,keyCertSign,cRLSign",
            "nameConstraints=critical,permitted;DNS:good.test,permitted;IP:127.0.0.0/255.0.0.0",
        ],
    );
    // No DNS SAN, and a CommonName outside the constraints: OpenSSL refuses.
    let key = pki.key("evil", "ec");
    let evil = pki.sign_key(
        "evil",
        &key,
        "/CN=evil.test",
        "nc",
        &leaf_ext("IP:127.0.0.1"),
    );
    let ossl = openssl(&["verify", "-CAfile", &root, &evil]);
    assert_ne!(ossl.code, 0, "openssl refuses it too: {ossl:?}");
    let j = assert_refused(
        &pki,
        &[&evil, "--ca", &root, "--host", "127.0.0.1"],
        "name_constraints",
    );
    assert!(j.to_string().contains("evil.test"), "{j:#}");
    // A CommonName inside them is fine.
    let key = pki.key("fine", "ec");
    let fine = pki.sign_key(
        "fine",
        &key,
        "/CN=a.good.test",
        "nc",
        &leaf_ext("IP:127.0.0.1"),
    );
    let (code, j) = pki.verify(&[&fine, "--ca", &root, "--host", "127.0.0.1"]);
    assert_eq!(code, 0, "{j:#}");

    // An intermediate whose EKU excludes serverAuth: --host alone refuses.
    let root = pki.root("ekuroot", ROOT_EXTS);
    pki.sign(
        "clientica",
        "ekuroot",
        &format!("{CA_EXT}extendedKeyUsage=clientAuth\n"),
    );
    let leaf = pki.sign("srv", "clientica", &leaf_ext("DNS:srv.test"));
    let bundle = pki.bundle("eku.bundle", &[&leaf, &pki.p("clientica.pem")]);
    assert_refused(
        &pki,
        &[&bundle, "--ca", &root, "--host", "srv.test"],
        "wrong_purpose",
    );
    let ossl = openssl(&[
        "verify",
        "-CAfile",
        &root,
        "-untrusted",
        &pki.p("clientica.pem"),
        "-purpose",
        "sslserver",
        &leaf,
    ]);
    assert_ne!(ossl.code, 0, "openssl refuses it too: {ossl:?}");
    // --help says so.
    let help = pki.env.minica(&["verify", "--help"]).ok().stdout;
    assert!(help.contains("serverAuth"), "{help}");
}

#[test]
fn weak_keys_are_refused_and_merely_weak_ones_warned() {
    let pki = Pki::new();
    let root = pki.root("root", ROOT_EXTS);
    for kind in ["dsa", "p192"] {
        let key = pki.key(kind, kind);
        let leaf = pki.sign_key(
            kind,
            &key,
            &format!("/CN={kind}.test"),
            "root",
            &leaf_ext(&format!("DNS:{kind}.test")),
        );
        let j = assert_refused(
            &pki,
            &[&leaf, "--ca", &root, "--host", &format!("{kind}.test")],
            "weak_key",
        );
        let msg = j.to_string();
        assert!(
            msg.contains(if kind == "dsa" { "DSA" } else { "curve" }),
            "{msg}"
        );
    }
    let key = pki.key("rsa1024", "rsa1024");
    let leaf = pki.sign_key(
        "rsa1024",
        &key,
        "/CN=rsa.test",
        "root",
        &leaf_ext("DNS:rsa.test"),
    );
    let (code, j) = pki.verify(&[&leaf, "--ca", &root, "--host", "rsa.test"]);
    assert_eq!(
        code, 0,
        "RSA-1024 is weak, not refused (OpenSSL 3 accepts it): {j:#}"
    );
    assert!(j["warnings"].to_string().contains("RSA-1024"), "{j:#}");
}

#[test]
fn a_key_rollover_is_not_called_an_altered_certificate() {
    let pki = Pki::new();
    let root = pki.root("roll", ROOT_EXTS);
    // The CA's new key, certified by its old one: a self-issued intermediate.
    let k2 = pki.key("roll2", "ec");
    pki.sign_key("roll2", &k2, "/CN=roll", "roll", CA_EXT);
    let leaf = pki.sign("rolled", "roll2", &leaf_ext("DNS:r.test"));
    let bundle = pki.bundle("roll.bundle", &[&leaf, &pki.p("roll2.pem")]);
    let (code, j) = pki.verify(&[&bundle, "--ca", &root]);
    let text = j.to_string();
    assert!(!text.contains("altered"), "a false sentence: {j:#}");
    if code != 0 {
        assert_eq!(j["reason"], "self_issued", "{j:#}");
    }
    // Given only the leaf, the reason is the wrong key, not an alteration claim.
    let (code, j) = pki.verify(&[&leaf, "--ca", &root]);
    assert_eq!(code, 1, "{j:#}");
    assert_eq!(j["reason"], "bad_signature", "{j:#}");
    assert!(j.to_string().contains("re-keyed"), "{j:#}");
}

#[test]
fn certificate_text_never_reaches_the_terminal_raw() {
    let pki = Pki::new();
    let root = pki.root("root", ROOT_EXTS);
    let key = pki.key("esc", "ec");
    let subj = "/CN=evil\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}tset.a";
    let leaf = pki.sign_key("esc", &key, subj, "root", &leaf_ext("DNS:a.test"));
    for args in [
        vec!["verify", leaf.as_str(), "--ca", root.as_str()],
        vec!["verify", leaf.as_str(), "--ca", root.as_str(), "--json"],
        vec![
            "verify",
            leaf.as_str(),
            "--ca",
            root.as_str(),
            "--host",
            "b.test",
        ],
        vec!["inspect", leaf.as_str()],
        vec!["inspect", leaf.as_str(), "--json"],
    ] {
        let r = pki.env.minica(&args);
        let out = format!("{}{}", r.stdout, r.stderr);
        for bad in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}'] {
            assert!(!out.contains(bad), "{args:?} prints {bad:?} raw:\n{out}");
        }
        assert!(out.contains("evil"), "{args:?}: {out}");
        assert!(
            out.contains("\\x1b") || out.contains("\\\\x1b"),
            "{args:?}: {out}"
        );
    }
}

#[test]
fn numeric_inputs_have_a_range_and_a_clear_error() {
    let pki = Pki::new();
    let root = pki.root("root", ROOT_EXTS);
    let leaf = pki.sign("leaf", "root", &leaf_ext("DNS:a.test"));
    for args in [
        &["--expires-within", "99999999d"][..],
        &["--expires-within", "99999999999999999999999w"],
        &["--at", "@99999999999999"],
        &["--at", "@-5"],
        &["--max-depth", "7"],
        &["--timeout", "0"],
    ] {
        let mut all = vec!["verify", leaf.as_str(), "--ca", root.as_str()];
        all.extend_from_slice(args);
        let r = pki.env.minica(&all);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(args[0]), "{args:?}: {}", r.stderr);
    }
    pki.env
        .minica(&["verify", &leaf, "--ca", &root, "--expires-within", "36525d"])
        .fails_with(1);
}

#[test]
fn one_clock_for_every_certificate_whole_seconds() {
    let pki = Pki::new();
    let root = pki.root("root", ROOT_EXTS);
    // A leaf whose notAfter is exactly 2031-01-01T00:00:00Z (openssl ca
    // sets any date).
    let cnf = openssl_ca_db(&pki.env.file("db"));
    let key = pki.key("edge", "ec");
    let csr = pki.p("edge.csr");
    openssl(&[
        "req",
        "-new",
        "-config",
        &pki.cnf,
        "-key",
        &key,
        "-subj",
        "/CN=edge.test",
        "-out",
        &csr,
    ])
    .ok();
    let ext = pki.p("edge.ext");
    std::fs::write(&ext, leaf_ext("DNS:edge.test")).unwrap();
    let leaf = pki.p("edge.pem");
    openssl(&[
        "ca",
        "-batch",
        "-notext",
        "-config",
        cnf.to_str().unwrap(),
        "-cert",
        &root,
        "-keyfile",
        &pki.p("root.key"),
        "-in",
        &csr,
        "-out",
        &leaf,
        "-startdate",
        "20300101000000Z",
        "-enddate",
        "20310101000000Z",
        "-extfile",
        &ext,
    ])
    .ok();
    // 5 ms after notAfter is still the same second: X.509 times and
    // webpki's clock count whole seconds, and so does every check of minica.
    let (code, j) = pki.verify(&[&leaf, "--ca", &root, "--at", "2031-01-01T00:00:00.005Z"]);
    assert_eq!(code, 0, "{j:#}");
    let j = assert_refused(
        &pki,
        &[&leaf, "--ca", &root, "--at", "2031-01-01T00:00:01Z"],
        "expired",
    );
    assert!(j.to_string().contains("edge.test"), "{j:#}");
}
