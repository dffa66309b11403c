//! `minica ca encrypt|decrypt`: change how the CA key is kept, in place.

use minica::ca;
use minica::error::Result;

use super::{Output, show_path};

/// Manage the CA itself
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Encrypt the CA key with a passphrase (PKCS#8, scrypt + AES-256-CBC)
    #[command(
        after_help = "Examples:\n  minica ca encrypt --ca-password-file pass.txt\n  MINICA_CA_PASSWORD=... minica issue app.test   # each signing command then needs it"
    )]
    Encrypt(KeyArgs),
    /// Store the CA key unencrypted again
    #[command(after_help = "Example:\n  minica ca decrypt --ca-password-env CA_PW")]
    Decrypt(KeyArgs),
    /// Make an intermediate CA signed by the root, to sign leaves
    Intermediate(super::intermediate::Args),
}

/// `ca encrypt` and `ca decrypt`: the CA, and the passphrase of its key
/// (the new one for encrypt, the old one for decrypt).
#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    #[command(flatten)]
    ca: super::SignerArgs,
}

pub fn run(cmd: Command, out: &Output) -> Result<()> {
    let (encrypt, args) = match cmd {
        Command::Intermediate(a) => return super::intermediate::run(a, out),
        Command::Encrypt(a) => (true, a),
        Command::Decrypt(a) => (false, a),
    };
    let dir = args.ca.dir()?;
    ca::set_key_encryption(&dir, encrypt, &args.ca.unlock())?;
    let key = dir.join(ca::KEY_FILE);
    out.text(format!(
        "{} {}.",
        if encrypt { "Encrypted" } else { "Decrypted" },
        show_path(&key)
    ));
    out.json(|| serde_json::json!({ "files": { "key": key }, "key_encrypted": encrypt }));
    Ok(())
}
