//! `minica init`, `issue` and `list`, checked by OpenSSL: the certificates
//! must verify for the right purpose and host, and nothing else.

mod common;
use common::*;

const KEY_TYPES: [&str; 6] = [
    "ecdsa-p256",
    "ecdsa-p384",
    "ed25519",
    "rsa-2048",
    "rsa-3072",
    "rsa-4096",
];

/// `openssl verify` of `cert` against `ca`, with the chain.pem beside it
/// (leaf and intermediates) as untrusted certificates.
fn verify(ca: &str, purpose: &str, host_flag: &str, host: &str, cert: &str) -> Run {
    let chain = std::path::Path::new(cert).with_file_name("chain.pem");
    let chain = chain.to_str().unwrap();
    let mut args = vec!["verify", "-CAfile", ca, "-purpose", purpose];
    if std::path::Path::new(chain).exists() {
        args.extend(["-untrusted", chain]);
    }
    args.extend([host_flag, host, cert]);
    openssl(&args)
}

#[test]
fn every_key_type_verifies_for_its_purpose_and_name() {
    for kt in KEY_TYPES {
        let env = Env::new();
        env.minica(&["init", "--key-type", kt]).ok();
        env.minica(&[
            "issue",
            "--key-type",
            kt,
            "server.example",
            "--out-dir",
            "srv",
        ])
        .ok();
        env.minica(&[
            "issue",
            "--key-type",
            kt,
            "--client",
            "alice",
            "--out-dir",
            "cli",
        ])
        .ok();
        env.minica(&["issue", "--key-type", kt, "192.0.2.7", "--out-dir", "ip"])
            .ok();
        let ca = env.s("srv/ca.pem");

        verify(
            &ca,
            "sslserver",
            "-verify_hostname",
            "server.example",
            &env.s("srv/cert.pem"),
        )
        .ok();
        let wrong_host = verify(
            &ca,
            "sslserver",
            "-verify_hostname",
            "other.example",
            &env.s("srv/cert.pem"),
        );
        assert_ne!(
            wrong_host.code, 0,
            "{kt}: a server cert must not verify for another host"
        );

        openssl(&[
            "verify",
            "-CAfile",
            &ca,
            "-purpose",
            "sslclient",
            &env.s("cli/cert.pem"),
        ])
        .ok();
        let as_server = openssl(&[
            "verify",
            "-CAfile",
            &ca,
            "-purpose",
            "sslserver",
            &env.s("cli/cert.pem"),
        ]);
        assert_ne!(
            as_server.code, 0,
            "{kt}: a client cert must not verify as a server"
        );
        assert!(
            as_server.stderr.contains("unsuitable certificate purpose"),
            "{kt}: {as_server:?}"
        );

        verify(
            &ca,
            "sslserver",
            "-verify_ip",
            "192.0.2.7",
            &env.s("ip/cert.pem"),
        )
        .ok();
        let wrong_ip = verify(
            &ca,
            "sslserver",
            "-verify_ip",
            "192.0.2.8",
            &env.s("ip/cert.pem"),
        );
        assert_ne!(
            wrong_ip.code, 0,
            "{kt}: an IP cert must not verify for another address"
        );

        // The key on disk is one OpenSSL reads (Ed25519 in PKCS#8 v1) and
        // belongs to the certificate.
        let key_pub = openssl(&["pkey", "-in", &env.s("srv/key.pem"), "-pubout"])
            .ok()
            .stdout;
        let cert_pub = openssl(&["x509", "-in", &env.s("srv/cert.pem"), "-noout", "-pubkey"])
            .ok()
            .stdout;
        assert_eq!(key_pub, cert_pub, "{kt}: key.pem does not match cert.pem");
    }
}

#[test]
fn root_and_leaf_carry_the_right_extensions() {
    let env = Env::new();
    env.minica(&["init", "--cn", "Test Root", "--org", "Acme Dev"])
        .ok();
    env.minica(&[
        "issue",
        "a.test",
        "*.a.test",
        "10.1.2.3",
        "::1",
        "ops@a.test",
        "spiffe://a.test/svc",
    ])
    .ok();
    env.minica(&["issue", "--key-type", "rsa-2048", "rsa.test"])
        .ok();
    env.minica(&[
        "issue",
        "--key-type",
        "rsa-2048",
        "--client",
        "rsa-client.test",
    ])
    .ok();

    let root = x509_text(&env.ca_dir().join("ca.pem"));
    assert!(
        root.contains("Subject: CN = Test Root, O = Acme Dev"),
        "{root}"
    );
    assert!(
        root.contains("X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:1"),
        "{root}"
    );
    assert!(
        root.contains("X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign"),
        "{root}"
    );
    assert!(
        !root.contains("Extended Key Usage"),
        "a root must carry no EKU: {root}"
    );
    assert!(root.contains("Subject Key Identifier"), "{root}");

    let leaf = x509_text(&env.file("a.test/cert.pem"));
    assert!(leaf.contains("Subject: CN = a.test"), "{leaf}");
    assert!(leaf.contains("CA:FALSE"), "{leaf}");
    assert!(
        leaf.contains("X509v3 Key Usage: critical\n                Digital Signature\n"),
        "ECDSA leaf: digitalSignature only: {leaf}"
    );
    assert!(
        leaf.contains("TLS Web Server Authentication") && !leaf.contains("Client Authentication"),
        "{leaf}"
    );
    assert!(
        leaf.contains("Authority Key Identifier") && leaf.contains("Subject Key Identifier"),
        "{leaf}"
    );
    assert!(
        leaf.contains("DNS:a.test, DNS:*.a.test, IP Address:10.1.2.3, IP Address:0:0:0:0:0:0:0:1, email:ops@a.test, URI:spiffe://a.test/svc"),
        "{leaf}"
    );
    // The AKI of the leaf is the SKI of the root.
    let ski = |t: &str, label: &str| {
        let i = t.find(label).unwrap();
        t[i..].lines().nth(1).unwrap().trim().to_string()
    };
    assert_eq!(
        ski(&leaf, "Authority Key Identifier"),
        ski(&root, "Subject Key Identifier")
    );

    let rsa = x509_text(&env.file("rsa.test/cert.pem"));
    assert!(
        rsa.contains("Digital Signature, Key Encipherment"),
        "RSA server leaf: keyEncipherment: {rsa}"
    );
    let rsa_client = x509_text(&env.file("rsa-client.test/cert.pem"));
    assert!(
        rsa_client.contains("TLS Web Client Authentication")
            && !rsa_client.contains("Server Authentication"),
        "{rsa_client}"
    );

    // Serials: random, 16 bytes, distinct.
    let serial = |p: &str| {
        openssl(&["x509", "-in", p, "-noout", "-serial"])
            .ok()
            .stdout
    };
    let s1 = serial(&env.s("a.test/cert.pem"));
    let s2 = serial(&env.s("rsa.test/cert.pem"));
    assert_ne!(s1, s2);
    assert_eq!(s1.trim().trim_start_matches("serial=").len(), 32, "{s1}");

    // Default leaf lifetime is 397 days, well inside Apple's 825.
    let dates = openssl(&[
        "x509",
        "-in",
        &env.s("a.test/cert.pem"),
        "-noout",
        "-startdate",
        "-enddate",
    ])
    .ok()
    .stdout;
    assert!(dates.contains("notAfter="), "{dates}");
    let json = env.minica(&["--json", "list"]).ok().json();
    let c = &json["certificates"][0];
    let days = c["days_left"].as_i64().unwrap();
    assert!((396..=397).contains(&days), "{c}");
}

#[test]
fn modes_and_layout_on_disk() {
    let env = Env::new();
    env.minica(&["issue", "localhost"]).ok();
    assert_eq!(mode(&env.ca_dir()), 0o700);
    assert_eq!(mode(&env.ca_dir().join("ca-key.pem")), 0o600);
    assert_eq!(mode(&env.file("localhost/key.pem")), 0o600);
    for f in ["cert.pem", "chain.pem", "ca.pem", "key.pem"] {
        assert!(env.file("localhost").join(f).is_file(), "{f} missing");
    }
    // chain.pem is what a server presents: the leaf, not the root.
    let chain = std::fs::read_to_string(env.file("localhost/chain.pem")).unwrap();
    let cert = std::fs::read_to_string(env.file("localhost/cert.pem")).unwrap();
    assert!(chain.starts_with(&cert));
    assert!(!chain.contains(&std::fs::read_to_string(env.file("localhost/ca.pem")).unwrap()));
    // No temporary files are left anywhere.
    for (p, _) in snapshot(env.path()) {
        assert!(
            !p.to_string_lossy().ends_with(".tmp"),
            "left behind: {}",
            p.display()
        );
    }
}

#[test]
fn issue_without_a_ca_creates_one_and_says_so() {
    let env = Env::new();
    let r = env.minica(&["issue", "localhost"]).ok();
    assert!(r.stderr.contains("created one"), "{}", r.stderr);
    assert!(env.ca_dir().join("ca.pem").is_file());
    let again = env.minica(&["issue", "second.test"]).ok();
    assert!(!again.stderr.contains("created"), "{}", again.stderr);
    openssl(&[
        "verify",
        "-CAfile",
        &env.s("localhost/ca.pem"),
        &env.s("second.test/cert.pem"),
    ])
    .ok();
}

#[test]
fn wildcard_goes_to_a_safe_directory_and_verifies() {
    let env = Env::new();
    env.minica(&["issue", "*.example.test"]).ok();
    let cert = env.s("_wildcard.example.test/cert.pem");
    verify(
        &env.s("_wildcard.example.test/ca.pem"),
        "sslserver",
        "-verify_hostname",
        "www.example.test",
        &cert,
    )
    .ok();
    let deep = verify(
        &env.s("_wildcard.example.test/ca.pem"),
        "sslserver",
        "-verify_hostname",
        "a.b.example.test",
        &cert,
    );
    assert_ne!(deep.code, 0, "a wildcard covers one label only");
}

#[test]
fn name_constrained_root() {
    let env = Env::new();
    env.minica(&[
        "init",
        "--permit",
        ".test",
        "--permit",
        "localhost",
        "--permit",
        "127.0.0.0/8",
    ])
    .ok();
    let root = x509_text(&env.ca_dir().join("ca.pem"));
    assert!(root.contains("X509v3 Name Constraints: critical"), "{root}");
    // Java ignores a trust anchor's constraints: leaves come from an
    // intermediate that carries them too.
    let issuing = x509_text(&env.ca_dir().join("issuers/issuing/cert.pem"));
    assert!(
        issuing.contains("X509v3 Name Constraints: critical"),
        "{issuing}"
    );
    assert!(issuing.contains("pathlen:0"), "{issuing}");

    env.minica(&["issue", "app.test", "localhost", "127.0.0.1"])
        .ok();
    verify(
        &env.s("app.test/ca.pem"),
        "sslserver",
        "-verify_hostname",
        "app.test",
        &env.s("app.test/cert.pem"),
    )
    .ok();
    // An IP-only leaf under DNS constraints verifies too (no CN for OpenSSL
    // to mistake for a host name).
    env.minica(&["issue", "127.0.0.2"]).ok();
    verify(
        &env.s("127.0.0.2/ca.pem"),
        "sslserver",
        "-verify_ip",
        "127.0.0.2",
        &env.s("127.0.0.2/cert.pem"),
    )
    .ok();

    // Outside the constraints: refused before anything is signed or written.
    for name in ["example.com", "10.0.0.1", "test"] {
        let before = snapshot(env.path());
        let r = env.minica(&["issue", name]).fails_with(2);
        r.one_sentence_naming("outside the CA's name constraints");
        assert_eq!(
            before,
            snapshot(env.path()),
            "{name}: something changed on disk"
        );
    }

    // A leaf outside them made by other means, with the CA's own key, is
    // rejected by OpenSSL: the constraint is in the root, not only in minica.
    let p = |f: &str| env.s(f);
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &p("evil.key"),
        "-out",
        &p("evil.csr"),
        "-subj",
        "/CN=evil.example.com",
    ])
    .ok();
    std::fs::write(
        env.file("ext.cnf"),
        "subjectAltName=DNS:evil.example.com\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("evil.csr"),
        "-CA",
        &env.ca_dir().join("ca.pem").to_string_lossy(),
        "-CAkey",
        &env.ca_dir().join("ca-key.pem").to_string_lossy(),
        "-days",
        "30",
        "-extfile",
        &p("ext.cnf"),
        "-out",
        &p("evil.pem"),
    ])
    .ok();
    let r = verify(
        &env.s("app.test/ca.pem"),
        "sslserver",
        "-verify_hostname",
        "evil.example.com",
        &p("evil.pem"),
    );
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("permitted subtree violation"), "{r:?}");
}

#[test]
fn days_limits() {
    let env = Env::new();
    env.minica(&["init", "--days", "1000"]).ok();
    let r = env.minica(&["issue", "long.test", "--days", "900"]).ok();
    assert!(
        r.stderr.contains("825"),
        "a warning past Apple's limit: {}",
        r.stderr
    );
    let before = snapshot(env.path());
    let r = env
        .minica(&["issue", "too-long.test", "--days", "2000"])
        .fails_with(2);
    r.one_sentence_naming("outlive the CA");
    assert_eq!(before, snapshot(env.path()));
    let end = openssl(&[
        "x509",
        "-in",
        &env.s("long.test/cert.pem"),
        "-noout",
        "-checkend",
        &(899 * 86400).to_string(),
    ]);
    end.ok();
}

#[test]
fn list_shows_soonest_expiry_first() {
    let env = Env::new();
    env.minica(&["issue", "later.test", "--days", "300"]).ok();
    env.minica(&["issue", "soon.test", "--days", "10"]).ok();
    env.minica(&["issue", "--client", "middle", "--days", "100"])
        .ok();
    let json = env.minica(&["list", "--json"]).ok().json();
    let certs = json["certificates"].as_array().unwrap();
    let names: Vec<&str> = certs
        .iter()
        .map(|c| c["names"][0]["value"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["soon.test", "middle", "later.test"]);
    let days: Vec<i64> = certs
        .iter()
        .map(|c| c["days_left"].as_i64().unwrap())
        .collect();
    for (got, want) in days.iter().zip([10, 100, 300]) {
        assert!(
            *got == want || *got == want - 1,
            "whole days left: {days:?}"
        );
    }
    assert_eq!(certs[1]["profile"], "client");
    assert_eq!(certs[0]["files_status"]["status"], "present");
    // The serial in the record is the certificate's.
    let serial = openssl(&[
        "x509",
        "-in",
        &env.s("soon.test/cert.pem"),
        "-noout",
        "-serial",
    ])
    .ok()
    .stdout;
    assert_eq!(
        serial.trim().trim_start_matches("serial=").to_lowercase(),
        certs[0]["serial"].as_str().unwrap()
    );

    let text = env.minica(&["list"]).ok().stdout;
    let soon = text.find("soon.test").unwrap();
    let later = text.find("later.test").unwrap();
    assert!(soon < later, "{text}");

    // A certificate whose files are gone is flagged.
    std::fs::remove_dir_all(env.file("soon.test")).unwrap();
    let json = env.minica(&["list", "--json"]).ok().json();
    assert_eq!(json["certificates"][0]["files_status"]["status"], "missing");
}

#[test]
fn output_modes() {
    let env = Env::new();
    let q = env.minica(&["-q", "issue", "quiet.test"]).ok();
    assert!(q.stdout.is_empty() && q.stderr.is_empty(), "{q:?}");
    let j = env.minica(&["issue", "json.test", "--json"]).ok().json();
    assert_eq!(j["names"][0]["value"], "json.test");
    assert_eq!(j["names"][0]["type"], "dns");
    assert_eq!(j["profile"], "server");
    assert_eq!(j["key_type"], "ecdsa-p256");
    assert_eq!(j["ca_created"], false);
    assert!(
        std::path::Path::new(env.path())
            .join(j["files"]["key"].as_str().unwrap())
            .is_file()
    );
    let human = env.minica(&["issue", "human.test"]).ok();
    assert!(
        human.stdout.contains("human.test/cert.pem") && human.stdout.contains("valid until"),
        "{}",
        human.stdout
    );
    // Errors in --json mode are a JSON object too, with the exit code.
    let e = env
        .minica(&["issue", "bad name", "--json"])
        .fails_with(2)
        .json();
    assert_eq!(e["error"]["kind"], "invalid_name");
}

#[test]
fn init_from_config_file_and_force() {
    let env = Env::new();
    std::fs::write(
        env.file("my.toml"),
        "[ca]\nname = \"From File\"\nkey_type = \"ecdsa-p384\"\ndays = 42\npermit = [\"corp.test\"]\n[issue]\nprofile = \"server-client\"\n",
    ).unwrap();
    env.minica(&["init", "--config", &env.s("my.toml")]).ok();
    let root = x509_text(&env.ca_dir().join("ca.pem"));
    assert!(
        root.contains("CN = From File")
            && root.contains("secp384r1")
            && root.contains("DNS:corp.test"),
        "{root}"
    );
    env.minica(&["issue", "x.corp.test"]).ok();
    let leaf = x509_text(&env.file("x.corp.test/cert.pem"));
    assert!(
        leaf.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
        "[issue] profile applies: {leaf}"
    );

    // init over an existing CA: refused, nothing changed, says which directory.
    let before = snapshot(env.path());
    let r = env.minica(&["init"]).fails_with(3);
    r.one_sentence_naming(&env.ca_dir().display().to_string());
    assert!(r.stderr.contains("--force"));
    assert_eq!(before, snapshot(env.path()));

    // With --force the old CA is kept aside, not destroyed.
    let old_key = std::fs::read(env.ca_dir().join("ca-key.pem")).unwrap();
    env.minica(&["init", "--force"]).ok();
    let kept: Vec<_> = std::fs::read_dir(env.ca_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("replaced-"))
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        std::fs::read(kept[0].path().join("ca-key.pem")).unwrap(),
        old_key
    );
    assert_ne!(
        std::fs::read(env.ca_dir().join("ca-key.pem")).unwrap(),
        old_key
    );
}

#[test]
fn ca_directory_profile_overrides_and_adds() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    std::fs::create_dir(env.ca_dir().join("templates")).unwrap();
    std::fs::write(env.ca_dir().join("templates/server.toml"),
        "days = 30\nkey_usage = [\"digitalSignature\"]\nextended_key_usage = [\"serverAuth\"]\n[subject]\norganizational_unit = \"Platform\"\n").unwrap();
    std::fs::write(env.ca_dir().join("templates/mail.toml"),
        "days = 60\nkey_usage = [\"digitalSignature\", \"keyEncipherment\"]\nextended_key_usage = [\"emailProtection\"]\n").unwrap();
    env.minica(&["issue", "o.test"]).ok();
    let leaf = x509_text(&env.file("o.test/cert.pem"));
    assert!(leaf.contains("OU = Platform"), "{leaf}");
    openssl(&[
        "x509",
        "-in",
        &env.s("o.test/cert.pem"),
        "-noout",
        "-checkend",
        &(31 * 86400).to_string(),
    ])
    .fails_with(1);
    env.minica(&["issue", "--profile", "mail", "bob@o.test"])
        .ok();
    let mail = x509_text(&env.file("bob@o.test/cert.pem"));
    assert!(
        mail.contains("E-mail Protection") && mail.contains("email:bob@o.test"),
        "{mail}"
    );
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    env.minica(&["issue", "exists.test"]).ok();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["issue", "exa mple"], 2, "exa mple"),
        (&["issue", ""], 2, "empty"),
        (&["issue", "*.*.example"], 2, "*.*.example"),
        (&["issue", "a\u{1}b.test"], 2, "control"),
        (&["issue", "ok.test", "bad..test"], 2, "bad..test"),
        (
            &["issue", "--profile", "nope", "p.test"],
            2,
            "unknown profile",
        ),
        (
            &["issue", "--profile", "../x", "p.test"],
            2,
            "invalid profile name",
        ),
        (&["issue", "--days", "0", "d.test"], 2, "days"),
        (&["issue", "exists.test"], 3, "exists.test/"),
        (&["init", "--permit", "10.0.0.0/99"], 2, "10.0.0.0/99"),
        (
            &["init", "--config", "/nonexistent/ca.toml"],
            2,
            "/nonexistent/ca.toml",
        ),
    ];
    for (args, code, needle) in cases {
        let before = snapshot(env.path());
        let r = env.minica(args).fails_with(*code);
        r.one_sentence_naming(needle);
        assert_eq!(before, snapshot(env.path()), "{args:?} changed something");
    }
    // Unknown key types are refused by the argument parser (exit 2).
    let before = snapshot(env.path());
    let r = env
        .minica(&["issue", "--key-type", "rsa-1024", "k.test"])
        .fails_with(2);
    assert!(r.stderr.contains("rsa-1024"), "{}", r.stderr);
    assert_eq!(before, snapshot(env.path()));
}

/// A CA directory that is broken in one way each time: the error names the
/// file and nothing is written.
#[test]
fn broken_ca_directories() {
    let base = Env::new();
    base.minica(&["init"]).ok();
    let other = Env::new();
    other.minica(&["init"]).ok();
    let other_key = std::fs::read(other.ca_dir().join("ca-key.pem")).unwrap();

    type Breaker = Box<dyn Fn(&std::path::Path)>;
    let cases: Vec<(&str, Breaker, &str)> = vec![
        (
            "corrupt key",
            Box::new(|d| {
                std::fs::write(
                    d.join("ca-key.pem"),
                    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                )
                .unwrap()
            }),
            "ca-key.pem",
        ),
        (
            "garbage key",
            Box::new(|d| std::fs::write(d.join("ca-key.pem"), [0u8, 1, 2, 255]).unwrap()),
            "ca-key.pem",
        ),
        (
            "missing key",
            Box::new(|d| std::fs::remove_file(d.join("ca-key.pem")).unwrap()),
            "ca-key.pem",
        ),
        (
            "mismatched key",
            Box::new(move |d| std::fs::write(d.join("ca-key.pem"), &other_key).unwrap()),
            "does not match",
        ),
        (
            "corrupt cert",
            Box::new(|d| {
                std::fs::write(
                    d.join("ca.pem"),
                    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                )
                .unwrap()
            }),
            "ca.pem",
        ),
        (
            "truncated cert",
            Box::new(|d| {
                let c = std::fs::read(d.join("ca.pem")).unwrap();
                std::fs::write(d.join("ca.pem"), &c[..c.len() / 2]).unwrap()
            }),
            "ca.pem",
        ),
        (
            "cert is a directory",
            Box::new(|d| {
                std::fs::remove_file(d.join("ca.pem")).unwrap();
                std::fs::create_dir(d.join("ca.pem")).unwrap()
            }),
            "ca.pem",
        ),
        (
            "bad ca.toml",
            Box::new(|d| std::fs::write(d.join("ca.toml"), "[ca]\nbogus = 1\n").unwrap()),
            "ca.toml",
        ),
        (
            "binary ca.toml",
            Box::new(|d| std::fs::write(d.join("ca.toml"), [0xffu8, 0xfe, 0]).unwrap()),
            "ca.toml",
        ),
    ];
    for (what, break_it, needle) in cases {
        let env = Env::new();
        copy_dir(&base.ca_dir(), &env.ca_dir());
        break_it(&env.ca_dir());
        let before = snapshot(env.path());
        let r = env.minica(&["issue", "x.test"]).fails_with(2);
        r.one_sentence_naming(needle);
        assert_eq!(before, snapshot(env.path()), "{what}: something changed");
    }

    // The CA directory is a file.
    let env = Env::new();
    std::fs::write(env.ca_dir(), "not a dir").unwrap();
    let before = snapshot(env.path());
    env.minica(&["issue", "x.test"])
        .fails_with(2)
        .one_sentence_naming("not a directory");
    assert_eq!(before, snapshot(env.path()));
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
