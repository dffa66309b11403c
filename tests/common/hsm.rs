//! A SoftHSM2 token for tests (tests/pkcs11.rs, and the offline root of
//! tests/acme.rs).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{BIN, Env, Run, require};

pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const PIN: &str = "pin-4711";

/// A SoftHSM2 token of its own: a configuration and token directory in a
/// temporary directory, one token labelled "minica" initialized in it.
pub struct Hsm {
    pub tmp: tempfile::TempDir,
}

impl Hsm {
    pub fn new() -> Hsm {
        require("softhsm2-util");
        require("pkcs11-tool");
        assert!(
            Path::new(MODULE).is_file(),
            "{MODULE} is missing; .ci/run installs softhsm2"
        );
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("tokens")).unwrap();
        std::fs::write(
            tmp.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tmp.path().join("tokens").display()
            ),
        )
        .unwrap();
        let hsm = Hsm { tmp };
        hsm.tool(
            "softhsm2-util",
            &[
                "--init-token",
                "--free",
                "--label",
                "minica",
                "--pin",
                PIN,
                "--so-pin",
                "so-5678",
            ],
        )
        .ok();
        hsm
    }

    pub fn conf(&self) -> PathBuf {
        self.tmp.path().join("softhsm2.conf")
    }

    pub fn tokens(&self) -> PathBuf {
        self.tmp.path().join("tokens")
    }

    /// A peer tool run with this token's configuration.
    pub fn tool(&self, tool: &str, args: &[&str]) -> Run {
        require(tool);
        let out = Command::new(tool)
            .args(args)
            .env("SOFTHSM2_CONF", self.conf())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
        run_of(out, format!("{tool} {}", args.join(" ")))
    }

    pub fn pkcs11_tool(&self, args: &[&str]) -> Run {
        let mut all = vec!["--module", MODULE, "--login", "--pin", PIN];
        all.extend_from_slice(args);
        self.tool("pkcs11-tool", &all)
    }

    /// `minica ARGS` against `env`'s CA with this token, the PIN in
    /// MINICA_PKCS11_PIN when `pin` is given, no terminal.
    pub fn minica(&self, env: &Env, pin: Option<&str>, args: &[&str]) -> Run {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(env.path())
            .env("MINICA_CA_DIR", env.ca_dir())
            .env("HOME", env.path())
            .env("SOFTHSM2_CONF", self.conf())
            .env_remove("XDG_DATA_HOME")
            .env_remove("MINICA_PKCS11_PIN")
            .stdin(Stdio::null());
        if let Some(p) = pin {
            cmd.env("MINICA_PKCS11_PIN", p);
        }
        run_of(
            cmd.output().expect("run minica"),
            format!("minica {}", args.join(" ")),
        )
    }
}

pub fn run_of(out: std::process::Output, what: String) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        what,
    }
}
