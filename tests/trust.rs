//! `minica trust`, proven with real clients that take no flag: headless
//! Chromium and Firefox ESR (NSS), curl and Python (the system bundle), and
//! a Java client with the default truststore (the JDK's cacerts). Each one
//! is seen failing before install and after uninstall, and succeeding in
//! between; `trust status` is checked against what each client did.
//!
//! These tests change the real system store and the JDK's cacerts, so they
//! need root (as on CI) and run as one test function; a guard uninstalls
//! and restores cacerts byte for byte at the end, even on a panic. NSS
//! databases live in a temporary HOME: the user's profiles are not touched.

mod common;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Background, Env, Run, free_port, require};

/// The page the test server answers; a client "loads" the page when it
/// prints this (or, for Firefox, when the server logs its request).
const TOKEN: &str = "minica-trust-ok";

/// A tiny HTTPS server on 127.0.0.1 that logs the path of every GET it
/// answers. A request reaches the log only after a complete TLS handshake,
/// so an entry proves the client accepted the certificate.
const SERVER: &str = r#"
import http.server, socket, ssl, sys
port, cert, key, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(log, "a") as f:
            f.write(self.path + "\n")
        body = b"<html><body>minica-trust-ok</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET
    def get_request(self):
        try:
            return super().get_request()
        except ssl.SSLError as e:
            with open(log, "a") as f:
                f.write("TLSFAIL " + str(e) + "\n")
            raise
srv = S(("127.0.0.1", port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("READY", flush=True)
srv.serve_forever()
"#;

/// Undoes everything at the end, even on a panic: minica's uninstall, then
/// cacerts restored from the copy taken first, then any system file of
/// this test's root removed.
struct Guard {
    home: PathBuf,
    ca_dir: PathBuf,
    cacerts: PathBuf,
    backup: Vec<u8>,
    system_file: PathBuf,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = Command::new(BIN)
            .args(["trust", "uninstall", "-q"])
            .env("MINICA_CA_DIR", &self.ca_dir)
            .env("HOME", &self.home)
            .status();
        if std::fs::read(&self.cacerts).ok().as_deref() != Some(self.backup.as_slice()) {
            let _ = std::fs::write(&self.cacerts, &self.backup);
        }
        if self.system_file.exists() {
            let _ = std::fs::remove_file(&self.system_file);
            let _ = Command::new("update-ca-certificates").status();
        }
    }
}

struct Clients<'a> {
    env: &'a Env,
    port: u16,
    log: PathBuf,
    firefox_profile: PathBuf,
    n: std::cell::Cell<u32>,
}

impl Clients<'_> {
    fn url(&self, who: &str) -> (String, String) {
        let n = self.n.get() + 1;
        self.n.set(n);
        let path = format!("/{who}-{n}");
        (format!("https://localhost:{}{path}", self.port), path)
    }

    fn logged(&self, path: &str) -> bool {
        std::fs::read_to_string(&self.log)
            .map(|l| l.lines().any(|x| x == path))
            .unwrap_or(false)
    }

    /// Headless Chromium, no --ignore-certificate-errors. `--dump-dom`
    /// prints the page's DOM when it loads; on a certificate error it prints
    /// nothing on stdout and "ERR_CERT_AUTHORITY_INVALID" on stderr.
    fn chromium(&self) -> bool {
        let (url, path) = self.url("chromium");
        let data = self
            .env
            .path()
            .join(format!("chromium-data-{}", self.n.get()));
        // `timeout`: a hung browser fails the test instead of stalling it.
        let out = Command::new("timeout")
            .args([
                "120",
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!("--user-data-dir={}", data.display()))
            .args(["--dump-dom", &url])
            .env("HOME", self.env.path())
            .stdin(Stdio::null())
            .output()
            .expect("run chromium");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let ok = stdout.contains(TOKEN);
        assert_eq!(
            ok,
            self.logged(&path),
            "chromium: page and server log disagree"
        );
        if !ok {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("ERR_CERT_AUTHORITY_INVALID"),
                "chromium failed, but not on the certificate: {stderr}"
            );
        }
        ok
    }

    fn tls_failures(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("TLSFAIL"))
            .map(str::to_string)
            .collect()
    }

    /// Headless Firefox ESR on the test's fresh profile. Firefox has no
    /// "print the page" mode that reports errors, so the signal is the
    /// server's log, and both outcomes are seen, not timed out: the GET for
    /// this run's unique path arrives only after a complete handshake
    /// (loaded); a handshake the client aborts with an "unknown CA" /
    /// "bad certificate" alert is logged as TLSFAIL (refused).
    fn firefox(&self) -> bool {
        let failures_before = self.tls_failures().len();
        let (url, path) = self.url("firefox");
        let mut child = Command::new("firefox-esr")
            .args(["--headless", "--no-remote", "-profile"])
            .arg(&self.firefox_profile)
            .arg(&url)
            .env("HOME", self.env.path())
            .env("MOZ_CRASHREPORTER_DISABLE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("run firefox-esr");
        let start = Instant::now();
        let mut seen = None;
        while start.elapsed() < Duration::from_secs(90) {
            if self.logged(&path) {
                seen = Some(true);
                break;
            }
            if let Some(f) = self.tls_failures().get(failures_before) {
                assert!(
                    f.contains("UNKNOWN_CA") || f.contains("BAD_CERTIFICATE"),
                    "firefox aborted the handshake, but not on the certificate: {f}"
                );
                // Give a (wrong) retry the chance to show up as a GET.
                std::thread::sleep(Duration::from_secs(2));
                seen = Some(self.logged(&path));
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // Firefox and its content processes are in their own group: end
        // exactly that group.
        // SAFETY: kill(2) on the process group this test created.
        unsafe {
            libc::kill(-(child.id() as i32), libc::SIGKILL);
        }
        let _ = child.wait();
        // Let the profile's lock go before the next run.
        let _ = std::fs::remove_file(self.firefox_profile.join("lock"));
        let _ = std::fs::remove_file(self.firefox_profile.join(".parentlock"));
        seen.expect("firefox neither loaded the page nor refused the certificate within 90 s")
    }

    /// curl with no --cacert: the system bundle.
    fn curl(&self) -> bool {
        let (url, _) = self.url("curl");
        let out = clean(Command::new("curl").args(["-sS", "--max-time", "10", &url]))
            .output()
            .expect("run curl");
        let ok = out.status.success() && String::from_utf8_lossy(&out.stdout).contains(TOKEN);
        if !ok {
            let e = String::from_utf8_lossy(&out.stderr);
            assert!(
                e.contains("certificate"),
                "curl failed, not on the certificate: {e}"
            );
        }
        ok
    }

    /// Python's ssl.create_default_context(): the system bundle.
    fn python(&self) -> bool {
        let (url, _) = self.url("python");
        let code = format!(
            "import ssl, urllib.request\n\
             print(urllib.request.urlopen('{url}', context=ssl.create_default_context(), timeout=10).read().decode())"
        );
        let out = clean(Command::new("python3").args(["-c", &code]))
            .output()
            .expect("run python3");
        let ok = out.status.success() && String::from_utf8_lossy(&out.stdout).contains(TOKEN);
        if !ok {
            let e = String::from_utf8_lossy(&out.stderr);
            assert!(
                e.contains("CERTIFICATE_VERIFY_FAILED"),
                "python failed, not on the certificate: {e}"
            );
        }
        ok
    }

    /// A Java client with the default truststore (cacerts).
    fn java(&self) -> bool {
        let (url, _) = self.url("java");
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/java/DefaultTrust.java");
        let out = clean(Command::new("java").args([src, &url]))
            .output()
            .expect("run java");
        let ok = out.status.success() && String::from_utf8_lossy(&out.stdout).contains(TOKEN);
        if !ok {
            let e = String::from_utf8_lossy(&out.stderr);
            assert!(
                e.contains("PKIX path building failed"),
                "java failed, not on the certificate: {e}"
            );
        }
        ok
    }

    /// Every client at once: (chromium, firefox, curl, python, java).
    fn all(&self) -> [bool; 5] {
        [
            self.chromium(),
            self.firefox(),
            self.curl(),
            self.python(),
            self.java(),
        ]
    }
}

/// No variable that would point a client at another bundle.
fn clean(cmd: &mut Command) -> &mut Command {
    cmd.env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .env_remove("CURL_CA_BUNDLE")
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("JAVA_TOOL_OPTIONS")
        .env_remove("JDK_JAVA_OPTIONS")
        .stdin(Stdio::null())
}

/// (store, trusted) per line of `trust status --json`, and its exit code.
fn status(env: &Env) -> (Vec<(String, bool)>, i32) {
    let r = env.minica(&["trust", "status", "--json"]);
    let v = r.json();
    let stores = v["stores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["store"].as_str().unwrap().to_string(),
                s["trusted"].as_bool().unwrap(),
            )
        })
        .collect();
    (stores, r.code)
}

fn trusted_in(stores: &[(String, bool)], store: &str) -> Vec<bool> {
    stores
        .iter()
        .filter(|s| s.0 == store)
        .map(|s| s.1)
        .collect()
}

fn java_cacerts() -> PathBuf {
    let java = std::fs::canonicalize(
        String::from_utf8(
            Command::new("sh")
                .args(["-c", "command -v java"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim(),
    )
    .unwrap();
    let home = java.parent().unwrap().parent().unwrap();
    std::fs::canonicalize(home.join("lib/security/cacerts")).unwrap()
}

fn unique_name(env: &Env) -> String {
    env.minica(&["trust", "status", "--json", "--store", "java"])
        .json()["root"]["unique_name"]
        .as_str()
        .unwrap()
        .to_string()
}

#[track_caller]
fn changed_none(r: &Run) {
    let v = r.json();
    for s in v["stores"].as_array().unwrap() {
        assert_eq!(s["changed"], false, "{}: changed {s}", r.what);
    }
}

#[test]
fn install_status_uninstall_with_real_clients() {
    for tool in [
        "chromium",
        "firefox-esr",
        "certutil",
        "curl",
        "python3",
        "java",
        "update-ca-certificates",
    ] {
        require(tool);
    }
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "tests/trust.rs changes the system store and cacerts: run it as root (as .ci/run does)"
    );
    let env = Env::new();
    env.minica(&["init", "--cn", "Trust Test Root"]).ok();
    env.minica(&["issue", "localhost"]).ok();
    let name = unique_name(&env);
    let cacerts = java_cacerts();
    let backup = std::fs::read(&cacerts).unwrap();
    let _guard = Guard {
        home: env.path().to_path_buf(),
        ca_dir: env.ca_dir(),
        cacerts: cacerts.clone(),
        backup: backup.clone(),
        system_file: PathBuf::from(format!("/usr/local/share/ca-certificates/{name}.crt")),
    };

    // Fresh NSS databases in the temporary HOME: Chromium's, and a Firefox
    // profile made the way Firefox makes one (an empty-password cert9.db).
    let nssdb = env.path().join(".pki/nssdb");
    let profile = env.path().join(".mozilla/firefox/trusttest.default");
    for db in [&nssdb, &profile] {
        std::fs::create_dir_all(db).unwrap();
        common::run(
            "certutil",
            &[
                "-N",
                "--empty-password",
                "-d",
                &format!("sql:{}", db.display()),
            ],
        )
        .ok();
    }

    let port = free_port();
    let log = env.path().join("requests.log");
    std::fs::write(env.path().join("server.py"), SERVER).unwrap();
    let mut server = Background::spawn(
        "python3",
        &[
            &env.s("server.py"),
            &port.to_string(),
            &env.s("localhost/chain.pem"),
            &env.s("localhost/key.pem"),
            log.to_str().unwrap(),
        ],
    );
    server.read_until("READY");
    let c = Clients {
        env: &env,
        port,
        log,
        firefox_profile: profile.clone(),
        n: std::cell::Cell::new(0),
    };

    // Before: trusted nowhere, and every client fails on the certificate.
    let (st, code) = status(&env);
    assert_eq!(
        code, 1,
        "status exits 1 when the root is not trusted everywhere"
    );
    assert!(st.iter().all(|s| !s.1), "{st:?}");
    assert_eq!(
        trusted_in(&st, "nss").len(),
        2,
        "both NSS databases are found: {st:?}"
    );
    assert_eq!(
        c.all(),
        [false; 5],
        "(chromium, firefox, curl, python, java) before install"
    );

    // NSS only: the browsers load the page; curl, Python and Java do not.
    let r = env
        .minica(&["trust", "install", "--store", "nss", "--json"])
        .ok();
    assert_eq!(r.json()["stores"].as_array().unwrap().len(), 2);
    let listing = common::run(
        "certutil",
        &["-L", "-d", &format!("sql:{}", nssdb.display())],
    )
    .ok();
    let line = listing
        .stdout
        .lines()
        .find(|l| l.starts_with(&name))
        .expect("nickname listed");
    assert!(line.trim_end().ends_with("C,,"), "trust flags: {line}");
    assert!(c.chromium(), "chromium after install --store nss");
    assert!(c.firefox(), "firefox after install --store nss");
    assert_eq!((c.curl(), c.python(), c.java()), (false, false, false));
    let (st, _) = status(&env);
    assert_eq!(trusted_in(&st, "nss"), [true, true]);
    assert_eq!(trusted_in(&st, "system"), [false]);
    assert_eq!(trusted_in(&st, "java"), [false]);

    // Java only: cacerts gains one entry at the end, every other entry kept
    // byte for byte (the header's count and the trailer change).
    env.minica(&["trust", "install", "--store", "java"]).ok();
    let after = std::fs::read(&cacerts).unwrap();
    assert_eq!(
        after[12..backup.len() - 20],
        backup[12..backup.len() - 20],
        "existing cacerts entries changed"
    );
    let list = common::run(
        "keytool",
        &[
            "-list",
            "-keystore",
            cacerts.to_str().unwrap(),
            "-storepass",
            "changeit",
        ],
    )
    .ok();
    assert!(
        list.stdout.contains(&format!("{name}, ")),
        "keytool lists {name}"
    );
    assert!(c.java(), "java after install --store java");
    assert!(
        !c.curl(),
        "curl must still fail: the system store was not asked for"
    );
    let (st, _) = status(&env);
    assert_eq!(trusted_in(&st, "java"), [true]);

    // Everything: curl and Python now succeed; status agrees: all trusted.
    env.minica(&["trust", "install"]).ok();
    assert_eq!(
        c.all(),
        [true; 5],
        "(chromium, firefox, curl, python, java) after install"
    );
    let (st, code) = status(&env);
    assert_eq!(code, 0, "{st:?}");
    assert!(st.iter().all(|s| s.1), "{st:?}");

    // Install twice is install once.
    let before = std::fs::read(&cacerts).unwrap();
    let r = env.minica(&["trust", "install", "--json"]).ok();
    changed_none(&r);
    assert_eq!(
        std::fs::read(&cacerts).unwrap(),
        before,
        "a second install rewrote cacerts"
    );

    // Uninstall: every client fails again, status says so.
    let r = env.minica(&["trust", "uninstall", "--json"]).ok();
    for s in r.json()["stores"].as_array().unwrap() {
        assert_eq!(s["removed"], true, "{s}");
    }
    assert_eq!(
        c.all(),
        [false; 5],
        "(chromium, firefox, curl, python, java) after uninstall"
    );
    let (st, code) = status(&env);
    assert_eq!(code, 1);
    assert!(st.iter().all(|s| !s.1), "{st:?}");
    assert!(!_guard.system_file.exists());
    let list = common::run(
        "keytool",
        &[
            "-list",
            "-keystore",
            cacerts.to_str().unwrap(),
            "-storepass",
            "changeit",
        ],
    )
    .ok();
    assert!(!list.stdout.contains(&name), "{name} left in cacerts");

    // Uninstall of what is not installed: success, with a note.
    let r = env.minica(&["trust", "uninstall", "--json"]).ok();
    changed_none(&r);
    for s in r.json()["stores"].as_array().unwrap() {
        assert!(
            s["reason"].as_str().unwrap().contains("not installed"),
            "{s}"
        );
    }

    // Not root: the system store says the sudo command, the others go on.
    not_root_says_sudo(&env);

    // A wrong JAVA_HOME is a warning, not an abort.
    let out = Command::new(BIN)
        .args(["trust", "status", "--store", "java"])
        .env("MINICA_CA_DIR", env.ca_dir())
        .env("HOME", env.path())
        .env("JAVA_HOME", "/nonexistent/jdk")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: JAVA_HOME=/nonexistent/jdk"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("cacerts"));
    assert_eq!(out.status.code(), Some(1));
}

/// As `nobody`, with a copy of the root readable by it: install --store
/// system is refused with the exact command to run under sudo, exit 4.
fn not_root_says_sudo(env: &Env) {
    require("setpriv");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    std::fs::create_dir(&ca).unwrap();
    std::fs::copy(env.ca_dir().join("ca.pem"), ca.join("ca.pem")).unwrap();
    for p in [dir.path(), &ca] {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
        .args(["trust", "install", "--store", "system", "--store", "java"])
        .env("MINICA_CA_DIR", &ca)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}");
    for store in ["system", "java"] {
        assert!(
            stdout.contains(&format!("writing the {store} store needs root: run `sudo ")),
            "{stdout}"
        );
        assert!(stdout.contains(&format!("--store {store}`")), "{stdout}");
    }
    assert!(
        stdout.contains(&format!("--ca-dir '{}'", ca.display())),
        "{stdout}"
    );
}

#[test]
fn export_mobileconfig_der_pem() {
    require("python3");
    let env = Env::new();
    env.minica(&["init", "--cn", "Export <Root> & Co"]).ok();
    common::openssl(&[
        "x509",
        "-in",
        &env.s("ca/ca.pem"),
        "-outform",
        "DER",
        "-out",
        &env.s("root.der"),
    ]);
    let der = std::fs::read(env.file("root.der")).unwrap();

    let r = env
        .minica(&[
            "trust",
            "export",
            "--format",
            "mobileconfig",
            "--out",
            "root.mobileconfig",
            "--json",
        ])
        .ok();
    assert_eq!(r.json()["instructions"], "root.mobileconfig.txt");
    let notes = std::fs::read_to_string(env.file("root.mobileconfig.txt")).unwrap();
    assert!(notes.contains("Certificate Trust Settings"), "{notes}");

    // Parsed by Python's plistlib, field by field.
    let script = r#"
import plistlib, sys, json, uuid
p = plistlib.load(open(sys.argv[1], "rb"))
assert p["PayloadType"] == "Configuration", p["PayloadType"]
assert p["PayloadVersion"] == 1
uuid.UUID(p["PayloadUUID"])
assert len(p["PayloadContent"]) == 1
q = p["PayloadContent"][0]
assert q["PayloadType"] == "com.apple.security.root", q["PayloadType"]
assert q["PayloadVersion"] == 1
assert uuid.UUID(q["PayloadUUID"]).version == 4
assert q["PayloadUUID"] != p["PayloadUUID"]
assert q["PayloadCertificateFileName"].endswith(".crt")
assert q["PayloadIdentifier"].startswith(p["PayloadIdentifier"])
open(sys.argv[2], "wb").write(q["PayloadContent"])
print(q["PayloadDisplayName"])
"#;
    std::fs::write(env.file("check.py"), script).unwrap();
    let out = common::run(
        "python3",
        &[
            &env.s("check.py"),
            &env.s("root.mobileconfig"),
            &env.s("from-profile.der"),
        ],
    )
    .ok();
    assert_eq!(out.stdout.trim(), "Export <Root> & Co");
    assert_eq!(
        std::fs::read(env.file("from-profile.der")).unwrap(),
        der,
        "the profile's certificate is the CA's"
    );

    // Android: the DER .crt; and PEM.
    env.minica(&["trust", "export", "--format", "der", "--out", "android.crt"])
        .ok();
    assert_eq!(std::fs::read(env.file("android.crt")).unwrap(), der);
    env.minica(&["trust", "export", "--format", "pem", "--out", "root.pem"])
        .ok();
    assert_eq!(
        std::fs::read(env.file("root.pem")).unwrap(),
        std::fs::read(env.file("ca/ca.pem")).unwrap()
    );

    // Nothing is overwritten without --force.
    env.minica(&["trust", "export", "--format", "der", "--out", "android.crt"])
        .fails_with(3);
    env.minica(&[
        "trust",
        "export",
        "--format",
        "der",
        "--out",
        "android.crt",
        "--force",
    ])
    .ok();
    assert_eq!(std::fs::read(env.file("android.crt")).unwrap(), der);
}

/// A JDK found through JAVA_HOME (a temporary one: nothing of the system's
/// is touched), a cacerts with another password, and a PKCS#12 cacerts.
#[test]
fn java_home_password_and_pkcs12_cacerts() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    let other = Env::new();
    other.minica(&["init", "--cn", "Other Root"]).ok();
    let jdk = env.path().join("jdk");
    let sec = jdk.join("lib/security");
    std::fs::create_dir_all(&sec).unwrap();
    let cacerts = sec.join("cacerts");
    let keytool = |storetype: &str| {
        let _ = std::fs::remove_file(&cacerts);
        common::run(
            "keytool",
            &[
                "-importcert",
                "-noprompt",
                "-storetype",
                storetype,
                "-keystore",
                cacerts.to_str().unwrap(),
                "-storepass",
                "s3cret!",
                "-alias",
                "other",
                "-file",
                &other.s("ca/ca.pem"),
            ],
        )
        .ok();
        std::fs::read(&cacerts).unwrap()
    };
    let trust = |args: &[&str]| {
        let out = Command::new(BIN)
            .arg("trust")
            .args(args)
            .args(["--store", "java", "--json"])
            .env("MINICA_CA_DIR", env.ca_dir())
            .env("HOME", env.path())
            .env("JAVA_HOME", &jdk)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code().unwrap(), v["stores"][0].clone())
    };
    std::fs::write(env.file("pw"), "s3cret!\n").unwrap();
    let pw = env.s("pw");

    let original = keytool("JKS");
    let (code, s) = trust(&["install"]);
    assert_eq!(code, 4, "{s}");
    assert!(
        s["reason"].as_str().unwrap().contains("wrong password"),
        "{s}"
    );
    assert_eq!(std::fs::read(&cacerts).unwrap(), original);

    let (code, s) = trust(&["install", "--java-password-file", &pw]);
    assert_eq!(code, 0, "{s}");
    assert_eq!(s["path"], cacerts.to_str().unwrap());
    let list = common::run(
        "keytool",
        &[
            "-list",
            "-keystore",
            cacerts.to_str().unwrap(),
            "-storepass",
            "s3cret!",
        ],
    )
    .ok();
    assert!(
        list.stdout.contains("other, ") && list.stdout.contains("minica-"),
        "{}",
        list.stdout
    );
    let (code, s) = trust(&["status", "--java-password-file", &pw]);
    assert_eq!((code, s["trusted"].as_bool()), (0, Some(true)), "{s}");
    let (code, s) = trust(&["uninstall", "--java-password-file", &pw]);
    assert_eq!(code, 0, "{s}");
    assert_eq!(
        std::fs::read(&cacerts).unwrap(),
        original,
        "uninstall restores the file exactly"
    );

    // PKCS#12 cacerts, as JDK 17's keytool writes one (certificates in a
    // PBES2-encrypted safe, HMAC-SHA256 MAC) and as JDK 18+ ships it (no
    // password: no MAC, nothing encrypted; JDK-8275252). minica adds its
    // entry in a plain safe of its own and leaves the encrypted one alone.
    let passwordless = [
        "-J-Dkeystore.pkcs12.certProtectionAlgorithm=NONE",
        "-J-Dkeystore.pkcs12.macAlgorithm=NONE",
    ];
    for (extra, pw_args) in [
        (&[][..], vec!["--java-password-file", pw.as_str()]),
        (&passwordless[..], vec![]),
    ] {
        let _ = std::fs::remove_file(&cacerts);
        let mut args = vec!["-importcert", "-noprompt", "-storetype", "PKCS12"];
        args.extend_from_slice(extra);
        args.extend([
            "-keystore",
            cacerts.to_str().unwrap(),
            "-storepass",
            "s3cret!",
            "-alias",
            "other",
            "-file",
        ]);
        let other_pem = other.s("ca/ca.pem");
        args.push(&other_pem);
        common::run("keytool", &args).ok();
        let p12 = std::fs::read(&cacerts).unwrap();
        let (code, s) = trust(&[&["install"][..], &pw_args].concat());
        assert_eq!(code, 0, "{s}");
        assert!(s["reason"].as_str().unwrap().contains("PKCS#12"), "{s}");
        // The JDK's own KeyStore.load sees both, ours as a trusted entry
        // (the entries a JSSE trust manager uses); any password opens the
        // password-less one, as with the JDK's.
        let list = common::run(
            "keytool",
            &[
                "-list",
                "-storetype",
                "PKCS12",
                "-keystore",
                cacerts.to_str().unwrap(),
                "-storepass",
                "s3cret!",
            ],
        )
        .ok();
        let name = s["reason"]
            .as_str()
            .unwrap()
            .split("alias ")
            .nth(1)
            .unwrap()
            .split([',', ')'])
            .next()
            .unwrap()
            .to_string();
        assert!(
            list.stdout.contains("other, ") && list.stdout.contains(&format!("{name}, ")),
            "{}",
            list.stdout
        );
        let ours = list
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name}, ")))
            .unwrap();
        assert!(ours.contains("trustedCertEntry"), "{ours}");
        let (code, s) = trust(&[&["status"][..], &pw_args].concat());
        assert_eq!((code, s["trusted"].as_bool()), (0, Some(true)), "{s}");
        let (code, s) = trust(&[&["install"][..], &pw_args].concat());
        assert_eq!(code, 0, "{s}");
        assert!(s["reason"].as_str().unwrap().contains("already"), "{s}");
        let (code, s) = trust(&[&["uninstall"][..], &pw_args].concat());
        assert_eq!(code, 0, "{s}");
        assert_eq!(
            std::fs::read(&cacerts).unwrap(),
            p12,
            "uninstall restores the PKCS#12 file exactly"
        );
        if pw_args.is_empty() {
            continue;
        }
        // A wrong password changes nothing and never shows the password.
        let (code, s) = trust(&["install"]);
        assert_eq!(code, 4, "{s}");
        assert!(
            s["reason"].as_str().unwrap().contains("wrong password"),
            "{s}"
        );
        assert_eq!(std::fs::read(&cacerts).unwrap(), p12);
    }
}

/// Two CAs installed into one cacerts at the same moment: each run reads,
/// edits and replaces the file, so without a lock one entry is lost.
#[test]
fn concurrent_installs_into_one_cacerts_keep_both() {
    let a = Env::new();
    a.minica(&["init", "--cn", "Race A"]).ok();
    let b = Env::new();
    b.minica(&["init", "--cn", "Race B"]).ok();
    let jdk = a.path().join("jdk");
    let sec = jdk.join("lib/security");
    std::fs::create_dir_all(&sec).unwrap();
    let cacerts = sec.join("cacerts");
    // A few hundred entries, as a real cacerts has, so an edit takes a while.
    let system = java_cacerts();
    let (name_a, name_b) = (unique_name(&a), unique_name(&b));
    let start = |env: &Env, action: &str| {
        Command::new(BIN)
            .args(["trust", action, "--store", "java"])
            .env("MINICA_CA_DIR", env.ca_dir())
            .env("HOME", env.path())
            .env("JAVA_HOME", &jdk)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    for round in 0..20 {
        std::fs::copy(&system, &cacerts).unwrap();
        let (pa, pb) = (start(&a, "install"), start(&b, "install"));
        for p in [pa, pb] {
            let out = p.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let list = common::run(
            "keytool",
            &[
                "-list",
                "-keystore",
                cacerts.to_str().unwrap(),
                "-storepass",
                "changeit",
            ],
        )
        .ok();
        // (The system cacerts copied may hold another test's root.)
        for name in [&name_a, &name_b] {
            assert!(
                list.stdout.contains(&format!("{name}, ")),
                "round {round}: the install of {name} was lost\n{}",
                list.stdout
            );
        }
    }
}

/// Removes the test user and its home at the end, even on a panic.
struct TempUser {
    name: String,
    base: PathBuf,
}

impl Drop for TempUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status();
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// `sudo minica trust install --store nss`: sudo gives HOME=/root, but the
/// databases to change are the invoking user's (found from SUDO_UID in the
/// password database), and certutil runs as that user, so every file in
/// the profile stays theirs; the certificate reaches certutil on stdin, as
/// the user cannot read a CA directory that is root's.
#[test]
fn under_sudo_nss_changes_the_invoking_users_databases() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    assert!(
        unsafe { libc::geteuid() } == 0,
        "tests/trust.rs needs root (as .ci/run has)"
    );
    require("certutil");
    let name = format!("minica-t{}", std::process::id());
    let base = PathBuf::from(format!("/tmp/{name}"));
    let home = base.join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let user = TempUser {
        name: name.clone(),
        base: base.clone(),
    };
    let ok = Command::new("useradd")
        .args(["--no-create-home", "--home-dir", home.to_str().unwrap()])
        .args(["--shell", "/usr/sbin/nologin", &user.name])
        .status()
        .unwrap();
    assert!(ok.success(), "useradd failed");
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, &name]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    let (uid, gid) = (id("-u"), id("-g"));
    std::os::unix::fs::chown(&home, Some(uid), Some(gid)).unwrap();
    let as_user = |args: &[&str]| {
        let out = Command::new("certutil")
            .args(args)
            .uid(uid)
            .gid(gid)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let db = home.join(".pki/nssdb");
    let spec = format!("sql:{}", db.display());
    std::fs::create_dir_all(&db).unwrap();
    for d in [home.join(".pki"), db.clone()] {
        std::os::unix::fs::chown(&d, Some(uid), Some(gid)).unwrap();
    }
    as_user(&["-N", "-d", &spec, "--empty-password"]);

    let env = Env::new();
    env.minica(&["init", "--cn", "Sudo Root"]).ok();
    let nick = unique_name(&env);
    let sudo = |action: &str| {
        let out = Command::new(BIN)
            .args(["trust", action, "--store", "nss", "--json"])
            .env("MINICA_CA_DIR", env.ca_dir())
            .env("HOME", env.path())
            .env("SUDO_UID", uid.to_string())
            .env("SUDO_GID", gid.to_string())
            .env("SUDO_USER", &name)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code().unwrap(), v)
    };
    let (code, v) = sudo("install");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["stores"][0]["path"], db.to_str().unwrap(), "{v}");
    let list = as_user(&["-L", "-d", &spec]);
    let line = list
        .lines()
        .find(|l| l.starts_with(&nick))
        .unwrap_or_else(|| panic!("{nick} not in {list}"));
    assert!(line.trim_end().ends_with("C,,"), "{line}");
    for f in std::fs::read_dir(&db).unwrap() {
        let f = f.unwrap();
        assert_eq!(
            f.metadata().unwrap().uid(),
            uid,
            "{} is no longer the user's",
            f.path().display()
        );
    }
    let (code, v) = sudo("uninstall");
    assert_eq!(code, 0, "{v}");
    assert!(!as_user(&["-L", "-d", &spec]).contains(&nick));
    drop(user);
}
