//! One transaction per command: whatever is killed, raced, full or
//! hostile, a command leaves the CA and the user's files as they were or
//! as they should be after it, never in between, and the record names
//! exactly the certificates whose files are on disk.

mod common;
use common::*;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn serial_of(cert: &Path) -> String {
    openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-serial"])
        .ok()
        .stdout
        .trim()
        .trim_start_matches("serial=")
        .to_lowercase()
}

fn public_key_of(cert_or_key: &Path, is_key: bool) -> String {
    let p = cert_or_key.to_str().unwrap();
    if is_key {
        openssl(&["pkey", "-in", p, "-pubout"]).ok().stdout
    } else {
        openssl(&["x509", "-in", p, "-noout", "-pubkey"])
            .ok()
            .stdout
    }
}

/// Every file whose name a transaction gives temporarily.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    snapshot(dir)
        .into_keys()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(".minica-") || n.ends_with(".tmp")
        })
        .collect()
}

/// The record of `ca_dir` as `list --json` sees it, after it recovered.
fn listed(env: &Env) -> Vec<serde_json::Value> {
    env.minica(&["list", "--json"]).ok().json()["certificates"]
        .as_array()
        .unwrap()
        .clone()
}

/// A leaf directory is complete (cert, key, chain, ca, each whole, the key
/// the certificate's, signed by the CA) or absent.
fn assert_whole_or_absent(env: &Env, out: &Path) {
    let files = ["cert.pem", "key.pem", "chain.pem", "ca.pem"];
    let present: Vec<&str> = files
        .iter()
        .copied()
        .filter(|f| out.join(f).exists())
        .collect();
    if present.is_empty() {
        return;
    }
    assert_eq!(
        present,
        files,
        "{}: some files without the others",
        out.display()
    );
    assert_eq!(
        public_key_of(&out.join("cert.pem"), false),
        public_key_of(&out.join("key.pem"), true),
        "{}: key and certificate do not match",
        out.display()
    );
    openssl(&[
        "verify",
        "-CAfile",
        &env.ca_dir().join("ca.pem").to_string_lossy(),
        &out.join("cert.pem").to_string_lossy(),
    ])
    .ok();
}

#[test]
fn killed_issues_leave_whole_outputs_and_a_record_that_matches() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    let mut rng = Lcg(0x1ee7);
    for i in 0..80 {
        let force = i % 3 == 0 && i > 0;
        // Every third run replaces the previous run's outputs with --force.
        let out = if force {
            format!("k{}", i - 1)
        } else {
            format!("k{i}")
        };
        let mut args = vec!["issue", "k.test", "--out-dir", &out, "--truststore"];
        if force {
            args.push("--force");
        }
        let mut child = Command::new(BIN);
        child
            .args(&args)
            .args(["--format", "pem"])
            .current_dir(env.path())
            .env("MINICA_CA_DIR", env.ca_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        kill_after(child.spawn().unwrap(), rng.next(9000));
        // The next command finishes or undoes what the killed one began.
        let entries = listed(&env);
        assert!(
            leftovers(env.path()).is_empty(),
            "run {i}: left {:?}",
            leftovers(env.path())
        );
        for e in &entries {
            if e["files_status"]["status"] == "replaced" {
                continue; // --force put a later certificate there
            }
            assert_eq!(e["files_status"]["status"], "present", "run {i}: {e}");
            let cert = Path::new(e["cert"].as_str().unwrap());
            assert_eq!(serial_of(cert), e["serial"].as_str().unwrap());
        }
        let d = env.file(&out);
        assert_whole_or_absent(&env, &d);
        // What is on disk is recorded.
        if d.join("cert.pem").exists() {
            let serial = serial_of(&d.join("cert.pem"));
            assert!(
                entries.iter().any(|e| e["serial"] == serial.as_str()),
                "run {i}: {out} on disk but not recorded"
            );
            assert!(d.join("truststore.pem").exists(), "run {i}: no truststore");
        }
    }
}

#[test]
fn killed_forced_inits_never_lose_a_root_key() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    let mut rng = Lcg(0xfeed);
    let mut keys: BTreeSet<Vec<u8>> = BTreeSet::new();
    for i in 0..40 {
        keys.insert(std::fs::read(env.ca_dir().join("ca-key.pem")).unwrap());
        let child = spawn(&env, &["init", "--force"]);
        kill_after(child, rng.next(if i % 4 == 0 { 30_000 } else { 8000 }));
        // Recovery, then the CA must be whole: its key is its certificate's.
        env.minica(&["list"]).ok();
        assert!(leftovers(env.path()).is_empty(), "run {i}");
        let ca = env.ca_dir();
        assert_eq!(
            public_key_of(&ca.join("ca.pem"), false),
            public_key_of(&ca.join("ca-key.pem"), true),
            "run {i}: the CA's key and certificate do not match"
        );
        // Every root key that ever was is still somewhere in the directory.
        let on_disk: BTreeSet<Vec<u8>> = snapshot(&ca)
            .into_iter()
            .filter(|(p, _)| p.file_name().unwrap() == "ca-key.pem")
            .map(|(_, (b, _))| b)
            .collect();
        for k in &keys {
            assert!(on_disk.contains(k), "run {i}: a root key was lost");
        }
        // And each replaced CA is whole where it was put.
        for (p, _) in snapshot(&ca) {
            if p.file_name().unwrap() == "ca-key.pem" && p.parent().unwrap() != ca {
                let cert = p.with_file_name("ca.pem");
                assert_eq!(
                    public_key_of(&cert, false),
                    public_key_of(&p, true),
                    "{}",
                    p.display()
                );
            }
        }
    }
}

#[test]
fn racing_issue_batch_and_forced_init_record_only_what_the_current_ca_signed() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    std::fs::write(env.file("names.txt"), "b.test\nc.test\n").unwrap();
    for round in 0..12 {
        let mut children = vec![
            spawn(&env, &["issue", "a.test", "--force"]),
            spawn(&env, &["issue", "b.test", "--force"]),
            spawn(&env, &["batch", "names.txt", "--force"]),
        ];
        if round % 2 == 0 {
            children.push(spawn(&env, &["init", "--force"]));
        }
        for mut c in children {
            c.wait().unwrap();
        }
    }
    // Every line of the current record: its files are there, and the
    // certificate is signed by the current CA (or was replaced by a later one).
    let ca_pem = env.ca_dir().join("ca.pem");
    for e in listed(&env) {
        let cert = PathBuf::from(e["cert"].as_str().unwrap());
        match e["files_status"]["status"].as_str().unwrap() {
            "present" => {
                openssl(&[
                    "verify",
                    "-CAfile",
                    ca_pem.to_str().unwrap(),
                    cert.to_str().unwrap(),
                ])
                .ok();
            }
            "replaced" => {}
            other => panic!("{other}: {e}"),
        }
    }
    // What is on disk now was signed by the current CA and is recorded.
    let serials: BTreeSet<String> = listed(&env)
        .iter()
        .map(|e| e["serial"].as_str().unwrap().to_string())
        .collect();
    for name in ["a.test", "b.test", "c.test"] {
        let d = env.file(name);
        assert_whole_or_absent(&env, &d);
        if d.join("cert.pem").exists() {
            assert!(serials.contains(&serial_of(&d.join("cert.pem"))), "{name}");
        }
    }
}

/// A tmpfs of 256 KiB, filled up: writes there fail with ENOSPC while
/// directories can still be made, as on a full disk.
struct FullDisk(PathBuf);
impl FullDisk {
    fn new(at: PathBuf) -> FullDisk {
        std::fs::create_dir_all(&at).unwrap();
        let r = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(&at)
            .status()
            .expect("mount");
        assert!(r.success(), "this test mounts a tmpfs: run it as root");
        let _ = Command::new("dd")
            .args(["if=/dev/zero", "bs=4096", "count=1000"])
            .arg(format!("of={}", at.join("filler").display()))
            .stderr(Stdio::null())
            .status();
        FullDisk(at)
    }
}
impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_leaves_no_record_line_and_no_empty_directory() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    let disk = FullDisk::new(env.file("full"));
    let record = env.ca_dir().join("issued.jsonl");
    let before = std::fs::read(&record).unwrap_or_default();
    let out = disk.0.join("leaf");
    env.minica(&["issue", "full.test", "--out-dir", out.to_str().unwrap()])
        .fails_with(4)
        .one_sentence_naming("full");
    assert_eq!(std::fs::read(&record).unwrap_or_default(), before);
    assert!(!out.exists(), "an empty output directory was left");
    assert!(leftovers(&disk.0).is_empty());
    // A batch too.
    std::fs::write(env.file("b.txt"), "x.test\ny.test\n").unwrap();
    env.minica(&["batch", "b.txt", "--out-dir", disk.0.to_str().unwrap()])
        .fails_with(4);
    assert_eq!(std::fs::read(&record).unwrap_or_default(), before);
    assert!(!disk.0.join("x.test").exists());
    assert!(leftovers(&disk.0).is_empty());
}

#[test]
fn a_half_there_ca_is_an_error_never_a_new_key() {
    for missing in ["ca.pem", "ca-key.pem"] {
        let env = Env::new();
        env.minica(&["init"]).ok();
        std::fs::remove_file(env.ca_dir().join(missing)).unwrap();
        let before = snapshot(env.path());
        for args in [&["issue", "x.test"][..], &["init"][..], &["list"][..]] {
            let r = env.minica(args).fails_with(2);
            r.one_sentence_naming("incomplete");
            assert!(r.stderr.contains(missing), "{args:?}: {}", r.stderr);
            assert_eq!(before, snapshot(env.path()), "{args:?} changed something");
        }
        // init --force replaces it, keeping what was there.
        env.minica(&["init", "--force"]).ok();
        let kept: Vec<PathBuf> = snapshot(&env.ca_dir())
            .into_keys()
            .filter(|p| p.to_string_lossy().contains("replaced-"))
            .collect();
        assert!(!kept.is_empty());
        env.minica(&["issue", "x.test"]).ok();
    }
}

#[test]
fn outputs_are_checked_before_anything_is_signed() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    env.minica(&["csr", "svc.test", "--out-dir", "svc"]).ok();
    // No --out: the output directory comes from the CSR's names, known only
    // once it is read; the truststore there must still stop the command
    // before anything is signed or recorded.
    std::fs::create_dir(env.file("svc.test")).unwrap();
    std::fs::write(env.file("svc.test/truststore.p12"), "mine").unwrap();
    std::fs::write(env.file("pw"), "changeit\n").unwrap();
    let record = env.ca_dir().join("issued.jsonl");
    let before = std::fs::read(&record).unwrap_or_default();
    let snap = snapshot(env.path());
    env.minica(&[
        "issue",
        "--csr",
        "svc/csr.pem",
        "--truststore",
        "--password-file",
        "pw",
    ])
    .fails_with(3)
    .one_sentence_naming("truststore.p12");
    assert_eq!(std::fs::read(&record).unwrap_or_default(), before);
    assert_eq!(snap, snapshot(env.path()));
}

#[test]
fn manifests_cannot_write_outside_their_base_or_twice_to_one_file() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    std::fs::create_dir(env.file("base")).unwrap();
    let outside = env.file("outside");
    let cases = [
        format!("out = {:?}", outside.display().to_string()),
        "out = \"../outside\"".to_string(),
        "out = \"sub/../../outside\"".to_string(),
    ];
    for case in &cases {
        let m = format!("[[certificate]]\nnames = [\"a.test\"]\n{case}\n");
        std::fs::write(env.file("m.toml"), m).unwrap();
        let before = snapshot(env.path());
        env.minica(&["batch", "m.toml", "--out-dir", "base"])
            .fails_with(2)
            .one_sentence_naming("outside");
        assert_eq!(before, snapshot(env.path()), "{case}");
    }
    // A link inside the base that points out of it is no way out either.
    std::os::unix::fs::symlink(&outside, env.file("base/link")).unwrap();
    std::fs::write(
        env.file("m.toml"),
        "[[certificate]]\nnames = [\"a.test\"]\nout = \"link\"\n",
    )
    .unwrap();
    env.minica(&["batch", "m.toml", "--out-dir", "base"])
        .fails_with(2);
    assert!(!outside.exists());
    // Two entries that resolve to one directory are refused before signing.
    std::fs::write(
        env.file("m.toml"),
        "[[certificate]]\nnames = [\"a.test\"]\nout = \"same\"\n[[certificate]]\nnames = [\"b.test\"]\nout = \"sub/../same\"\n",
    )
    .unwrap();
    let before = snapshot(env.path());
    env.minica(&["batch", "m.toml", "--out-dir", "base"])
        .fails_with(2)
        .one_sentence_naming("same file");
    assert_eq!(before, snapshot(env.path()));
}

#[test]
fn a_ca_directory_others_could_change_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let set_mode =
        |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    type Break = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Break, &str)> = vec![
        (
            "group-writable directory",
            Box::new(move |d| set_mode(d, 0o770)),
            "chmod go-w",
        ),
        (
            "world-writable directory",
            Box::new(move |d| set_mode(d, 0o777)),
            "chmod go-w",
        ),
        (
            "key readable by others",
            Box::new(move |d| set_mode(&d.join("ca-key.pem"), 0o644)),
            "chmod 600",
        ),
        (
            "certificate owned by another user",
            Box::new(|d| std::os::unix::fs::chown(d.join("ca.pem"), Some(4242), None).unwrap()),
            "chown",
        ),
        (
            "record planted as a link",
            Box::new(|d| {
                std::os::unix::fs::symlink(d.join("../victim"), d.join("issued.jsonl")).unwrap()
            }),
            "symbolic link",
        ),
        (
            "lock planted as a link",
            Box::new(|d| {
                let _ = std::fs::remove_file(d.join(".lock"));
                std::os::unix::fs::symlink(d.join("../victim"), d.join(".lock")).unwrap()
            }),
            "symbolic link",
        ),
    ];
    for (what, break_it, fix) in cases {
        let env = Env::new();
        env.minica(&["init"]).ok();
        std::fs::write(env.file("victim"), "do not touch").unwrap();
        let _ = std::fs::remove_file(env.ca_dir().join("issued.jsonl"));
        break_it(&env.ca_dir());
        let before = snapshot(env.path());
        let r = env.minica(&["issue", "x.test"]).fails_with(2);
        r.one_sentence_naming(fix);
        assert_eq!(before, snapshot(env.path()), "{what}: something changed");
        assert_eq!(
            std::fs::read_to_string(env.file("victim")).unwrap(),
            "do not touch"
        );
    }
}

#[test]
fn a_csr_with_the_cas_own_key_is_refused() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    openssl(&[
        "req",
        "-new",
        "-key",
        &env.ca_dir().join("ca-key.pem").to_string_lossy(),
        "-subj",
        "/CN=evil.test",
        "-out",
        &env.s("evil.csr"),
    ])
    .ok();
    let before = snapshot(env.path());
    env.minica(&["issue", "--csr", "evil.csr"])
        .fails_with(2)
        .one_sentence_naming("CA's own public key");
    assert_eq!(before, snapshot(env.path()));
}

#[test]
fn huge_numbers_are_errors_not_panics() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    std::fs::write(
        env.file("m.toml"),
        "[[certificate]]\nnames = [\"a.test\"]\ndays = 3000000\n",
    )
    .unwrap();
    std::fs::write(env.file("n.txt"), "a.test\n").unwrap();
    let cases: [&[&str]; 6] = [
        &["issue", "--days", "3000000", "a.test"],
        &["issue", "--days", "4294967295", "a.test"],
        &["init", "--force", "--days", "3000000"],
        &["batch", "m.toml"],
        &["batch", "n.txt", "--days", "3000000"],
        &["batch", "n.txt", "--jobs", "18446744073709551615"],
    ];
    for args in cases {
        let before = snapshot(env.path());
        let r = env.minica(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
        assert_eq!(before, snapshot(env.path()), "{args:?} changed something");
    }
}

#[test]
fn readers_are_bounded_and_a_closed_stdout_is_a_quiet_exit() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    // /dev/zero reports a size of 0: the limit must be on what is read.
    let r = env.minica(&["inspect", "/dev/zero"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // A reader that goes away: no panic, no abort.
    for n in 0..3 {
        env.minica(&["issue", &format!("p{n}.test")]).ok();
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "for c in list 'inspect p0.test/chain.pem' 'verify p0.test/chain.pem' 'list --json'; do '{BIN}' $c | head -c 1 >/dev/null; done"
        ))
        .env("MINICA_CA_DIR", env.ca_dir())
        .current_dir(env.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("failed printing"), "{stderr}");
    // A full stdout is an error that says so, not an abort.
    let full = Command::new(BIN)
        .args(["list"])
        .env("MINICA_CA_DIR", env.ca_dir())
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&full.stderr);
    assert_eq!(full.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("standard output"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Under a process limit (a CI container's pids.max), threads cannot be
/// started: issue and batch (a large one too, whose outputs are checked on
/// every core) then work on one thread instead of aborting.
#[test]
fn no_threads_to_be_had_is_no_crash() {
    let env = Env::new();
    // The limit is per user: run as `nobody`, in a directory it owns.
    let dir = env.file("nobody");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    // 300 more leaves: 1,212 outputs, enough to be checked on every core.
    let mut names = String::from("b.test\nc.test\nd.test\n");
    (0..300).for_each(|i| names.push_str(&format!("e{i}.test\n")));
    std::fs::write(dir.join("names.txt"), names).unwrap();
    let as_nobody = |args: &[&str], nproc: &str| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .args(["prlimit", &format!("--nproc={nproc}"), "--", BIN])
            .args(args)
            .env("MINICA_CA_DIR", dir.join("ca"))
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    let init = as_nobody(&["init", "-q"], "64");
    assert!(init.status.success(), "{init:?}");
    for args in [
        &["issue", "a.test"][..],
        &["batch", "names.txt", "--jobs", "4"][..],
    ] {
        let r = as_nobody(args, "1");
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    for name in ["a.test", "b.test", "c.test", "d.test", "e299.test"] {
        openssl(&[
            "verify",
            "-CAfile",
            &dir.join("ca/ca.pem").to_string_lossy(),
            &dir.join(name).join("cert.pem").to_string_lossy(),
        ])
        .ok();
    }
}

/// The lifecycle commands run on the same executor as `issue`; each is
/// killed at random points here, and after the next command (which
/// recovers) the CA and the user's files are each wholly old or wholly new:
/// a renewed leaf's cert, key, chain and PEM keystore agree with each other
/// and with the record; a revocation is recorded once or not at all; a CRL
/// is whole and verifies; an intermediate has both files or none, and its
/// name can be used again.
#[test]
fn killed_renewals_revocations_crls_and_intermediates_leave_whole_states() {
    let env = Env::new();
    env.minica(&["init", "--permit", ".test"]).ok();
    env.minica(&["issue", "app.test", "--keystore", "--format", "pem"])
        .ok();
    let issuing = env.ca_dir().join("issuers/issuing");
    let mut rng = Lcg(0x5eed);
    for i in 0..60 {
        let victim = format!("v{i}.test");
        let args: Vec<String> = match i % 4 {
            0 => vec!["renew".into(), "app.test".into()],
            1 => {
                env.minica(&["issue", &victim]).ok();
                vec![
                    "revoke".into(),
                    victim.clone(),
                    "--reason".into(),
                    "superseded".into(),
                ]
            }
            2 => vec!["crl".into(), "--out".into(), format!("crl-{i}.pem")],
            _ => vec![
                "ca".into(),
                "intermediate".into(),
                format!("im{i}"),
                "--no-default".into(),
            ],
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // Each takes 30-60 ms here, mostly fsyncs: kill anywhere in that.
        kill_after(spawn(&env, &args), rng.next(60_000));
        let entries = listed(&env);
        assert!(
            leftovers(env.path()).is_empty(),
            "run {i} ({args:?}): left {:?}",
            leftovers(env.path())
        );
        // The renewed leaf: every file of one certificate, the one recorded last.
        let d = env.file("app.test");
        let cert = d.join("cert.pem");
        assert_eq!(
            public_key_of(&cert, false),
            public_key_of(&d.join("key.pem"), true),
            "run {i}: key and certificate disagree"
        );
        let serial = serial_of(&cert);
        let in_store = openssl(&[
            "x509",
            "-noout",
            "-serial",
            "-in",
            &d.join("keystore.pem").to_string_lossy(),
        ])
        .ok()
        .stdout;
        assert!(
            in_store.trim().to_lowercase().ends_with(&serial),
            "run {i}: keystore.pem holds {in_store}, cert.pem {serial}"
        );
        let latest = entries
            .iter()
            .filter(|e| e["names"][0]["value"] == "app.test")
            .max_by_key(|e| e["issued_at"].as_str().unwrap().to_string())
            .unwrap();
        assert_eq!(
            latest["serial"],
            serial.as_str(),
            "run {i}: record and file disagree"
        );
        let chain = d.join("chain.pem");
        openssl(&[
            "verify",
            "-CAfile",
            &env.ca_dir().join("ca.pem").to_string_lossy(),
            "-untrusted",
            &chain.to_string_lossy(),
            &cert.to_string_lossy(),
        ])
        .ok();
        match i % 4 {
            1 => {
                // Revoked once, or not at all: a re-run settles it.
                let n = entries
                    .iter()
                    .filter(|e| {
                        e["names"][0]["value"] == victim.as_str() && !e["revoked"].is_null()
                    })
                    .count();
                assert!(n <= 1, "run {i}: revoked {n} times");
                let again = env.minica(&["revoke", &victim]);
                assert!(
                    (n == 0 && again.code == 0) || (n == 1 && again.code != 0),
                    "run {i}: revoked={n} and a second revoke gave {again:?}"
                );
            }
            2 => {
                for crl in [issuing.join("crl.pem"), env.file(&format!("crl-{i}.pem"))] {
                    if crl.exists() {
                        openssl(&[
                            "crl",
                            "-noout",
                            "-in",
                            &crl.to_string_lossy(),
                            "-CAfile",
                            &issuing.join("cert.pem").to_string_lossy(),
                        ])
                        .ok();
                    }
                }
            }
            3 => {
                let im = env.ca_dir().join(format!("issuers/im{i}"));
                let (c, k) = (im.join("cert.pem").exists(), im.join("key.pem").exists());
                assert_eq!(c, k, "run {i}: an intermediate with one file of two");
                if c {
                    assert_eq!(
                        public_key_of(&im.join("cert.pem"), false),
                        public_key_of(&im.join("key.pem"), true)
                    );
                } else {
                    // A killed attempt does not block the name.
                    env.minica(&["ca", "intermediate", &format!("im{i}"), "--no-default"])
                        .ok();
                }
            }
            _ => {}
        }
    }
}
