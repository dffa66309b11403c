//! `minica apply`: idempotent, one transaction, confined to its base, and
//! negative fixtures that real clients (openssl s_client, curl) refuse for
//! the documented reason while being right in every other respect.

mod common;
use common::*;

use std::path::Path;
use std::time::SystemTime;

fn write(env: &Env, rel: &str, text: &str) {
    let p = env.file(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const ENV: &str = r#"
[[certificate]]
names = ["kafka.test", "localhost"]
out = "broker"
profile = "server-client"
keystore = { format = "p12", password = "changeit" }
truststore = { format = "jks", password = "changeit" }

[[certificate]]
names = ["client.test"]
out = "client"
profile = "client"
keystore = { format = "jks", password_env = "APPLY_TEST_PW", path = "client/client.jks" }

[[truststore]]
path = "plain/trust.pem"
"#;

fn apply(env: &Env, args: &[&str]) -> Run {
    apply_with(env, args, &[("APPLY_TEST_PW", Some("client-secret"))])
}

fn apply_with(env: &Env, args: &[&str], vars: &[(&str, Option<&str>)]) -> Run {
    let mut all = vec!["apply", "env/env.toml"];
    all.extend_from_slice(args);
    env.minica_with(env.path(), &all, vars)
}

/// Every file under `dir` with its content, mode and modification time.
fn state(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>, u32, SystemTime)> {
    snapshot(dir)
        .into_iter()
        .map(|(p, (bytes, mode))| {
            let t = std::fs::symlink_metadata(&p).unwrap().modified().unwrap();
            (p, bytes, mode, t)
        })
        .collect()
}

#[test]
fn a_second_run_does_nothing_and_check_agrees() {
    let env = Env::new();
    write(&env, "env/env.toml", ENV);
    let r = apply(&env, &["--json"]).ok();
    let j = r.json();
    assert_eq!(j["changed"], true);
    let actions: Vec<&str> = j["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create", "create"]);
    assert_eq!(mode(&env.file("env/broker/key.pem")), 0o600);
    assert_eq!(mode(&env.file("env/broker/keystore.p12")), 0o600);
    // The stores are what Java reads, with the manifest's passwords.
    let ks = java_keytool_list(&env.file("env/broker/keystore.p12"), "changeit");
    assert!(ks.contains("PrivateKeyEntry"), "{ks}");
    let ts = java_keytool_list(&env.file("env/broker/truststore.jks"), "changeit");
    assert!(ts.contains("trustedCertEntry"), "{ts}");
    let cs = java_keytool_list(&env.file("env/client/client.jks"), "client-secret");
    assert!(cs.contains("PrivateKeyEntry"), "{cs}");

    let before = state(&env.file("env"));
    let ca_before = snapshot(&env.ca_dir());
    std::thread::sleep(std::time::Duration::from_millis(20));
    let r = apply(&env, &[]).ok();
    assert!(r.stdout.contains("Nothing to do"), "{}", r.stdout);
    apply(&env, &["--check"]).ok();
    let after = state(&env.file("env"));
    let changed: Vec<_> = before
        .iter()
        .zip(&after)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.0.clone())
        .collect();
    assert!(
        changed.is_empty() && before.len() == after.len(),
        "an up-to-date environment is left byte for byte, times included; changed: {changed:?}"
    );
    assert!(ca_before == snapshot(&env.ca_dir()), "the CA was changed");
}

#[test]
fn what_changed_in_the_manifest_is_redone_and_nothing_else() {
    let env = Env::new();
    write(&env, "env/env.toml", ENV);
    apply(&env, &[]).ok();
    let client_before = snapshot(&env.file("env/client"));
    let key_before = std::fs::read(env.file("env/broker/key.pem")).unwrap();

    // A name added: --check reports it, changes nothing, exits 1.
    write(
        &env,
        "env/env.toml",
        &ENV.replace(
            r#"["kafka.test", "localhost"]"#,
            r#"["kafka.test", "localhost", "kafka-1.test"]"#,
        ),
    );
    let all_before = snapshot(env.path());
    let r = apply(&env, &["--check"]).fails_with(1);
    assert!(r.stdout.contains("would re-issue broker"), "{}", r.stdout);
    assert!(r.stdout.contains("kafka-1.test"), "{}", r.stdout);
    assert_eq!(all_before, snapshot(env.path()), "--check wrote something");

    let r = apply(&env, &[]).ok();
    assert!(r.stdout.contains("re-issued broker"), "{}", r.stdout);
    let text = x509_text(&env.file("env/broker/cert.pem"));
    assert!(text.contains("DNS:kafka-1.test"), "{text}");
    assert_eq!(
        key_before,
        std::fs::read(env.file("env/broker/key.pem")).unwrap(),
        "a re-issue for new names keeps the key"
    );
    assert_eq!(
        client_before,
        snapshot(&env.file("env/client")),
        "the client was touched"
    );
    let ks = java_keytool_list(&env.file("env/broker/keystore.p12"), "changeit");
    assert!(ks.contains("PrivateKeyEntry"), "{ks}");

    // A store deleted is written again; the certificate stays.
    let cert = std::fs::read(env.file("env/broker/cert.pem")).unwrap();
    std::fs::remove_file(env.file("env/broker/truststore.jks")).unwrap();
    let r = apply(&env, &[]).ok();
    assert!(r.stdout.contains("rewrote files of broker"), "{}", r.stdout);
    assert_eq!(
        cert,
        std::fs::read(env.file("env/broker/cert.pem")).unwrap()
    );
    assert!(env.file("env/broker/truststore.jks").exists());

    // A new password for a keystore: the keystore is written again with it.
    let out = apply_with(&env, &[], &[("APPLY_TEST_PW", Some("rotated"))])
        .ok()
        .stdout;
    assert!(
        out.contains("does not open with the manifest's password"),
        "{out}"
    );
    assert!(
        out.contains("wrong password"),
        "the reader's reason is kept: {out}"
    );
    let cs = java_keytool_list(&env.file("env/client/client.jks"), "rotated");
    assert!(cs.contains("PrivateKeyEntry"), "{cs}");

    // A key type changed: a new key.
    write(
        &env,
        "env/env.toml",
        &ENV.replace(
            "profile = \"client\"",
            "profile = \"client\"\nkey_type = \"rsa-2048\"",
        ),
    );
    let r = apply(&env, &[]).ok();
    assert!(
        r.stdout.contains("the entry wants RSA-2048"),
        "{}",
        r.stdout
    );
    let text = x509_text(&env.file("env/client/cert.pem"));
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");

    // Within renew_before: renewed, with a new serial and the same key.
    let serial = x509_text(&env.file("env/client/cert.pem"));
    write(
        &env,
        "env/env.toml",
        &format!(
            "renew_before = \"500d\"\n{}",
            ENV.replace(
                "profile = \"client\"",
                "profile = \"client\"\nkey_type = \"rsa-2048\""
            )
        ),
    );
    let r = apply(&env, &[]).ok();
    assert!(r.stdout.contains("renewed client"), "{}", r.stdout);
    assert!(r.stdout.contains("within renew_before"), "{}", r.stdout);
    assert_ne!(serial, x509_text(&env.file("env/client/cert.pem")));
}

fn java_keytool_list(store: &Path, password: &str) -> String {
    require("keytool");
    run(
        "keytool",
        &[
            "-list",
            "-keystore",
            &store.to_string_lossy(),
            "-storepass",
            password,
        ],
    )
    .ok()
    .stdout
}

#[test]
fn paths_outside_the_base_and_foreign_files_are_refused_with_nothing_written() {
    let env = Env::new();
    // A manifest that is not there is bad input, like batch's file.
    let r = env.minica(&["apply", "no-such-env.toml"]).fails_with(2);
    assert!(r.stderr.contains("no such file"), "{}", r.stderr);
    std::fs::create_dir_all(env.file("outside")).unwrap();
    for (bad, says) in [
        (
            "[[certificate]]\nnames = [\"a.test\"]\nout = \"../outside\"\n",
            "leads outside",
        ),
        (
            "[[certificate]]\nnames = [\"a.test\"]\nkeystore = { format = \"pem\", path = \"/tmp/ks.pem\" }\n",
            "leads outside",
        ),
        (
            "[[truststore]]\npath = \"../../etc/trust.pem\"\n",
            "leads outside",
        ),
        (
            "[[certificate]]\nnames = [\"a.test\"]\nkeystore = { format = \"p12\" }\n",
            "needs a password",
        ),
        (
            "[[certificate]]\nnames = [\"a.test\"]\nfault = \"weak_key\"\nkey_type = \"rsa-2048\"\n",
            "drop key_type",
        ),
        (
            "[[certificate]]\nnames = [\"a.test\"]\n[[certificate]]\nnames = [\"a.test\"]\n",
            "declared twice",
        ),
        (
            "[[certificate]]\nnames = [\"a.test\"]\nkeystore = { format = \"p12\", password_file = \"../pw\" }\n",
            "leads outside",
        ),
    ] {
        write(&env, "env/env.toml", bad);
        let before = snapshot(env.path());
        let r = apply(&env, &[]).fails_with(2);
        assert!(r.stderr.contains(says), "{bad}: {}", r.stderr);
        assert_eq!(before, snapshot(env.path()), "{bad}: something was written");
    }
    // A symlinked out directory that leads outside is refused too.
    std::os::unix::fs::symlink(env.file("outside"), env.file("env/link")).unwrap();
    write(
        &env,
        "env/env.toml",
        "[[certificate]]\nnames = [\"a.test\"]\nout = \"link/x\"\n",
    );
    apply(&env, &[]).fails_with(2);
    assert!(
        std::fs::read_dir(env.file("outside"))
            .unwrap()
            .next()
            .is_none()
    );

    // A file minica did not write, at a declared path: kept, unless --force.
    write(
        &env,
        "env/env.toml",
        "[[certificate]]\nnames = [\"a.test\"]\n",
    );
    write(&env, "env/a.test/cert.pem", "my own notes\n");
    let r = apply(&env, &[]).fails_with(3);
    assert!(r.stderr.contains("cert.pem already exists"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(env.file("env/a.test/cert.pem")).unwrap(),
        "my own notes\n"
    );
    apply(&env, &["--force"]).ok();
    assert!(x509_text(&env.file("env/a.test/cert.pem")).contains("DNS:a.test"));
}

/// A killed `apply` leaves every entry as it was or every entry as it is
/// now: it is one transaction, recovered by the next command.
#[test]
fn a_killed_apply_leaves_the_old_environment_or_the_new() {
    let env = Env::new();
    let manifest = |suffix: &str| {
        (0..20)
            .map(|i| format!("[[certificate]]\nnames = [\"h{i}.test\", \"h{i}{suffix}\"]\nout = \"h{i}\"\nkeystore = {{ format = \"pem\" }}\n"))
            .collect::<String>()
    };
    write(&env, "env/env.toml", &manifest(".old.test"));
    apply(&env, &[]).ok();
    let mut rng = Lcg(17);
    let mut saw = [false, false];
    for round in 0..16 {
        let suffix = if round % 2 == 0 {
            ".new.test"
        } else {
            ".old.test"
        };
        write(&env, "env/env.toml", &manifest(suffix));
        let child = spawn(&env, &["apply", "env/env.toml"]);
        kill_after(child, 2_000 + rng.next(40_000));
        // Any command on the CA finishes or undoes what was killed.
        env.minica(&["list"]).ok();
        let names: Vec<bool> = (0..20)
            .map(|i| {
                let t = x509_text(&env.file(&format!("env/h{i}/cert.pem")));
                let ks =
                    std::fs::read_to_string(env.file(&format!("env/h{i}/keystore.pem"))).unwrap();
                let cert =
                    std::fs::read_to_string(env.file(&format!("env/h{i}/cert.pem"))).unwrap();
                assert!(
                    ks.contains(cert.trim()),
                    "h{i}: the keystore is not of its certificate"
                );
                t.contains(".new.test")
            })
            .collect();
        assert!(
            names.iter().all(|n| *n) || names.iter().all(|n| !*n),
            "round {round}: a half-applied environment: {names:?}"
        );
        saw[names[0] as usize] = true;
        // Whatever was left, a run now brings it to the manifest.
        apply(&env, &[]).ok();
        apply(&env, &["--check"]).ok();
    }
    assert!(
        saw[0] && saw[1],
        "the kills never landed both before and after: {saw:?}"
    );
}

const FAULTS: [(&str, &str); 8] = [
    ("expired", "certificate has expired"),
    ("not_yet_valid", "certificate is not yet valid"),
    ("wrong_host", "hostname mismatch"),
    ("wrong_ca", "unable to get local issuer certificate"),
    ("client_only", "unsuitable certificate purpose"),
    ("self_signed", "self-signed certificate"),
    ("revoked", "certificate revoked"),
    ("weak_key", "EE certificate key too weak"),
];

fn fixtures(env: &Env) {
    let mut m =
        String::from("[[certificate]]\nnames = [\"good.test\", \"127.0.0.1\"]\nout = \"good\"\n");
    for (f, _) in FAULTS {
        m.push_str(&format!(
            "[[certificate]]\nnames = [\"good.test\", \"127.0.0.1\"]\nout = \"{f}\"\nfault = \"{f}\"\n"
        ));
    }
    write(env, "env/env.toml", &m);
    apply(env, &[]).ok();
}

/// `openssl s_server -www` with an entry's chain and key; OpenSSL at its
/// default security level refuses to load an RSA-1024 key, so the server
/// of weak_key runs at level 0: only the client is under test.
fn serve(env: &Env, dir: &str) -> (Background, u16) {
    let port = free_port();
    let p = port.to_string();
    let chain = env.s(&format!("env/{dir}/chain.pem"));
    let key = env.s(&format!("env/{dir}/key.pem"));
    let mut args = vec![
        "s_server", "-www", "-4", "-accept", &p, "-cert", &chain, "-key", &key,
    ];
    if dir == "weak_key" {
        args.extend(["-cipher", "DEFAULT@SECLEVEL=0"]);
    }
    let mut server = Background::spawn("openssl", &args);
    server.wait_for_port(port);
    (server, port)
}

fn s_client(env: &Env, dir: &str, port: u16) -> Run {
    let connect = format!("127.0.0.1:{port}");
    let ca = env.s(&format!("env/{dir}/ca.pem"));
    let crl = env.s(&format!("env/{dir}/crl.pem"));
    let mut args = vec![
        "s_client",
        "-connect",
        &connect,
        "-servername",
        "good.test",
        "-verify_hostname",
        "good.test",
        "-verify_return_error",
        "-CAfile",
        &ca,
    ];
    if dir == "revoked" {
        args.extend(["-crl_check", "-CRL", &crl]);
    }
    run_with_input("openssl", &args, b"GET / HTTP/1.0\r\n\r\n")
}

fn curl(env: &Env, dir: &str, port: u16) -> Run {
    require("curl");
    let resolve = format!("good.test:{port}:127.0.0.1");
    let url = format!("https://good.test:{port}/");
    let ca = env.s(&format!("env/{dir}/ca.pem"));
    let crl = env.s(&format!("env/{dir}/crl.pem"));
    let mut args = vec![
        "-sS",
        "--max-time",
        "10",
        "--resolve",
        &resolve,
        "--cacert",
        &ca,
    ];
    if dir == "revoked" {
        args.extend(["--crlfile", &crl]);
    }
    args.push(&url);
    run("curl", &args)
}

#[test]
fn each_negative_fixture_is_refused_by_openssl_and_curl_for_its_reason() {
    require("openssl");
    let env = Env::new();
    fixtures(&env);
    // The good one passes both clients: the set-up is not what fails.
    let (_s, port) = serve(&env, "good");
    let r = s_client(&env, "good", port).ok();
    assert!(
        r.stdout.contains("Verify return code: 0 (ok)"),
        "{}",
        r.stdout
    );
    curl(&env, "good", port).ok();
    for (fault, reason) in FAULTS {
        let (_s, port) = serve(&env, fault);
        let r = s_client(&env, fault, port);
        let all = format!("{}{}", r.stdout, r.stderr);
        assert_ne!(r.code, 0, "{fault}: s_client accepted it:\n{all}");
        assert!(
            all.contains(reason),
            "{fault}: s_client did not say {reason:?}:\n{all}"
        );
        let c = curl(&env, fault, port);
        assert_ne!(c.code, 0, "{fault}: curl accepted it: {}", c.stdout);
        // curl (OpenSSL) names the same reason, except for the host name,
        // which curl checks itself and words its own way.
        let curl_reason = if fault == "wrong_host" {
            "no alternative certificate subject name matches"
        } else {
            reason
        };
        assert!(
            c.stderr.contains(curl_reason),
            "{fault}: curl did not say {curl_reason:?}: {}",
            c.stderr
        );
    }
    // A second run keeps every fixture as it is: each is judged by its fault.
    let r = apply(&env, &[]).ok();
    assert!(r.stdout.contains("Nothing to do"), "{}", r.stdout);
}

/// Each fixture is wrong in its one way only: with that one thing
/// forgiven, OpenSSL accepts it for the entry's host and as a server.
#[test]
fn each_negative_fixture_is_right_in_every_other_respect() {
    require("openssl");
    let env = Env::new();
    fixtures(&env);
    let verify = |dir: &str, extra: &[&str]| {
        let ca = env.s(&format!("env/{dir}/ca.pem"));
        let chain = env.s(&format!("env/{dir}/chain.pem"));
        let cert = env.s(&format!("env/{dir}/cert.pem"));
        let mut args = vec![
            "verify",
            "-purpose",
            "sslserver",
            "-auth_level",
            "2",
            "-CAfile",
            &ca,
            "-untrusted",
            &chain,
        ];
        let host = extra.iter().all(|a| *a != "-verify_hostname");
        if host {
            args.extend(["-verify_hostname", "good.test"]);
        }
        args.extend_from_slice(extra);
        args.push(&cert);
        openssl(&args)
    };
    let date = |dir: &str, field: &str| {
        let out = openssl(&[
            "x509",
            "-noout",
            field,
            "-dateopt",
            "iso_8601",
            "-in",
            &env.s(&format!("env/{dir}/cert.pem")),
        ])
        .ok();
        let s = out.stdout.split_once('=').unwrap().1.trim().to_string();
        let t = time::OffsetDateTime::parse(
            &s.replace(' ', "T"),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap_or_else(|e| panic!("{s}: {e}"));
        t.unix_timestamp()
    };
    verify("good", &[]).ok();
    // The same checks refuse each: the forgiving below is what lets it pass.
    let crl = env.s("env/revoked/crl.pem");
    for (fault, _) in FAULTS {
        let extra: &[&str] = if fault == "revoked" {
            &["-crl_check", "-CRLfile", &crl]
        } else {
            &[]
        };
        assert_ne!(
            verify(fault, extra).code,
            0,
            "{fault} passed openssl verify"
        );
    }
    let within = |dir: &str| ((date(dir, "-startdate") + date(dir, "-enddate")) / 2).to_string();
    verify("expired", &["-attime", &within("expired")]).ok();
    verify("not_yet_valid", &["-attime", &within("not_yet_valid")]).ok();
    verify("wrong_host", &["-verify_hostname", "wrong-host.good.test"]).ok();
    let throwaway = env.s("env/wrong_ca/throwaway-ca.pem");
    verify("wrong_ca", &["-CAfile", &throwaway]).ok();
    let r = openssl(&[
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        &env.s("env/client_only/ca.pem"),
        &env.s("env/client_only/cert.pem"),
    ]);
    assert_eq!(
        r.code, 0,
        "client_only is not a good client certificate: {}",
        r.stdout
    );
    verify(
        "self_signed",
        &["-CAfile", &env.s("env/self_signed/cert.pem")],
    )
    .ok();
    verify("revoked", &[]).ok();
    verify("weak_key", &["-auth_level", "0"]).ok();
    let text = x509_text(&env.file("env/weak_key/cert.pem"));
    assert!(text.contains("Public-Key: (1024 bit)"), "{text}");
    // Every fixture signed by the CA is in its record; the revoked one in its revocations.
    let listed = std::fs::read_to_string(env.ca_dir().join("issued.jsonl")).unwrap();
    assert_eq!(
        listed.lines().count(),
        7,
        "good + 6 fixtures the CA signed:\n{listed}"
    );
    let revoked = std::fs::read_to_string(env.ca_dir().join("revoked.jsonl")).unwrap();
    assert_eq!(revoked.lines().count(), 1, "{revoked}");
}

/// The example in examples/ applies as documented, and twice is once.
#[test]
fn the_kafka_example_applies_and_is_then_up_to_date() {
    let env = Env::new();
    let dir = env.file("kafka");
    std::fs::create_dir_all(&dir).unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kafka/env.toml");
    std::fs::copy(example, dir.join("env.toml")).unwrap();
    let run = || {
        let vars = [
            ("MINICA_CA_DIR", None),
            ("KAFKA_KEYSTORE_PASSWORD", Some("broker-secret")),
        ];
        env.minica_with(env.path(), &["apply", "kafka/env.toml"], &vars)
            .ok()
            .stdout
    };
    let first = run();
    assert!(first.contains("created broker"), "{first}");
    assert!(
        dir.join("ca/ca.pem").exists(),
        "the manifest's ca_dir was not used"
    );
    let ks = java_keytool_list(&dir.join("broker/keystore.p12"), "broker-secret");
    assert!(
        ks.contains("broker, ") && ks.contains("PrivateKeyEntry"),
        "{ks}"
    );
    let ts = java_keytool_list(&dir.join("clients/truststore.jks"), "changeit");
    assert!(ts.contains("trustedCertEntry"), "{ts}");
    let second = run();
    assert!(second.contains("Nothing to do"), "{second}");
}

/// A new CA (init --force) makes every certificate of the old one out of
/// date: judged by signature, not by names.
#[test]
fn a_new_ca_reissues_everything_and_a_path_in_the_ca_is_refused() {
    let env = Env::new();
    write(&env, "env/env.toml", ENV);
    apply(&env, &[]).ok();
    env.minica(&["init", "--force"]).ok();
    let r = apply(&env, &["--check"]).fails_with(1);
    assert!(r.stdout.contains("would re-issue broker"), "{}", r.stdout);
    assert!(
        r.stdout.contains("not signed by the CA's root"),
        "{}",
        r.stdout
    );
    apply(&env, &[]).ok();
    let ca = env.ca_dir().join("ca.pem");
    openssl(&[
        "verify",
        "-CAfile",
        &ca.to_string_lossy(),
        &env.s("env/broker/cert.pem"),
    ])
    .ok();
    let trust = std::fs::read(env.file("env/plain/trust.pem")).unwrap();
    assert_eq!(
        trust,
        std::fs::read(&ca).unwrap(),
        "the truststore is not the new root"
    );

    // An output inside the CA directory would replace the CA's own files.
    let ca_dir = env.ca_dir();
    let inside = format!("[[truststore]]\npath = \"{}/crl.pem\"\n", ca_dir.display());
    write(&env, "env/env.toml", &inside);
    std::fs::create_dir_all(env.file("env")).unwrap();
    let r = apply(&env, &["--base", "/"]).fails_with(2);
    assert!(r.stderr.contains("inside the CA directory"), "{}", r.stderr);
}

/// `--check` with no CA makes nothing, not even the CA directory, and says
/// everything would be made.
#[test]
fn check_without_a_ca_writes_nothing() {
    let env = Env::new();
    write(&env, "env/env.toml", ENV);
    let before = snapshot(env.path());
    let r = apply(&env, &["--check", "--json"]).fails_with(1);
    let j = r.json();
    assert_eq!(j["ca_created"], true);
    assert_eq!(j["certificates"][0]["action"], "create");
    assert_eq!(before, snapshot(env.path()), "--check wrote something");
    assert!(!env.ca_dir().exists());
}
