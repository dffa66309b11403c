//! The option groups commands share. Each command flattens only the groups
//! it uses, so its `--help` offers nothing it would ignore (issue #17: `csr`
//! and `inspect` used to list `--ca-dir` and `--ca-password-file`).

use std::path::PathBuf;

use minica::error::Result;

/// What to print: every command takes these (global on [`super::Cli`]).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Global options")]
pub struct OutputArgs {
    /// Print one JSON object on stdout instead of text (shapes: docs/json.md)
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// Where the CA is: for commands that read or change it.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "CA options")]
pub struct CaDirArgs {
    /// The CA directory [default: $XDG_DATA_HOME/minica or ~/.local/share/minica]
    #[arg(long, env = "MINICA_CA_DIR", value_name = "DIR")]
    ca_dir: Option<PathBuf>,
}

impl CaDirArgs {
    /// The directory given with --ca-dir or MINICA_CA_DIR, if any.
    pub fn given(&self) -> Option<PathBuf> {
        self.ca_dir.clone().filter(|d| !d.as_os_str().is_empty())
    }

    pub fn dir(&self) -> Result<PathBuf> {
        match &self.ca_dir {
            Some(d) if !d.as_os_str().is_empty() => Ok(d.clone()),
            _ => minica::ca::default_dir(),
        }
    }
}

/// How to unlock the CA key: for commands that sign with it (or make it).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "CA options")]
pub struct UnlockArgs {
    /// Read the passphrase of an encrypted CA key from FILE [default: MINICA_CA_PASSWORD, else a prompt]
    #[arg(long, value_name = "FILE")]
    ca_password_file: Option<PathBuf>,
    /// Read the CA passphrase from the environment variable VAR
    #[arg(long, value_name = "VAR", conflicts_with = "ca_password_file")]
    ca_password_env: Option<String>,
    /// Read the CA passphrase from the first line of standard input
    #[arg(long, conflicts_with_all = ["ca_password_file", "ca_password_env"])]
    ca_password_stdin: bool,
    /// Read the user PIN of a PKCS#11 token holding the CA key from FILE [default: MINICA_PKCS11_PIN, else a prompt]
    #[arg(long, value_name = "FILE")]
    pkcs11_pin_file: Option<PathBuf>,
}

impl UnlockArgs {
    pub fn get(&self) -> minica::cakey::Unlock {
        minica::cakey::Unlock {
            // The same three sources as store passwords.
            source: minica::password::Source {
                file: self.ca_password_file.clone(),
                env: self.ca_password_env.clone(),
                stdin: self.ca_password_stdin,
                value: None,
            },
            pin: minica::password::Source {
                file: self.pkcs11_pin_file.clone(),
                ..Default::default()
            },
        }
    }
}

/// The CA directory and its key: for commands that sign.
#[derive(Debug, Clone, clap::Args)]
pub struct SignerArgs {
    #[command(flatten)]
    pub ca: CaDirArgs,
    #[command(flatten)]
    pub unlock: UnlockArgs,
}

impl SignerArgs {
    pub fn dir(&self) -> Result<PathBuf> {
        self.ca.dir()
    }

    pub fn unlock(&self) -> minica::cakey::Unlock {
        self.unlock.get()
    }
}
