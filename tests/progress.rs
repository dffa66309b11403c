//! The progress display (src/cli/progress.rs): a bar on `batch` and a
//! spinner on slow steps, on stderr only when it is a terminal, never with
//! --json, -q or CI set, and never on stdout. A pseudo-terminal comes from
//! util-linux's `script`.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{BIN, Env, require};

/// Enough leaves that a batch runs well past the display's delay (150 ms).
const LEAVES: usize = 2000;

fn names(env: &Env) -> String {
    let list: String = (0..LEAVES)
        .map(|i| format!("l{i}.progress.test\n"))
        .collect();
    std::fs::write(env.file("names.txt"), list).unwrap();
    env.s("names.txt")
}

/// Runs `shell` (a command line whose stdout is redirected to a file) with
/// stderr on a pseudo-terminal; returns what the terminal received. `CI`
/// is removed unless `ci` (the test suite itself may run under CI).
fn on_terminal(env: &Env, shell: &str, ci: bool) -> String {
    require("script");
    let mut cmd = Command::new("script");
    cmd.args(["-qec", shell, "/dev/null"])
        .current_dir(env.path())
        .env("MINICA_CA_DIR", env.ca_dir())
        .env("MINICA_STORE_PASSWORD", "changeit")
        .env("HOME", env.path())
        .env("TERM", "xterm")
        .env_remove("CI")
        .stdin(Stdio::null());
    if ci {
        cmd.env("CI", "true");
    }
    let out = cmd.output().expect("run script");
    assert!(out.status.success(), "{shell}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// No escape codes and no carriage returns (a pseudo-terminal turns
/// every "\n" into "\r\n" itself, so there only escape codes count).
fn clean(text: &str, what: &str) {
    assert!(
        !text.contains('\x1b') && !text.contains('\r'),
        "{what} has terminal control codes: {text:?}"
    );
}

fn no_escapes(text: &str, what: &str) {
    assert!(!text.contains('\x1b'), "{what} has escape codes: {text:?}");
    assert!(!text.contains("signing"), "{what} shows progress: {text:?}");
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn a_batch_into_a_pipe_draws_nothing() {
    let env = Env::new();
    let names = names(&env);
    let out = Command::new(BIN)
        .args(["batch", &names, "--out-dir", &env.s("out")])
        .env("MINICA_CA_DIR", env.ca_dir())
        .env("HOME", env.path())
        .env_remove("CI")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    clean(&stderr, "stderr into a pipe");
    assert!(!stderr.contains("signing"), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("Issued {LEAVES} certificates"))
    );
}

#[test]
fn a_batch_on_a_terminal_draws_a_bar_on_stderr_and_stdout_stays_clean() {
    let env = Env::new();
    let names = names(&env);
    let tty = on_terminal(
        &env,
        &format!("{BIN} batch {names} --out-dir out > stdout.txt"),
        false,
    );
    let last = tty.rfind(&format!("/{LEAVES} ")).expect("no bar drawn");
    // Signing may end within the display's delay on a fast machine: then
    // the first bar drawn already says what comes after it.
    assert!(
        tty.contains("signing [") || tty.contains("writing the files ["),
        "no bar: {tty:?}"
    );
    // The bar is cleared at the end: after its last drawing, the line is erased.
    assert!(tty[last..].contains("\x1b[2K"), "bar left: {tty:?}");
    let stdout = read(&env.file("stdout.txt"));
    clean(&stdout, "stdout");
    assert!(
        stdout.contains(&format!("Issued {LEAVES} certificates")),
        "{stdout}"
    );
}

#[test]
fn json_quiet_and_ci_draw_nothing_even_on_a_terminal() {
    let env = Env::new();
    let names = names(&env);
    for (n, (flags, ci)) in [("--json", false), ("-q", false), ("", true)]
        .into_iter()
        .enumerate()
    {
        let tty = on_terminal(
            &env,
            &format!("{BIN} batch {names} --out-dir out{n} {flags} > stdout{n}.txt"),
            ci,
        );
        no_escapes(&tty, &format!("the terminal with {flags:?}, CI {ci}"));
        clean(&read(&env.file(&format!("stdout{n}.txt"))), "stdout");
    }
}

#[test]
fn a_slow_keystore_shows_a_spinner_on_a_terminal() {
    let env = Env::new();
    Command::new(BIN)
        .args(["issue", "spin.test", "--out-dir", &env.s("leaf"), "-q"])
        .env("MINICA_CA_DIR", env.ca_dir())
        .output()
        .unwrap();
    let tty = on_terminal(
        &env,
        "{BIN} keystore --cert leaf/cert.pem --key leaf/key.pem --iterations 1000000 --out ks.p12 > stdout.txt"
            .replace("{BIN}", BIN)
            .as_str(),
        false,
    );
    assert!(tty.contains("writing the keystore"), "no spinner: {tty:?}");
    let stdout = read(&env.file("stdout.txt"));
    clean(&stdout, "stdout");
    assert!(stdout.contains("Wrote keystore"), "{stdout}");
}

#[test]
fn apply_on_a_terminal_draws_a_bar_and_says_the_same_on_stdout() {
    let env = Env::new();
    let manifest: String = (0..1500)
        .map(|i| format!("[[certificate]]\nnames = [\"a{i}.progress.test\"]\nout = \"a{i}\"\n"))
        .collect();
    std::fs::write(env.file("env.toml"), manifest).unwrap();
    let tty = on_terminal(&env, &format!("{BIN} apply env.toml > stdout.txt"), false);
    assert!(tty.contains("certificates ["), "no bar: {tty:?}");
    assert!(tty.contains("/1500 "), "no count: {tty:?}");
    let stdout = read(&env.file("stdout.txt"));
    clean(&stdout, "stdout");
    assert!(stdout.contains("created a1499"), "{stdout}");
    // Up to date: nothing to sign, so no bar either.
    let tty = on_terminal(&env, &format!("{BIN} apply env.toml > stdout2.txt"), false);
    assert!(
        !tty.contains("certificates ["),
        "a bar for nothing: {tty:?}"
    );
}
