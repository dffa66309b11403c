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

/// Every command's help, found by walking `minica --help` down its
/// "Commands:" sections: (the command's words, its help text).
fn every_help(env: &Env) -> Vec<(Vec<String>, String)> {
    let mut todo = vec![Vec::<String>::new()];
    let mut all = Vec::new();
    while let Some(cmd) = todo.pop() {
        let mut args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        args.push("--help");
        let h = env.minica(&args).ok().stdout;
        let mut in_commands = false;
        for line in h.lines() {
            if line == "Commands:" {
                in_commands = true;
            } else if !line.starts_with("  ") {
                in_commands = false;
            } else if in_commands {
                let name = line.split_whitespace().next().unwrap();
                if name != "help" {
                    let mut sub = cmd.clone();
                    sub.push(name.to_string());
                    todo.push(sub);
                }
            }
        }
        all.push((cmd, h));
    }
    all
}

/// The long flags in `text`.
fn flags_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("--") {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '-') {
            continue;
        }
        let name: String = text[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        if name.starts_with(|c: char| c.is_ascii_lowercase()) {
            out.push(format!("--{}", name.trim_end_matches('-')));
        }
    }
    out
}

/// Every flag that an error message, a help text or a comment in src/ (and
/// a `minica` line of the README) tells the user to give exists (issue
/// #17: "every error suggests flags that exist"), and every command's help
/// ends with an example.
#[test]
fn every_flag_named_exists_and_every_help_has_an_example() {
    let env = Env::new();
    let mut known = std::collections::BTreeSet::new();
    for (cmd, h) in every_help(&env) {
        known.extend(flags_in(&h));
        let leaf = !h.contains("\nCommands:\n");
        let tail = h.trim_end().rsplit("\n\n").next().unwrap();
        assert!(
            !leaf || tail.starts_with("Example"),
            "`minica {}` ends without an example:\n{h}",
            cmd.join(" ")
        );
    }
    // Flags of other programs that minica's messages quote: certbot and
    // lego (export caddy's next steps), softhsm2-util and pkcs11-tool (a
    // token without a PIN), p11-kit's `trust anchor --remove`.
    let foreign = [
        "--server",
        "--standalone",
        "--http",
        "--init-token",
        "--init-pin",
        "--login",
        "--login-type",
        "--remove",
    ];
    // password.rs names a secret's flags by their stem (`{stem}-file`).
    let stem = |f: &str| known.contains(&format!("{f}-file"));
    let mut unknown = Vec::new();
    let mut files = vec![std::path::PathBuf::from("README.md")];
    let mut dirs = vec![std::path::PathBuf::from("src")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let readme = f.ends_with("README.md");
        for (n, line) in text.lines().enumerate() {
            // The README quotes other programs too: only its minica lines.
            let line = if readme {
                let t = line.trim_start().trim_start_matches("sudo ");
                match t.split_once("minica ") {
                    Some((pre, rest)) if !pre.contains(' ') || pre.contains('=') => {
                        rest.split('#').next().unwrap()
                    }
                    _ => continue,
                }
            } else {
                line
            };
            for flag in flags_in(line) {
                if !known.contains(&flag) && !foreign.contains(&flag.as_str()) && !stem(&flag) {
                    unknown.push(format!("{}:{}: {flag}", f.display(), n + 1));
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "flags that no command takes:\n{}",
        unknown.join("\n")
    );
    // The check can fail: a renamed flag is caught.
    assert!(!known.contains("--out-dirs") && known.contains("--out-dir"));
}
