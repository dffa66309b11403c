//! Helpers for the integration tests: run the real binary, run real peers
//! (openssl, keytool, curl...), take snapshots of directories to prove that
//! a refused command changed nothing.
#![allow(dead_code)]

pub mod hsm;

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_minica");

/// A scratch directory with a CA directory inside it.
pub struct Env {
    pub tmp: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn ca_dir(&self) -> PathBuf {
        self.tmp.path().join("ca")
    }

    /// `minica ARGS` run in the scratch directory against its CA directory,
    /// with no terminal and none of the caller's minica settings.
    pub fn minica(&self, args: &[&str]) -> Run {
        self.minica_in(self.path(), args)
    }

    pub fn minica_in(&self, cwd: &Path, args: &[&str]) -> Run {
        self.minica_with(cwd, args, &[])
    }

    /// [`Env::minica_in`] with environment variables set (`Some`) or
    /// removed (`None`) on top.
    pub fn minica_with(&self, cwd: &Path, args: &[&str], vars: &[(&str, Option<&str>)]) -> Run {
        let mut cmd = self.command(args);
        cmd.current_dir(cwd);
        for (k, v) in vars {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let out = cmd.output().expect("run minica");
        Run::from(out, format!("minica {}", args.join(" ")))
    }

    /// `minica ARGS` as [`Env::minica`] runs it, not started yet: for a
    /// test that sets up more (a `pre_exec`, other streams).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(self.path())
            .env("MINICA_CA_DIR", self.ca_dir())
            .env("HOME", self.path())
            .env_remove("XDG_DATA_HOME")
            .stdin(Stdio::null());
        cmd
    }

    /// openssl verifies the certificate at `rel` under this CA's root.
    pub fn openssl_verifies(&self, rel: &str) {
        openssl(&[
            "verify",
            "-CAfile",
            &self.ca_dir().join("ca.pem").to_string_lossy(),
            &self.file(rel).to_string_lossy(),
        ])
        .ok();
    }

    pub fn file(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }

    pub fn s(&self, rel: &str) -> String {
        self.file(rel).to_str().unwrap().to_string()
    }
}

/// A finished process, with its output as text.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub what: String,
}

impl Run {
    pub fn from(out: Output, what: String) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            what,
        }
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "{} failed:\nstdout: {}\nstderr: {}",
            self.what, self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn fails_with(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "{}: expected exit {code}:\nstdout: {}\nstderr: {}",
            self.what, self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{}: stdout is not JSON ({e}): {}", self.what, self.stdout))
    }

    /// The error is one line, "minica: error: ...", naming `needle`.
    #[track_caller]
    pub fn one_sentence_naming(&self, needle: &str) {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "{}: expected one line on stderr, got:\n{}",
            self.what,
            self.stderr
        );
        assert!(
            lines[0].starts_with("minica: error: "),
            "{}: {}",
            self.what,
            lines[0]
        );
        assert!(
            lines[0].contains(needle),
            "{}: error does not mention {needle:?}: {}",
            self.what,
            lines[0]
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
    }
}

/// Fails the test when a peer tool is missing: a peer that is not there
/// proves nothing, so it is never a silent skip (.ci/run installs them).
#[track_caller]
pub fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    // The Debian package of each peer, as .ci/run installs it.
    let package = match tool {
        "keytool" | "java" | "javac" => "default-jdk-headless",
        "gnutls-cli" | "certtool" => "gnutls-bin",
        "certutil" | "pk12util" => "libnss3-tools",
        "setpriv" | "prlimit" | "script" => "util-linux",
        "trust" => "p11-kit",
        "update-ca-certificates" => "ca-certificates",
        "softhsm2-util" => "softhsm2",
        "pkcs11-tool" => "opensc",
        t if t.contains('/') => "(built by cargo test: run `cargo build --release --examples`)",
        t => t,
    };
    assert!(
        found,
        "the peer `{tool}` is not installed: apt-get install {package} (.ci/run installs it)"
    );
}

/// Runs a peer tool and returns its result.
pub fn run(tool: &str, args: &[&str]) -> Run {
    require(tool);
    let out = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    Run::from(out, format!("{tool} {}", args.join(" ")))
}

/// Runs a peer tool with `input` on its standard input.
pub fn run_with_input(tool: &str, args: &[&str], input: &[u8]) -> Run {
    use std::io::Write;
    require(tool);
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    Run::from(out, format!("{tool} {}", args.join(" ")))
}

pub fn openssl(args: &[&str]) -> Run {
    run("openssl", args)
}

/// `openssl x509 -text` of a certificate file.
pub fn x509_text(cert: &Path) -> String {
    openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-text"])
        .ok()
        .stdout
}

/// Compiles tests/java/TlsPeer.java once per test binary; returns the
/// directory holding the class, for `java -cp`.
pub fn java_peer() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("minica-java-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/java/TlsPeer.java");
        run("javac", &["-d", dir.to_str().unwrap(), src]).ok();
        dir
    })
    .clone()
}

/// Runs the Java peer to completion.
pub fn java(args: &[&str]) -> Run {
    let cp = java_peer();
    let mut all = vec!["-cp", cp.to_str().unwrap(), "TlsPeer"];
    all.extend_from_slice(args);
    run("java", &all)
}

/// A minimal `openssl ca` database in `dir`; returns its config file. `openssl
/// ca` is the one openssl command that sets any notBefore/notAfter.
pub fn openssl_ca_db(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("new")).unwrap();
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial"), "1000\n").unwrap();
    let d = dir.display();
    let cnf = dir.join("ca.cnf");
    std::fs::write(
        &cnf,
        format!(
            "[ca]\ndefault_ca=d\n[d]\ndatabase={d}/index.txt\nnew_certs_dir={d}/new\nserial={d}/serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n"
        ),
    )
    .unwrap();
    cnf
}

/// Every file under `dir` with its content and mode, to show nothing changed.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    let mut map = BTreeMap::new();
    fn walk(dir: &Path, map: &mut BTreeMap<PathBuf, (Vec<u8>, u32)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let mode = meta.permissions().mode();
            if meta.is_dir() {
                map.insert(p.clone(), (Vec::new(), mode));
                walk(&p, map);
            } else {
                map.insert(p.clone(), (std::fs::read(&p).unwrap_or_default(), mode));
            }
        }
    }
    walk(dir, &mut map);
    map
}

pub fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A background process, killed when dropped, so a failing test never leaves
/// a server running.
pub struct Background {
    pub child: Child,
    pub what: String,
}

impl Background {
    pub fn spawn(tool: &str, args: &[&str]) -> Background {
        require(tool);
        let child = Command::new(tool)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {tool}: {e}"));
        Background {
            child,
            what: format!("{tool} {}", args.join(" ")),
        }
    }

    /// Reads lines of the process's stdout until one starts with `prefix`,
    /// and returns the rest of it (e.g. a port number it printed).
    pub fn read_until(&mut self, prefix: &str) -> String {
        use std::io::BufRead;
        let stdout = self.child.stdout.as_mut().expect("stdout is piped");
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader.read_line(&mut line).unwrap();
            assert!(n > 0, "{} ended before printing {prefix:?}", self.what);
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_string();
            }
        }
    }

    /// Waits until something listens on `port`, or fails the test.
    pub fn wait_for_port(&mut self, port: u16) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited early with {status}", self.what);
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{} did not listen on port {port}", self.what);
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small deterministic generator for kill delays (no rand dependency).
pub struct Lcg(pub u64);
impl Lcg {
    pub fn next(&mut self, max: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % max
    }
}

/// Kills `child` with SIGKILL after `micros` microseconds.
pub fn kill_after(mut child: Child, micros: u64) {
    std::thread::sleep(Duration::from_micros(micros));
    let _ = child.kill();
    let _ = child.wait();
}

/// Starts `minica` in the background on `env`'s CA (stderr piped, for
/// tests that read it; stdout discarded).
pub fn spawn(env: &Env, args: &[&str]) -> Child {
    env.command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The path of one of minica's examples (built by `cargo test`).
pub fn example(name: &str) -> String {
    PathBuf::from(BIN)
        .parent()
        .unwrap()
        .join("examples")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// The example TLS server on 127.0.0.1 with this certificate chain and
/// key; returns it (stopped on drop) and its port.
pub fn tls_server(chain: &Path, key: &Path) -> (Background, String) {
    let mut server = Background::spawn(
        &example("tls_server"),
        &[
            "--cert",
            &chain.to_string_lossy(),
            "--key",
            &key.to_string_lossy(),
            "--port",
            "0",
        ],
    );
    let port = server
        .read_until("listening on 127.0.0.1:")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    (server, port)
}
