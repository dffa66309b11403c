//! `minica verify` against a corpus of chains built with openssl, not with
//! minica, so minica is not checking itself. On every case minica's verdict
//! must equal `openssl verify` with the matching flags, and the reason in
//! the JSON must be the right one.

mod common;
use common::*;

struct Corpus {
    env: Env,
    now: i64,
}

const SERVER_EXT: &str = "extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n";
const CA_EXT: &str = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";

impl Corpus {
    fn p(&self, name: &str) -> String {
        self.env.s(name)
    }

    fn key(&self, name: &str, rsa_bits: Option<u32>) -> String {
        let path = self.p(&format!("{name}.key"));
        match rsa_bits {
            Some(bits) => openssl(&[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                &format!("rsa_keygen_bits:{bits}"),
                "-out",
                &path,
            ])
            .ok(),
            None => openssl(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &path,
            ])
            .ok(),
        };
        path
    }

    /// A self-signed certificate: a root, or with `leaf_ext` a self-signed leaf.
    fn root(&self, name: &str, days: u32, extra_ext: &[&str], rsa: Option<u32>) -> String {
        let key = self.key(name, rsa);
        let out = self.p(&format!("{name}.pem"));
        let mut args = vec![
            "req",
            "-x509",
            "-new",
            "-key",
            &key,
            "-subj",
            &*Box::leak(format!("/CN={name}").into_boxed_str()),
            "-days",
            &*Box::leak(days.to_string().into_boxed_str()),
            "-out",
            &out,
        ];
        for e in extra_ext {
            args.push("-addext");
            args.push(e);
        }
        openssl(&args).ok();
        out
    }

    /// A key and a CSR for `name`, and `ext` written to an extension file.
    fn request(&self, name: &str, rsa: Option<u32>, ext: &str) -> (String, String) {
        let key = self.key(name, rsa);
        let csr = self.p(&format!("{name}.csr"));
        let subject = format!("/CN={name}");
        openssl(&["req", "-new", "-key", &key, "-subj", &subject, "-out", &csr]).ok();
        let extfile = self.p(&format!("{name}.ext"));
        std::fs::write(&extfile, ext).unwrap();
        (csr, extfile)
    }

    /// A certificate for `name` signed by `issuer` with the extensions `ext`.
    fn sign(
        &self,
        name: &str,
        issuer: &str,
        days: u32,
        ext: &str,
        rsa: Option<u32>,
        extra: &[&str],
    ) -> String {
        let (csr, extfile) = self.request(name, rsa, ext);
        let out = self.p(&format!("{name}.pem"));
        let mut args = vec![
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &*Box::leak(self.p(&format!("{issuer}.pem")).into_boxed_str()),
            "-CAkey",
            &*Box::leak(self.p(&format!("{issuer}.key")).into_boxed_str()),
            "-days",
            &*Box::leak(days.to_string().into_boxed_str()),
            "-extfile",
            &extfile,
            "-out",
            &out,
        ];
        args.extend_from_slice(extra);
        openssl(&args).ok();
        out
    }

    /// Signed with `openssl ca`, the one way to set a notBefore in the future.
    fn sign_dated(&self, name: &str, issuer: &str, start: i64, end: i64, ext: &str) -> String {
        let cnf = openssl_ca_db(&self.env.file(&format!("ca-{name}")));
        let (csr, extfile) = self.request(name, None, ext);
        let out = self.p(&format!("{name}.pem"));
        let fmt = |t: i64| {
            let t = time::OffsetDateTime::from_unix_timestamp(t).unwrap();
            format!(
                "{:04}{:02}{:02}{:02}{:02}{:02}Z",
                t.year(),
                t.month() as u8,
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        };
        openssl(&[
            "ca",
            "-batch",
            "-notext",
            "-config",
            cnf.to_str().unwrap(),
            "-cert",
            &self.p(&format!("{issuer}.pem")),
            "-keyfile",
            &self.p(&format!("{issuer}.key")),
            "-in",
            &csr,
            "-out",
            &out,
            "-startdate",
            &fmt(start),
            "-enddate",
            &fmt(end),
            "-extfile",
            &extfile,
        ])
        .ok();
        out
    }

    fn bundle(&self, name: &str, parts: &[&str]) -> String {
        let mut pem = String::new();
        for p in parts {
            pem.push_str(&std::fs::read_to_string(p).unwrap());
        }
        let out = self.p(&format!("{name}.bundle.pem"));
        std::fs::write(&out, pem).unwrap();
        out
    }
}

/// One case: what to verify, against what, with which flags.
struct Case {
    name: &'static str,
    leaf: String,
    intermediates: Vec<String>,
    root: String,
    host: Option<&'static str>,
    purpose: Option<&'static str>,
    at: Option<i64>,
    valid: bool,
    reason: Option<&'static str>,
    warning: Option<&'static str>,
}

fn run_case(c: &Corpus, case: &Case) {
    // OpenSSL's verdict.
    let mut args: Vec<String> = vec!["verify".into(), "-CAfile".into(), case.root.clone()];
    for i in &case.intermediates {
        args.extend(["-untrusted".into(), i.clone()]);
    }
    if let Some(p) = case.purpose {
        args.extend([
            "-purpose".into(),
            if p == "server" {
                "sslserver".into()
            } else {
                "sslclient".into()
            },
        ]);
    }
    if let Some(h) = case.host {
        let flag = if h.parse::<std::net::IpAddr>().is_ok() {
            "-verify_ip"
        } else {
            "-verify_hostname"
        };
        args.extend([flag.into(), h.into()]);
    }
    if let Some(t) = case.at {
        args.extend(["-attime".into(), t.to_string()]);
    }
    args.push(case.leaf.clone());
    let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
    let ossl = openssl(&args_ref);
    assert_eq!(
        ossl.code == 0,
        case.valid,
        "{}: openssl disagrees with the expected verdict: {ossl:?}",
        case.name
    );

    // minica's verdict, from one bundle: leaf then intermediates.
    let mut parts = vec![case.leaf.as_str()];
    parts.extend(case.intermediates.iter().map(String::as_str));
    let bundle = c.bundle(case.name, &parts);
    let mut margs: Vec<String> = vec![
        "verify".into(),
        bundle,
        "--ca".into(),
        case.root.clone(),
        "--json".into(),
    ];
    if let Some(p) = case.purpose {
        margs.extend(["--purpose".into(), p.into()]);
    }
    if let Some(h) = case.host {
        margs.extend(["--host".into(), h.into()]);
    }
    if let Some(t) = case.at {
        margs.extend(["--at".into(), format!("@{t}")]);
    }
    let margs_ref: Vec<&str> = margs.iter().map(String::as_str).collect();
    let r = c.env.minica(&margs_ref);
    let j = r.json();
    assert_eq!(
        j["valid"], case.valid,
        "{}: minica's verdict differs from openssl's: {j:#}",
        case.name
    );
    assert_eq!(
        r.code,
        if case.valid { 0 } else { 1 },
        "{}: exit code",
        case.name
    );
    match case.reason {
        Some(reason) => assert_eq!(j["reason"], reason, "{}: wrong reason: {j:#}", case.name),
        None => assert!(j["reason"].is_null(), "{}: {j:#}", case.name),
    }
    if let Some(w) = case.warning {
        let warnings = j["warnings"].to_string();
        assert!(
            warnings.contains(w),
            "{}: expected a warning about {w}: {warnings}",
            case.name
        );
    }
}

#[test]
fn verdicts_match_openssl_with_the_right_reason() {
    let c = Corpus {
        env: Env::new(),
        now: time::OffsetDateTime::now_utc().unix_timestamp(),
    };
    let day = 86_400;
    let root = c.root(
        "root",
        3650,
        &[
            "basicConstraints=critical,CA:TRUE",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        None,
    );
    let other_root = c.root(
        "otherroot",
        3650,
        &[
            "basicConstraints=critical,CA:TRUE",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        None,
    );
    let rsa_root = c.root(
        "rsaroot",
        3650,
        &[
            "basicConstraints=critical,CA:TRUE",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        Some(2048),
    );
    let short_root = c.root(
        "shortroot",
        1,
        &[
            "basicConstraints=critical,CA:TRUE",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        None,
    );
    let nc_root = c.root(
        "ncroot",
        3650,
        &[
            "basicConstraints=critical,CA:TRUE",
            "keyUsage=critical,keyCertSign,cRLSign",
            "nameConstraints=critical,permitted;DNS:good.test",
        ],
        None,
    );

    let san = |names: &str| format!("{SERVER_EXT}subjectAltName={names}\n");
    let valid = c.sign(
        "valid.test",
        "root",
        90,
        &san("DNS:valid.test,IP:192.0.2.10"),
        None,
        &[],
    );
    let inter = c.sign("inter", "root", 1000, CA_EXT, None, &[]);
    let via = c.sign("via.test", "inter", 90, &san("DNS:via.test"), None, &[]);
    let short_inter = c.sign("shortinter", "root", 5, CA_EXT, None, &[]);
    let via_short = c.sign(
        "viashort.test",
        "shortinter",
        90,
        &san("DNS:viashort.test"),
        None,
        &[],
    );
    let short_leaf = c.sign("short.test", "root", 5, &san("DNS:short.test"), None, &[]);
    let future = c.sign_dated(
        "future.test",
        "root",
        c.now + 5 * day,
        c.now + 90 * day,
        &san("DNS:future.test"),
    );
    let under_short_root = c.sign(
        "undershort.test",
        "shortroot",
        90,
        &san("DNS:undershort.test"),
        None,
        &[],
    );
    let client_only = c.sign("client.test", "root", 90,
        "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:client.test\n", None, &[]);
    let not_ca = c.sign("notca", "root", 90, &san("DNS:notca.test"), None, &[]);
    let under_not_ca = c.sign(
        "undernotca.test",
        "notca",
        90,
        &san("DNS:undernotca.test"),
        None,
        &[],
    );
    let nc_good = c.sign(
        "a.good.test",
        "ncroot",
        90,
        &san("DNS:a.good.test"),
        None,
        &[],
    );
    let nc_bad = c.sign("evil.test", "ncroot", 90, &san("DNS:evil.test"), None, &[]);
    let self_signed = c.root(
        "selfsigned.test",
        90,
        &[
            "subjectAltName=DNS:selfsigned.test",
            "extendedKeyUsage=serverAuth",
            "basicConstraints=critical,CA:FALSE",
        ],
        None,
    );
    let rsa1024 = c.sign(
        "weak.test",
        "rsaroot",
        90,
        &san("DNS:weak.test"),
        Some(1024),
        &[],
    );
    let sha1 = c.sign(
        "sha1.test",
        "rsaroot",
        90,
        &san("DNS:sha1.test"),
        None,
        &["-sha1"],
    );

    let s = |x: &String| x.clone();
    let case = |name, leaf: &String, inters: Vec<&String>, root: &String| Case {
        name,
        leaf: s(leaf),
        intermediates: inters.into_iter().cloned().collect(),
        root: s(root),
        host: None,
        purpose: Some("server"),
        at: None,
        valid: true,
        reason: None,
        warning: None,
    };
    let cases = vec![
        Case {
            host: Some("valid.test"),
            ..case("valid leaf", &valid, vec![], &root)
        },
        Case {
            host: Some("via.test"),
            ..case("valid through an intermediate", &via, vec![&inter], &root)
        },
        Case {
            valid: false,
            reason: Some("unknown_issuer"),
            ..case("missing intermediate", &via, vec![], &root)
        },
        Case {
            valid: false,
            reason: Some("unknown_issuer"),
            ..case("wrong root", &valid, vec![], &other_root)
        },
        Case {
            at: Some(c.now + 10 * day),
            valid: false,
            reason: Some("expired"),
            ..case("expired leaf", &short_leaf, vec![], &root)
        },
        Case {
            valid: false,
            reason: Some("not_yet_valid"),
            ..case("not-yet-valid leaf", &future, vec![], &root)
        },
        Case {
            at: Some(c.now + 10 * day),
            valid: false,
            reason: Some("expired"),
            ..case(
                "expired intermediate",
                &via_short,
                vec![&short_inter],
                &root,
            )
        },
        Case {
            at: Some(c.now + 3 * day),
            valid: false,
            reason: Some("expired"),
            ..case("expired root", &under_short_root, vec![], &short_root)
        },
        Case {
            host: Some("other.test"),
            valid: false,
            reason: Some("wrong_host"),
            ..case("wrong host", &valid, vec![], &root)
        },
        Case {
            host: Some("192.0.2.10"),
            ..case("IP SAN match", &valid, vec![], &root)
        },
        Case {
            host: Some("192.0.2.11"),
            valid: false,
            reason: Some("wrong_host"),
            ..case("IP SAN mismatch", &valid, vec![], &root)
        },
        Case {
            valid: false,
            reason: Some("wrong_purpose"),
            ..case(
                "client-only EKU asked for server",
                &client_only,
                vec![],
                &root,
            )
        },
        Case {
            purpose: Some("client"),
            ..case("client EKU asked for client", &client_only, vec![], &root)
        },
        Case {
            valid: false,
            reason: Some("issuer_not_ca"),
            ..case("issuer with CA:FALSE", &under_not_ca, vec![&not_ca], &root)
        },
        Case {
            host: Some("a.good.test"),
            ..case("inside name constraints", &nc_good, vec![], &nc_root)
        },
        Case {
            valid: false,
            reason: Some("name_constraints"),
            ..case("name-constraint violation", &nc_bad, vec![], &nc_root)
        },
        Case {
            valid: false,
            reason: Some("self_signed"),
            ..case("self-signed leaf", &self_signed, vec![], &root)
        },
        Case {
            warning: Some("RSA-1024"),
            ..case("RSA-1024 leaf", &rsa1024, vec![], &rsa_root)
        },
        Case {
            warning: Some("SHA-1"),
            ..case("SHA-1-signed leaf", &sha1, vec![], &rsa_root)
        },
    ];
    assert!(cases.len() >= 15);
    for case in &cases {
        run_case(&c, case);
    }
}

#[test]
fn expires_within_flags_a_leaf_that_expires_in_10_days() {
    let c = Corpus {
        env: Env::new(),
        now: 0,
    };
    c.root(
        "root",
        3650,
        &[
            "basicConstraints=critical,CA:TRUE",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        None,
    );
    let leaf = c.sign(
        "ten.test",
        "root",
        10,
        &format!("{SERVER_EXT}subjectAltName=DNS:ten.test\n"),
        None,
        &[],
    );
    let root = c.p("root.pem");
    let r = c
        .env
        .minica(&[
            "verify",
            &leaf,
            "--ca",
            &root,
            "--expires-within",
            "30d",
            "--json",
        ])
        .fails_with(1);
    let j = r.json();
    assert_eq!(j["reason"], "expires_soon", "{j:#}");
    let msg = j["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "expires_within")
        .unwrap()["message"]
        .to_string();
    assert!(msg.contains("leaf") && msg.contains("ten.test"), "{msg}");
    c.env
        .minica(&["verify", &leaf, "--ca", &root, "--expires-within", "5d"])
        .ok();
    let text = c
        .env
        .minica(&["verify", &leaf, "--ca", &root, "--expires-within", "2w"])
        .fails_with(1)
        .stdout;
    assert!(
        text.contains("✗ expires_within") && text.contains("NOT VALID"),
        "{text}"
    );
}

#[test]
fn keys_stores_and_truststores() {
    let env = Env::new();
    std::fs::write(env.file("pw"), "changeit\n").unwrap();
    let pwf = env.s("pw");
    env.minica(&[
        "issue",
        "localhost",
        "--keystore",
        "--truststore",
        "--password-file",
        &pwf,
    ])
    .ok();
    env.minica(&["issue", "--client", "bob"]).ok();
    // --key must belong to the leaf.
    env.minica(&["verify", "localhost/cert.pem", "--key", "localhost/key.pem"])
        .ok();
    let j = env
        .minica(&[
            "verify",
            "localhost/cert.pem",
            "--key",
            "bob/key.pem",
            "--json",
        ])
        .fails_with(1)
        .json();
    assert_eq!(j["reason"], "key_mismatch");
    // A keystore: its chain, and its key checked against its certificate.
    let j = env
        .minica(&[
            "verify",
            "localhost/keystore.p12",
            "--password-file",
            &pwf,
            "--host",
            "localhost",
            "--json",
        ])
        .ok()
        .json();
    assert!(
        j["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "key" && c["ok"] == true),
        "{j:#}"
    );
    env.minica(&[
        "keystore",
        "localhost",
        "--format",
        "jks",
        "--password-file",
        &pwf,
    ])
    .ok();
    env.minica(&[
        "verify",
        "localhost/keystore.jks",
        "--password-file",
        &pwf,
        "--truststore",
        "localhost/truststore.p12",
    ])
    .ok();
    // Truststore checks: minica's is fine; openssl's -nokeys export is empty to Java.
    env.minica(&[
        "verify",
        "--truststore",
        "localhost/truststore.p12",
        "--password-file",
        &pwf,
    ])
    .ok();
    openssl(&[
        "pkcs12",
        "-export",
        "-nokeys",
        "-in",
        &env.s("localhost/ca.pem"),
        "-out",
        &env.s("plain.p12"),
        "-passout",
        "pass:changeit",
    ])
    .ok();
    let r = env
        .minica(&[
            "verify",
            "--truststore",
            "plain.p12",
            "--password-file",
            &pwf,
            "--json",
        ])
        .fails_with(1);
    let j = r.json();
    assert_eq!(j["reason"], "empty_truststore");
    assert!(
        j["problems"][0]
            .as_str()
            .unwrap()
            .contains("Java sees an empty truststore"),
        "{j:#}"
    );
    // Reading stores back: wrong password and truncated stores are one sentence.
    std::fs::write(env.file("wrong"), "wrong-password\n").unwrap();
    let bytes = std::fs::read(env.file("localhost/keystore.p12")).unwrap();
    std::fs::write(env.file("trunc.p12"), &bytes[..bytes.len() / 2]).unwrap();
    let jks = std::fs::read(env.file("localhost/keystore.jks")).unwrap();
    std::fs::write(env.file("trunc.jks"), &jks[..jks.len() - 40]).unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "inspect",
                "localhost/keystore.p12",
                "--password-file",
                "wrong",
            ],
            "wrong password",
        ),
        (
            &[
                "inspect",
                "localhost/keystore.jks",
                "--password-file",
                "wrong",
            ],
            "wrong password",
        ),
        (
            &[
                "verify",
                "localhost/keystore.p12",
                "--password-file",
                "wrong",
            ],
            "wrong password",
        ),
        (
            &["inspect", "trunc.p12", "--password-file", "pw"],
            "trunc.p12",
        ),
        (
            &["inspect", "trunc.jks", "--password-file", "pw"],
            "trunc.jks",
        ),
        (
            &["verify", "localhost/keystore.p12"],
            "no store password given",
        ),
        (
            &["verify", "localhost/key.pem"],
            "not a certificate or keystore",
        ),
        (&["verify", "nope.pem"], "no such file"),
        (
            &["verify", "localhost/cert.pem", "--at", "yesterday"],
            "--at",
        ),
        (
            &["verify", "localhost/cert.pem", "--expires-within", "soon"],
            "--expires-within",
        ),
        (
            &["verify", "localhost/cert.pem", "--ca", "localhost/key.pem"],
            "PRIVATE KEY",
        ),
    ];
    for (args, needle) in cases {
        let before = snapshot(env.path());
        let r = env.minica(args).fails_with(2);
        r.one_sentence_naming(needle);
        assert_eq!(before, snapshot(env.path()));
    }
}

#[test]
fn inspect_describes_without_secrets() {
    let env = Env::new();
    env.minica(&["init", "--permit", ".test", "--permit", "10.0.0.0/8"])
        .ok();
    env.minica(&["issue", "web.test", "10.0.0.1"]).ok();
    let j = env
        .minica(&["inspect", "web.test/cert.pem", "--json"])
        .ok()
        .json();
    let c = &j["certificates"][0];
    assert_eq!(
        c["subject_alt_names"],
        serde_json::json!([
            { "type": "dns", "value": "web.test" },
            { "type": "ip", "value": "10.0.0.1" }
        ])
    );
    assert_eq!(c["extended_key_usage"], serde_json::json!(["serverAuth"]));
    assert_eq!(c["is_ca"], false);
    assert_eq!(c["key_type"], "ecdsa-p256");
    // The fingerprint is openssl's.
    let fp = openssl(&[
        "x509",
        "-in",
        &env.s("web.test/cert.pem"),
        "-noout",
        "-fingerprint",
        "-sha256",
    ])
    .ok()
    .stdout;
    assert_eq!(
        fp.trim()
            .trim_start_matches("sha256 Fingerprint=")
            .trim_start_matches("SHA256 Fingerprint="),
        c["sha256_fingerprint"].as_str().unwrap()
    );
    let root = env
        .minica(&[
            "inspect",
            &env.ca_dir().join("ca.pem").to_string_lossy(),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(root["certificates"][0]["is_ca"], true);
    assert_eq!(
        root["certificates"][0]["name_constraints_permitted"],
        serde_json::json!([
            { "type": "dns", "value": "test" },
            { "type": "ip", "value": "10.0.0.0/8" }
        ])
    );
    // A key: its type and public fingerprint, never the private part.
    let key = std::fs::read_to_string(env.file("web.test/key.pem")).unwrap();
    let r = env.minica(&["inspect", "web.test/key.pem"]).ok();
    assert!(r.stdout.contains("ecdsa-p256"), "{}", r.stdout);
    let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(
        !r.stdout.contains(&body[10..30]),
        "private key material printed"
    );
    // A CSR.
    env.minica(&["csr", "c.test", "--out-dir", "c"]).ok();
    let j = env.minica(&["inspect", "c/csr.pem", "--json"]).ok().json();
    assert_eq!(
        j["csr"]["names"],
        serde_json::json!([{ "type": "dns", "value": "c.test" }])
    );
    assert_eq!(j["csr"]["signature_valid"], true);
}
