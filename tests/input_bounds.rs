//! What a CSR, a store, a secret or a name given to minica may not do
//! (issue 12, sections 3 to 5): each hostile or mistaken input gets one
//! sentence naming the file and the fix, exit 2, no file changed, and no
//! panic, hang or unbounded memory. Hang cases run under a watchdog, so a
//! regression fails instead of stalling CI.

mod common;
use common::*;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `minica ARGS` in the scratch directory with extra variables and a
/// standard input (a file, or nothing), killed after `limit`: a hang is a
/// test failure, not a stalled run.
fn minica_with(
    env: &Env,
    args: &[&str],
    vars: &[(&str, &OsStr)],
    stdin: Option<&Path>,
    limit: Duration,
) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(env.path())
        .env("MINICA_CA_DIR", env.ca_dir())
        .env("HOME", env.path())
        .env_remove("XDG_DATA_HOME")
        .env_remove("MINICA_CA_PASSWORD")
        .env_remove("MINICA_STORE_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    match stdin {
        Some(p) => cmd.stdin(std::fs::File::open(p).unwrap()),
        None => cmd.stdin(Stdio::null()),
    };
    let child = cmd.spawn().expect("run minica");
    let pid = child.id() as i32;
    // The output is read while the child runs (a full pipe would block it).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // SAFETY: kill(2) on the pid of a child this test spawned.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let out = rx.recv().unwrap().unwrap();
            panic!(
                "minica {} did not finish within {limit:?} (a hang or unbounded work); stderr: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        what: format!("minica {}", args.join(" ")),
    }
}

/// Replaces the [policy] section of the CA's ca.toml with `body`.
fn set_policy(env: &Env, body: &str) {
    let toml = env.ca_dir().join("ca.toml");
    let cfg = std::fs::read_to_string(&toml).unwrap();
    let head = cfg.split("[policy]").next().unwrap();
    std::fs::write(&toml, format!("{head}[policy]\n{body}\n")).unwrap();
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// A CSR made by openssl for `key` with `san`.
fn openssl_csr_for_key(env: &Env, key: &str, cn: &str, san: &str, out: &str) -> String {
    openssl(&[
        "req",
        "-new",
        "-key",
        &env.s(key),
        "-subj",
        &format!("/CN={cn}"),
        "-addext",
        &format!("subjectAltName={san}"),
        "-out",
        &env.s(out),
    ])
    .ok();
    env.s(out)
}

fn ec_key(env: &Env, out: &str) {
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &env.s(out),
    ])
    .ok();
}

// ---- 3. What a CSR or an input file may not do ----

#[test]
fn rsa_exponent_3_is_refused_unless_policy_allows_it() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-pkeyopt",
        "rsa_keygen_pubexp:3",
        "-out",
        &env.s("e3.key"),
    ])
    .ok();
    let text = openssl(&["pkey", "-in", &env.s("e3.key"), "-noout", "-text"])
        .ok()
        .stdout;
    assert!(text.contains("publicExponent: 3 "), "{text}");
    let csr = openssl_csr_for_key(&env, "e3.key", "e3.test", "DNS:e3.test", "e3.csr");
    let before = snapshot(env.path());
    let r = env.minica(&["issue", "--csr", &csr]).fails_with(2);
    r.one_sentence_naming("public exponent is 3");
    assert!(r.stderr.contains("policy.rsa_exponents"), "{r:?}");
    assert_eq!(before, snapshot(env.path()), "a refusal changes nothing");

    // A CA that chooses to accept e = 3 says so in its policy.
    set_policy(&env, "rsa_exponents = [3, 65537]");
    env.minica(&["issue", "--csr", &csr]).ok();
}

#[test]
fn a_pem_with_two_csrs_is_refused_with_the_count() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    ec_key(&env, "k.pem");
    let a = openssl_csr_for_key(&env, "k.pem", "a.test", "DNS:a.test", "a.csr");
    let b = openssl_csr_for_key(&env, "k.pem", "b.test", "DNS:b.test", "b.csr");
    let both = [
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        std::fs::read(&a).unwrap(),
    ]
    .concat();
    std::fs::write(env.file("three.csr"), both).unwrap();
    let before = snapshot(env.path());
    let r = env
        .minica(&["issue", "--csr", &env.s("three.csr")])
        .fails_with(2);
    r.one_sentence_naming("holds 3 certificate signing requests");
    assert!(r.stderr.contains("three.csr"), "{r:?}");
    assert_eq!(before, snapshot(env.path()));
}

/// `openssl pkcs12 -export -nomac` (OpenSSL 3.0 has the flag) writes a
/// store with no integrity check; with `-certpbe NONE` any password opens
/// it. minica must not take its certificates as trusted.
#[test]
fn a_pkcs12_without_mac_is_not_read_as_trusted() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    let ca = env.ca_dir().join("ca.pem");
    for (file, extra) in [
        ("plain.p12", &["-certpbe", "NONE"][..]),
        ("enc.p12", &[][..]),
    ] {
        let mut args = vec![
            "pkcs12",
            "-export",
            "-nokeys",
            "-nomac",
            "-in",
            ca.to_str().unwrap(),
            "-passout",
            "pass:changeit",
        ];
        args.extend_from_slice(extra);
        let out = env.s(file);
        args.extend_from_slice(&["-out", &out]);
        openssl(&args).ok();
        for pw in ["changeit", "any-other-password"] {
            let r = minica_with(
                &env,
                &["inspect", &out],
                &[("MINICA_STORE_PASSWORD", os(pw))],
                None,
                Duration::from_secs(30),
            )
            .fails_with(2);
            r.one_sentence_naming("no MAC");
            assert!(r.stderr.contains(file), "{r:?}");
        }
    }
    // openssl 3.0 has no -jdktrust: a truststore minica wrote, with its
    // MAC cut off, is the no-MAC file whose certificates are marked trusted.
    let pw = [("MINICA_STORE_PASSWORD", os("changeit"))];
    minica_with(&env, &["truststore"], &pw, None, Duration::from_secs(30)).ok();
    let bytes = std::fs::read(env.file("truststore.p12")).unwrap();
    let (_, pfx, _) = der_split(&bytes);
    let (_, _, rest) = der_split(pfx);
    let (_, _, mac) = der_split(rest);
    let stripped = der(0x30, &pfx[..pfx.len() - mac.len()]);
    std::fs::write(env.file("nomac.p12"), stripped).unwrap();
    let r = minica_with(
        &env,
        &["inspect", &env.s("nomac.p12")],
        &pw,
        None,
        Duration::from_secs(30),
    )
    .fails_with(2);
    r.one_sentence_naming("no MAC");
}

#[test]
fn zero_max_days_and_a_bare_urn_are_clear_errors() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    set_policy(&env, "max_days = 0");
    let before = snapshot(env.path());
    let r = env.minica(&["issue", "zero.test"]).fails_with(2);
    r.one_sentence_naming("policy.max_days = 0");
    assert!(r.stderr.contains("ca.toml"), "{r:?}");
    assert_eq!(before, snapshot(env.path()));
    set_policy(&env, "");

    for bad in ["urn:", "urn:x", "urn:uuid:", "https:///nohost"] {
        let r = env.minica(&["issue", bad]).fails_with(2);
        r.one_sentence_naming(bad);
    }
    env.minica(&[
        "issue",
        "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
        "--out-dir",
        "u",
    ])
    .ok();
}

#[test]
fn a_leaf_added_to_a_truststore_needs_allow_leaf() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    env.minica(&["issue", "leaf.test"]).ok();
    let before = snapshot(env.path());
    let r = env
        .minica(&[
            "truststore",
            "--format",
            "pem",
            "--add",
            &env.s("leaf.test/cert.pem"),
        ])
        .fails_with(2);
    r.one_sentence_naming("is not a CA");
    assert!(r.stderr.contains("--allow-leaf"), "{r:?}");
    assert_eq!(before, snapshot(env.path()));
    let r = env
        .minica(&[
            "truststore",
            "--format",
            "pem",
            "--allow-leaf",
            "--add",
            &env.s("leaf.test/cert.pem"),
        ])
        .ok();
    assert!(
        r.stderr.contains("warning") && r.stderr.contains("leaf.test"),
        "{r:?}"
    );
    // Another CA is fine without the flag.
    let other = Env::new();
    other.minica(&["init"]).ok();
    env.minica(&[
        "truststore",
        "--format",
        "pem",
        "--out",
        "two.pem",
        "--add",
        other.ca_dir().join("ca.pem").to_str().unwrap(),
    ])
    .ok();
}

/// Email and URI names under a constrained root: minica refuses what the
/// permits do not cover, the root carries rfc822Name constraints, and
/// OpenSSL enforces them on a leaf minica issued and on a forged one.
#[test]
fn email_permits_limit_issuance_and_openssl_enforces_them() {
    let env = Env::new();
    env.minica(&["init", "--permit", ".test", "--permit", "@corp.test"])
        .ok();
    let root = x509_text(&env.ca_dir().join("ca.pem"));
    assert!(root.contains("email:corp.test"), "{root}");
    env.minica(&["issue", "--client", "alice@corp.test", "--out-dir", "alice"])
        .ok();
    let ca = env.s("ca/ca.pem");
    let chain = env.s("alice/chain.pem");
    openssl(&[
        "verify",
        "-CAfile",
        &ca,
        "-untrusted",
        &chain,
        &env.s("alice/cert.pem"),
    ])
    .ok();
    for (name, out) in [("eve@gmail.com", "eve"), ("spiffe://evil.test/x", "spf")] {
        let before = snapshot(env.path());
        let r = env
            .minica(&["issue", "--client", name, "--out-dir", out])
            .fails_with(2);
        r.one_sentence_naming(name);
        assert_eq!(before, snapshot(env.path()));
    }
    // A leaf forged with the CA key for an address outside the permit.
    ec_key(&env, "eve.key");
    let csr = openssl_csr_for_key(
        &env,
        "eve.key",
        "eve.test",
        "email:eve@gmail.com",
        "eve.csr",
    );
    std::fs::write(
        env.file("ext.cnf"),
        "subjectAltName=email:eve@gmail.com\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &env.s("ca/ca-key.pem"),
        "-days",
        "1",
        "-extfile",
        &env.s("ext.cnf"),
        "-out",
        &env.s("forged.pem"),
    ])
    .ok();
    let r = openssl(&["verify", "-CAfile", &ca, &env.s("forged.pem")]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("permitted subtree violation"),
        "{r:?}"
    );
}

/// URI constraints: rcgen cannot encode them, so minica writes the
/// extension itself (`Constraints::to_custom_extension`). A root made with
/// it, checked by OpenSSL: a spiffe ID under the host verifies, one under
/// another host does not.
#[test]
fn uri_constraints_are_encoded_and_openssl_enforces_them() {
    use minica::constraints::{Constraints, Permit};
    let env = Env::new();
    let cs = Constraints::from_permits(vec![
        Permit::parse("spiffe://cluster.test").unwrap(),
        Permit::parse(".test").unwrap(),
    ]);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "uri root");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    p.custom_extensions.push(cs.to_custom_extension().unwrap());
    let root = p.self_signed(&key).unwrap();
    std::fs::write(env.file("root.pem"), root.pem()).unwrap();
    let text = x509_text(&env.file("root.pem"));
    assert!(text.contains("URI:cluster.test"), "{text}");
    let issuer = rcgen::Issuer::new(p, key);
    for (uri, good) in [
        ("spiffe://cluster.test/ns/a/sa/b", true),
        ("spiffe://evil.test/ns/a/sa/b", false),
    ] {
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let mut l = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        l.subject_alt_names = vec![rcgen::SanType::URI(uri.try_into().unwrap())];
        l.distinguished_name = rcgen::DistinguishedName::new();
        let leaf = l.signed_by(&leaf_key, &issuer).unwrap();
        std::fs::write(env.file("leaf.pem"), leaf.pem()).unwrap();
        let r = openssl(&["verify", "-CAfile", &env.s("root.pem"), &env.s("leaf.pem")]);
        assert_eq!(r.code == 0, good, "{uri}: {r:?}");
        assert_eq!(
            cs.check(&minica::names::Name::parse(uri).unwrap()).is_ok(),
            good,
            "minica agrees with OpenSSL on {uri}"
        );
    }
}

#[test]
fn policy_names_cover_emails_and_uris() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    set_policy(
        &env,
        "names = [\".test\", \"@corp.test\", \"spiffe://cluster.test\"]",
    );
    env.minica(&["issue", "--client", "a@corp.test", "--out-dir", "a"])
        .ok();
    env.minica(&["issue", "spiffe://cluster.test/x", "--out-dir", "s"])
        .ok();
    for bad in [
        "a@gmail.com",
        "spiffe://evil.test/x",
        "https://cluster.test/",
    ] {
        env.minica(&["issue", "--client", bad, "--out-dir", "bad"])
            .fails_with(2)
            .one_sentence_naming("policy.names");
    }
}

// ---- 4. No panic, no hang, bounded memory ----

/// An encrypted CA key whose scrypt parameters ask for 2^50 × 1 KiB of
/// memory: refused before deriving, not an abort or an endless wait.
#[test]
fn a_ca_key_asking_scrypt_for_petabytes_is_refused() {
    use pkcs8::der::{Decode, Encode};
    use pkcs8::pkcs5::{EncryptionScheme, pbes2::Kdf};
    let env = Env::new();
    let pw = [("MINICA_CA_PASSWORD", os("correct horse"))];
    minica_with(
        &env,
        &["init", "--encrypt"],
        &pw,
        None,
        Duration::from_secs(60),
    )
    .ok();
    let key_path = env.ca_dir().join("ca-key.pem");
    let pem_text = std::fs::read(&key_path).unwrap();
    let block = pem::parse(&pem_text).unwrap();
    let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(block.contents()).unwrap();
    let mut scheme = info.encryption_algorithm.clone();
    let EncryptionScheme::Pbes2(params) = &mut scheme else {
        panic!("PBES2")
    };
    let Kdf::Scrypt(s) = &mut params.kdf else {
        panic!("scrypt")
    };
    s.cost_parameter = 1 << 50;
    let forged = pkcs8::EncryptedPrivateKeyInfoRef {
        encryption_algorithm: scheme,
        encrypted_data: info.encrypted_data,
    }
    .to_der()
    .unwrap();
    std::fs::write(
        &key_path,
        pem::encode(&pem::Pem::new("ENCRYPTED PRIVATE KEY", forged)),
    )
    .unwrap();
    let before = snapshot(env.path());
    let r = minica_with(
        &env,
        &["issue", "a.test"],
        &pw,
        None,
        Duration::from_secs(30),
    )
    .fails_with(2);
    r.one_sentence_naming("scrypt");
    assert!(r.stderr.contains("ca-key.pem"), "{r:?}");
    assert_eq!(before, snapshot(env.path()));
}

#[test]
fn password_stdin_from_dev_zero_ends_with_an_error() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    for args in [
        &["truststore", "--password-stdin"][..],
        &["truststore", "--password-file", "/dev/zero"][..],
    ] {
        let r = minica_with(
            &env,
            args,
            &[],
            Some(Path::new("/dev/zero")),
            Duration::from_secs(20),
        )
        .fails_with(2);
        r.one_sentence_naming("longer than 4096 bytes");
        assert!(!env.file("truststore.p12").exists());
    }
}

#[test]
fn a_csr_with_200000_names_is_refused_quickly() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.subject_alt_names = (0..200_000)
        .map(|i| rcgen::SanType::DnsName(format!("n{i}.test").try_into().unwrap()))
        .collect();
    let csr = p.serialize_request(&key).unwrap().pem().unwrap();
    std::fs::write(env.file("big.csr"), csr).unwrap();
    let before = snapshot(env.path());
    let r = minica_with(
        &env,
        &["issue", "--csr", &env.s("big.csr")],
        &[],
        None,
        Duration::from_secs(30),
    )
    .fails_with(2);
    r.one_sentence_naming("200000 names");
    assert_eq!(before, snapshot(env.path()));
    // On the command line too: more than 1000 names is refused at once.
    let names: Vec<String> = (0..1001).map(|i| format!("c{i}.test")).collect();
    let mut args = vec!["csr"];
    args.extend(names.iter().map(String::as_str));
    env.minica(&args)
        .fails_with(2)
        .one_sentence_naming("1001 names");
}

/// Minimal DER for the PKCS#12 tests: split an element, and build one.
fn der_split(data: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = data[0];
    let (len, hdr) = if data[1] < 0x80 {
        (data[1] as usize, 2)
    } else {
        let n = (data[1] & 0x7f) as usize;
        let len = data[2..2 + n]
            .iter()
            .fold(0usize, |a, b| (a << 8) | *b as usize);
        (len, 2 + n)
    };
    (tag, &data[hdr..hdr + len], &data[hdr + len..])
}

fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let b = (len as u32).to_be_bytes();
        let skip = b.iter().take_while(|x| **x == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&b[skip..]);
    }
    out.extend_from_slice(body);
    out
}

/// A 300-safe PKCS#12 from one made by openssl with a million iterations:
/// every safe decrypts with the password, so a reader without a budget
/// spends 300 million iterations (minutes) before it is done.
#[test]
fn a_pkcs12_of_300_million_iteration_safes_is_refused_before_the_work() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    let one = env.s("one.p12");
    openssl(&[
        "pkcs12",
        "-export",
        "-nokeys",
        // -nomac after -iter: OpenSSL 3.0's -iter sets the MAC's count too.
        "-iter",
        "1000000",
        "-nomac",
        "-certpbe",
        "AES-256-CBC",
        "-in",
        env.ca_dir().join("ca.pem").to_str().unwrap(),
        "-passout",
        "pass:changeit",
        "-out",
        &one,
    ])
    .ok();
    let bytes = std::fs::read(&one).unwrap();
    // PFX { version, ContentInfo { data, [0] { OCTET STRING { SEQUENCE OF ContentInfo } } } }
    let (_, pfx, _) = der_split(&bytes);
    let (_, version, rest) = der_split(pfx);
    let (_, auth, _) = der_split(rest);
    let (_, oid, rest) = der_split(auth);
    let (_, explicit, _) = der_split(rest);
    let (_, octets, _) = der_split(explicit);
    let (_, safes, _) = der_split(octets);
    let (_, _, after_first) = der_split(safes);
    let first = &safes[..safes.len() - after_first.len()];
    let many: Vec<u8> = first.repeat(300);
    let auth = der(
        0x30,
        &[der(0x06, oid), der(0xa0, &der(0x04, &der(0x30, &many)))].concat(),
    );
    let pfx = der(0x30, &[der(0x02, version), auth].concat());
    std::fs::write(env.file("big.p12"), &pfx).unwrap();
    assert!(pfx.len() < 400_000, "{}", pfx.len());
    let r = minica_with(
        &env,
        &["inspect", &env.s("big.p12")],
        &[("MINICA_STORE_PASSWORD", os("changeit"))],
        None,
        Duration::from_secs(30),
    )
    .fails_with(2);
    r.one_sentence_naming("key-derivation iterations");
}

#[test]
fn a_truststore_of_6000_same_name_cas_is_written_quickly() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut bundle = String::new();
    for i in 0..6000u32 {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "Same Name CA");
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.serial_number = Some(rcgen::SerialNumber::from_slice(&(i + 1).to_be_bytes()));
        bundle.push_str(&p.self_signed(&key).unwrap().pem());
    }
    std::fs::write(env.file("many.pem"), bundle).unwrap();
    let r = minica_with(
        &env,
        &[
            "--json",
            "truststore",
            "--format",
            "pem",
            "--add",
            &env.s("many.pem"),
        ],
        &[],
        None,
        Duration::from_secs(60),
    )
    .ok();
    let aliases = r.json()["aliases"].as_array().unwrap().clone();
    assert_eq!(aliases.len(), 6001);
    let unique: std::collections::HashSet<_> = aliases.iter().collect();
    assert_eq!(unique.len(), 6001, "aliases are unique");
}

// ---- 5. Messages that are true ----

#[test]
fn iterations_beyond_the_readers_cap_are_refused_by_the_writer() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    let pw = [("MINICA_STORE_PASSWORD", os("changeit"))];
    let r = minica_with(
        &env,
        &["truststore", "--iterations", "2000000"],
        &pw,
        None,
        Duration::from_secs(30),
    )
    .fails_with(2);
    assert!(r.stderr.contains("2000000"), "{r:?}");
    assert!(!env.file("truststore.p12").exists());
    // At the cap, minica reads back what it wrote.
    minica_with(
        &env,
        &["truststore", "--iterations", "1000000"],
        &pw,
        None,
        Duration::from_secs(60),
    )
    .ok();
    let r = minica_with(
        &env,
        &["--json", "inspect", &env.s("truststore.p12")],
        &pw,
        None,
        Duration::from_secs(60),
    )
    .ok();
    assert!(r.stdout.contains("trusted"), "{r:?}");
}

#[test]
fn a_missing_chain_file_is_named() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    env.minica(&["issue", "k.test"]).ok();
    let before = snapshot(env.path());
    let r = minica_with(
        &env,
        &[
            "keystore",
            "--cert",
            &env.s("k.test/cert.pem"),
            "--key",
            &env.s("k.test/key.pem"),
            "--chain",
            &env.s("missing-intermediate.pem"),
            "--format",
            "pem",
        ],
        &[],
        None,
        Duration::from_secs(30),
    )
    .fails_with(2);
    r.one_sentence_naming("missing-intermediate.pem");
    assert_eq!(before, snapshot(env.path()));
}

#[test]
fn the_missing_ca_passphrase_error_suggests_real_flags() {
    let env = Env::new();
    let r = minica_with(
        &env,
        &["init", "--encrypt"],
        &[],
        None,
        Duration::from_secs(30),
    )
    .fails_with(2);
    r.one_sentence_naming("--ca-password-file");
    assert!(r.stderr.contains("MINICA_CA_PASSWORD"), "{r:?}");
    for fake in ["--password-stdin", "--password-env", "--password-file "] {
        assert!(
            !r.stderr.contains(fake),
            "{fake} is not a flag of init: {r:?}"
        );
    }
    // What it suggests works.
    std::fs::write(env.file("pw"), "correct horse\n").unwrap();
    minica_with(
        &env,
        &["init", "--ca-password-file", &env.s("pw"), "--encrypt"],
        &[],
        None,
        Duration::from_secs(30),
    )
    .ok();
}

#[test]
fn a_non_utf8_ca_password_is_called_that() {
    let env = Env::new();
    let bad = OsStr::from_bytes(b"caf\xe9-latin1");
    let r = minica_with(
        &env,
        &["init", "--encrypt"],
        &[("MINICA_CA_PASSWORD", bad)],
        None,
        Duration::from_secs(30),
    )
    .fails_with(2);
    r.one_sentence_naming("not UTF-8");
    assert!(r.stderr.contains("MINICA_CA_PASSWORD"), "{r:?}");
    assert!(!r.stderr.contains("latin1"), "no secret in output: {r:?}");
    assert!(!env.ca_dir().join("ca-key.pem").exists());
}

#[test]
fn a_300_character_email_gets_a_directory_that_fits() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    let email = format!("{}@corp.test", "a".repeat(290));
    let r = env.minica(&["--json", "issue", "--client", &email]).ok();
    let cert = env.path().join(r.json()["files"]["cert"].as_str().unwrap());
    let dir = cert.parent().unwrap();
    let leaf = dir.file_name().unwrap().to_str().unwrap();
    assert!(leaf.len() <= 255 && leaf.starts_with("aaaa"), "{leaf}");
    let text = x509_text(&cert);
    assert!(text.contains(&format!("email:{email}")), "{text}");
    // `keystore NAME` finds it by the same name.
    env.minica(&["keystore", &email, "--format", "pem"]).ok();
}
