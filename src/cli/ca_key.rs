//! `minica ca encrypt|decrypt`: change how the CA key is kept, in place.

use minica::ca;
use minica::error::Result;

use super::{Global, Output, show_path};

/// Manage the CA itself
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Encrypt the CA key with a passphrase (PKCS#8, scrypt + AES-256-CBC)
    Encrypt,
    /// Store the CA key unencrypted again
    Decrypt,
    /// Make an intermediate CA signed by the root, to sign leaves
    Intermediate(super::intermediate::Args),
}

pub fn run(cmd: Command, global: &Global, out: &Output) -> Result<()> {
    let encrypt = match cmd {
        Command::Intermediate(a) => return super::intermediate::run(a, global, out),
        c => matches!(c, Command::Encrypt),
    };
    let dir = global.ca_dir()?;
    ca::set_key_encryption(&dir, encrypt, &global.unlock())?;
    let key = dir.join(ca::KEY_FILE);
    out.text(format!(
        "{} {}.",
        if encrypt { "Encrypted" } else { "Decrypted" },
        show_path(&key)
    ));
    out.json(&serde_json::json!({ "key": key, "encrypted": encrypt }));
    Ok(())
}
