//! `minica completions` and `minica man`: scripts the shells accept, and a
//! page per command.

mod common;

use common::*;

#[test]
fn completions_are_scripts_the_shells_accept() {
    let env = Env::new();
    let bash = env.minica(&["completions", "bash"]).ok().stdout;
    for sub in ["issue", "store", "trust", "renew"] {
        assert!(bash.contains(sub), "{sub} missing from the bash script");
    }
    std::fs::write(env.file("minica.bash"), &bash).unwrap();
    // bash -n parses without running.
    run("bash", &["-n", &env.s("minica.bash")]).ok();
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let s = env.minica(&["completions", shell]).ok().stdout;
        assert!(s.contains("store"), "{shell}");
    }
    env.minica(&["completions", "tcsh"]).fails_with(2);
}

#[test]
fn a_man_page_per_command() {
    let env = Env::new();
    let dir = env.file("man");
    env.minica(&["man", "--out-dir", dir.to_str().unwrap()])
        .ok();
    for page in [
        "minica.1",
        "minica-issue.1",
        "minica-store-add.1",
        "minica-ca-intermediate.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap();
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page}: not roff"
        );
        assert!(text.contains(".SH NAME"), "{page}");
    }
    assert!(
        std::fs::read_to_string(dir.join("minica-store-add.1"))
            .unwrap()
            .contains("\\-\\-cert")
    );
    // Pages are not replaced without --force.
    env.minica(&["man", "--out-dir", dir.to_str().unwrap()])
        .fails_with(3);
    env.minica(&["man", "--out-dir", dir.to_str().unwrap(), "--force"])
        .ok();
}

/// `-` is standard input for `inspect` and `verify`.
#[test]
fn a_dash_reads_standard_input() {
    use std::io::Write;
    let env = Env::new();
    env.minica(&["issue", "app.test"]).ok();
    let chain = std::fs::read(env.file("app.test/chain.pem")).unwrap();
    let feed = |args: &[&str]| {
        let mut child = std::process::Command::new(BIN)
            .args(args)
            .env("MINICA_CA_DIR", env.ca_dir())
            .env("HOME", env.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&chain).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = feed(&["inspect", "-"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("CN=app.test"));
    let out = feed(&["verify", "-", "--host", "app.test"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = feed(&["verify", "-", "--host", "other.test"]);
    assert_eq!(out.status.code(), Some(1));
}

/// `--out -` writes a single store to standard output, and is refused
/// (changing nothing) where `--out` is a directory.
#[test]
fn a_dash_writes_one_store_to_standard_output() {
    let env = Env::new();
    env.minica(&["issue", "app.test"]).ok();
    std::fs::write(env.file("pw"), "changeit\n").unwrap();
    let out = std::process::Command::new(BIN)
        .args([
            "keystore",
            "app.test",
            "--out",
            "-",
            "--password-file",
            &env.s("pw"),
        ])
        .current_dir(env.path())
        .env("MINICA_CA_DIR", env.ca_dir())
        .env("HOME", env.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(env.file("from-stdout.p12"), &out.stdout).unwrap();
    let l = run(
        "keytool",
        &[
            "-list",
            "-keystore",
            &env.s("from-stdout.p12"),
            "-storepass",
            "changeit",
        ],
    )
    .ok()
    .stdout;
    assert!(l.contains("app.test, "), "{l}");
    assert!(!env.file("-").exists() && !env.file("app.test/-").exists());
    for args in [
        &["issue", "x.test", "--out-dir", "-"][..],
        &["csr", "x.test", "--out-dir", "-"][..],
        &["batch", "names.txt", "--out-dir", "-"][..],
    ] {
        let before = snapshot(env.path());
        env.minica(args)
            .fails_with(2)
            .one_sentence_naming("--out-dir");
        assert_eq!(before, snapshot(env.path()));
    }
}

/// A Unicode host name is issued as its punycode A-label, both forms shown,
/// and a browser-style verifier (openssl with the A-label) accepts it.
#[test]
fn unicode_host_names_are_issued_as_punycode() {
    let env = Env::new();
    let r = env.minica(&["issue", "bücher.test"]).ok();
    assert!(
        r.stderr
            .contains("bücher.test is written as xn--bcher-kva.test"),
        "{}",
        r.stderr
    );
    let cert = env.file("xn--bcher-kva.test/cert.pem");
    let text = x509_text(&cert);
    assert!(text.contains("DNS:xn--bcher-kva.test"), "{text}");
    openssl(&[
        "verify",
        "-CAfile",
        &env.s("xn--bcher-kva.test/ca.pem"),
        "-verify_hostname",
        "xn--bcher-kva.test",
        cert.to_str().unwrap(),
    ])
    .ok();
    env.minica(&["issue", "--client", "jürgen@corp.test"])
        .fails_with(2)
        .one_sentence_naming("jürgen@corp.test");
}

/// The CA passphrase has the three sources store passwords have: a file,
/// a variable named by a flag, and standard input.
#[test]
fn the_ca_passphrase_from_a_file_a_variable_or_stdin() {
    use std::io::Write;
    let env = Env::new();
    let minica = |args: &[&str], stdin: Option<&str>, var: Option<&str>| {
        let mut cmd = std::process::Command::new(BIN);
        cmd.args(args)
            .current_dir(env.path())
            .env("MINICA_CA_DIR", env.ca_dir())
            .env("HOME", env.path())
            .env_remove("MINICA_CA_PASSWORD")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(v) = var {
            cmd.env("ROOT_PASS", v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    };
    let ok = |o: std::process::Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    ok(minica(
        &["init", "--encrypt", "--ca-password-stdin"],
        Some("a long root pass\n"),
        None,
    ));
    ok(minica(
        &["issue", "a.test", "--ca-password-env", "ROOT_PASS"],
        None,
        Some("a long root pass"),
    ));
    ok(minica(
        &["issue", "b.test", "--ca-password-stdin"],
        Some("a long root pass\n"),
        None,
    ));
    let o = minica(
        &["issue", "c.test", "--ca-password-env", "ROOT_PASS"],
        None,
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("ROOT_PASS") && e.contains("--ca-password-env"),
        "{e}"
    );
    let o = minica(
        &["issue", "d.test", "--ca-password-stdin"],
        Some("wrong\n"),
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!env.file("d.test").exists());
}

/// A command's own options come first in its --help, then the CA options
/// under their heading, then the global ones under theirs.
#[test]
fn help_lists_a_commands_own_options_first() {
    let env = Env::new();
    let h = env.minica(&["issue", "--help"]).ok().stdout;
    let at = |s: &str| h.find(s).unwrap_or_else(|| panic!("no {s:?} in {h}"));
    let order = [
        at("--keystore"),
        at("CA options:"),
        at("--ca-password-file"),
        at("Global options:"),
        at("--json"),
    ];
    assert!(order.is_sorted(), "{h}");
}

/// Each command offers only the options it uses (issue #17): those that
/// never open the CA take no --ca-dir, those that never sign take no CA
/// passphrase, and every help ends with an example.
#[test]
fn help_offers_only_what_a_command_uses() {
    let env = Env::new();
    let no_ca: &[&[&str]] = &[
        &["csr"],
        &["inspect"],
        &["keystore"],
        &["needs-renewal"],
        &["store", "list"],
        &["store", "export"],
        &["completions"],
        &["man"],
    ];
    let ca_no_key: &[&[&str]] = &[
        &["list"],
        &["truststore"],
        &["verify"],
        &["revoke"],
        &["trust", "status"],
        &["trust", "export"],
    ];
    let signing: &[&[&str]] = &[
        &["init"],
        &["issue"],
        &["batch"],
        &["renew"],
        &["crl"],
        &["ca", "encrypt"],
        &["ca", "intermediate"],
        &["export", "vault"],
    ];
    let help = |cmd: &[&str]| {
        let mut args = cmd.to_vec();
        args.push("--help");
        env.minica(&args).ok().stdout
    };
    for (cmds, ca_dir, passphrase) in [
        (no_ca, false, false),
        (ca_no_key, true, false),
        (signing, true, true),
    ] {
        for cmd in cmds {
            let h = help(cmd);
            assert_eq!(h.contains("--ca-dir"), ca_dir, "{cmd:?}: {h}");
            assert_eq!(h.contains("--ca-password-file"), passphrase, "{cmd:?}: {h}");
            assert!(h.contains("--json"), "{cmd:?}: {h}");
            let tail = h.trim_end().rsplit("\n\n").next().unwrap();
            assert!(
                tail.starts_with("Example"),
                "{cmd:?} ends without an example: {h}"
            );
        }
    }
}

/// The README's "Using it" block runs top to bottom as written.
#[test]
fn the_readme_usage_block_runs_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme.find("## Using it").unwrap()..];
    let start = section.find("```sh\n").unwrap() + 6;
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let env = Env::new();
    std::fs::write(env.file("block.sh"), block).unwrap();
    let bin_dir = std::path::Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new("bash")
        .args(["-e", "block.sh"])
        .current_dir(env.path())
        .env("PATH", path)
        .env("HOME", env.path())
        .env_remove("MINICA_CA_DIR")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("VALID\n"));
}
