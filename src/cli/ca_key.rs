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
}

pub fn run(cmd: Command, global: &Global, out: &Output) -> Result<()> {
    let dir = global.ca_dir()?;
    let encrypt = matches!(cmd, Command::Encrypt);
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
