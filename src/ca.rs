//! The CA directory: create a root, load it, lock it.
//!
//! ```text
//! <ca-dir>/            mode 0700
//!   ca.toml            settings (see ca.toml.example)
//!   ca.pem             the root certificate: its presence means "a CA is here"
//!   ca-key.pem         the root key, PKCS#8, mode 0600
//!   issued.jsonl       append-only record of issued certificates
//!   templates/         optional profile overrides
//!   .lock              held while a certificate is issued
//! ```

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PublicKeyData,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::cakey::{self, Unlock};
use crate::config::CaConfig;
use crate::constraints::{Constraints, Permit};
use crate::error::{Error, Result};
use crate::{fsx, keys, record, x509};

pub const CERT_FILE: &str = "ca.pem";
pub const KEY_FILE: &str = "ca-key.pem";
pub const CONFIG_FILE: &str = "ca.toml";
const LOCK_FILE: &str = ".lock";

/// The CA directory when neither `--ca-dir` nor `MINICA_CA_DIR` is given:
/// `$XDG_DATA_HOME/minica`, else `~/.local/share/minica` (XDG Base Directory).
pub fn default_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("minica"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/minica")),
        None => Err(Error::usage(
            "cannot find a home directory for the CA: pass --ca-dir or set MINICA_CA_DIR",
        )),
    }
}

/// A loaded CA, ready to sign.
pub struct Ca {
    pub dir: PathBuf,
    pub config: CaConfig,
    /// Where `config` came from (it may not exist: then defaults apply).
    pub config_path: PathBuf,
    pub cert_der: CertificateDer<'static>,
    pub cert_pem: String,
    pub issuer: Issuer<'static, KeyPair>,
    pub subject: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub constraints: Constraints,
}

/// Held while the CA directory is being changed; released on drop.
pub struct Lock(#[allow(dead_code)] File);

/// Takes the CA directory's lock, waiting for other minica processes.
pub fn lock(dir: &Path) -> Result<Lock> {
    let path = dir.join(LOCK_FILE);
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Error::io("open the lock file", &path, e))?;
    f.lock()
        .map_err(|e| Error::io("lock the CA directory with", &path, e))?;
    Ok(Lock(f))
}

/// Whether `dir` holds a CA (its certificate is the marker).
pub fn exists(dir: &Path) -> bool {
    dir.join(CERT_FILE).symlink_metadata().is_ok()
}

impl Ca {
    pub fn policy(&self) -> crate::policy::Policy<'_> {
        crate::policy::Policy {
            rules: &self.config.policy,
            file: &self.config_path,
        }
    }
}

/// Encrypts (with a passphrase) or decrypts the CA key in place, atomically,
/// under the CA's lock. Returns false when it already was in that state.
pub fn set_key_encryption(dir: &Path, encrypt: bool, unlock: &Unlock) -> Result<()> {
    if !exists(dir) {
        return Err(Error::NoCa(dir.to_path_buf()));
    }
    let _lock = lock(dir)?;
    let key_path = dir.join(KEY_FILE);
    let bytes = zeroize::Zeroizing::new(fsx::read(&key_path)?);
    let encrypted = cakey::is_encrypted(&bytes);
    let new_pem = match (encrypt, encrypted) {
        (true, true) => {
            return Err(Error::usage(format!(
                "{} is already encrypted",
                key_path.display()
            )));
        }
        (false, false) => {
            return Err(Error::usage(format!(
                "{} is not encrypted",
                key_path.display()
            )));
        }
        (true, false) => {
            let key = keys::load_pem(&key_path, &bytes)?;
            let passphrase = unlock.passphrase(true)?;
            cakey::encrypt(&keys::pkcs8_der(&key), &passphrase)?
        }
        (false, true) => {
            let passphrase = unlock.passphrase(false)?;
            let der = cakey::decrypt(&key_path, &bytes, &passphrase)?;
            zeroize::Zeroizing::new(keys::pem_encode("PRIVATE KEY", der.to_vec()))
        }
    };
    fsx::stage(&key_path, new_pem.as_bytes(), fsx::PRIVATE)?.commit(true)
}

/// What `create` did.
pub struct Created {
    pub ca: Ca,
    /// Where a replaced CA's files were moved, with `force`.
    pub replaced: Option<PathBuf>,
}

/// Builds the root's certificate parameters from the settings.
fn root_params(cfg: &CaConfig, serial: &[u8], now: OffsetDateTime) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    params.serial_number = Some(rcgen::SerialNumber::from_slice(serial));
    let (not_before, not_after) = x509::validity_window(now, cfg.ca.days);
    params.not_before = not_before;
    params.not_after = not_after;
    let name = cfg
        .ca
        .name
        .clone()
        .unwrap_or_else(|| format!("minica root CA {}", &x509::hex(serial)[..6]));
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    if let Some(org) = &cfg.ca.organization {
        params
            .distinguished_name
            .push(DnType::OrganizationName, org.clone());
    }
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(cfg.ca.path_len));
    // keyCertSign + cRLSign and no EKU: an EKU on a root limits every leaf
    // under it in OpenSSL and Go, and RFC 5280 gives roots none.
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let permits = cfg
        .ca
        .permit
        .iter()
        .map(|p| Permit::parse(p))
        .collect::<Result<Vec<_>>>()?;
    params.name_constraints = Constraints::from_permits(permits).to_rcgen();
    Ok(params)
}

/// Creates a new root CA in `dir`. Refuses to replace an existing one unless
/// `force`, in which case the old files are kept in `dir/replaced-<time>/`.
pub fn create(dir: &Path, cfg: &CaConfig, force: bool, unlock: &Unlock) -> Result<Created> {
    if cfg.ca.days == 0 {
        return Err(Error::usage("--days must be at least 1"));
    }
    // Check the settings before touching the disk.
    let now = x509::now();
    let serial = x509::random_serial()?;
    let params = root_params(cfg, &serial, now)?;
    refuse_existing_ca(dir, force)?;

    fsx::create_private_dir(dir)?;
    let _lock = lock(dir)?;
    refuse_existing_ca(dir, force)?;

    // Asked before the key is made, so a missing passphrase changes nothing.
    let passphrase = if cfg.ca.encrypt_key {
        Some(unlock.passphrase(true)?)
    } else {
        None
    };
    let key = cfg.ca.key_type.generate()?;
    let cert = params.self_signed(&key)?;
    let key_pem = match &passphrase {
        Some(p) => cakey::encrypt(&keys::pkcs8_der(&key), p)?,
        None => zeroize::Zeroizing::new(keys::pkcs8_pem(&key)),
    };
    let replaced = if exists(dir) {
        Some(move_aside(dir, now)?)
    } else {
        None
    };

    // The certificate is written last: until it exists there is no CA, and
    // a key left alone by an interrupted run is simply replaced next time.
    let files = [
        (CONFIG_FILE, cfg.to_toml().into_bytes(), fsx::PUBLIC),
        (KEY_FILE, key_pem.as_bytes().to_vec(), fsx::PRIVATE),
        (CERT_FILE, cert.pem().into_bytes(), fsx::PUBLIC),
    ];
    let staged = files
        .iter()
        .map(|(name, bytes, mode)| fsx::stage(&dir.join(name), bytes, *mode))
        .collect::<Result<Vec<_>>>()?;
    fsx::commit_all(staged, true)?;
    drop(_lock);
    let ca = match passphrase {
        Some(p) => load(
            dir,
            &Unlock {
                source: crate::password::Source::literal(p),
            },
        )?,
        None => load(dir, unlock)?,
    };
    Ok(Created { ca, replaced })
}

fn refuse_existing_ca(dir: &Path, force: bool) -> Result<()> {
    if exists(dir) && !force {
        return Err(Error::Exists {
            path: dir.join(CERT_FILE),
            hint: Some(format!(
                "a CA already exists in {} (the old one is kept in a replaced-* folder there)",
                dir.display()
            )),
        });
    }
    Ok(())
}

/// Moves a CA's files into `dir/replaced-<time>/` so `init --force` loses nothing.
fn move_aside(dir: &Path, now: OffsetDateTime) -> Result<PathBuf> {
    let stamp = now.unix_timestamp();
    let mut target = dir.join(format!("replaced-{stamp}"));
    let mut n = 1;
    while target.exists() {
        target = dir.join(format!("replaced-{stamp}-{n}"));
        n += 1;
    }
    fsx::create_private_dir(&target)?;
    for name in [CERT_FILE, KEY_FILE, CONFIG_FILE, record::FILE_NAME] {
        let from = dir.join(name);
        if from.exists() {
            fs::rename(&from, target.join(name)).map_err(|e| Error::io("move aside", &from, e))?;
        }
    }
    Ok(target)
}

/// Loads the CA in `dir`, checking that its key matches its certificate.
pub fn load(dir: &Path, unlock: &Unlock) -> Result<Ca> {
    match fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::NoCa(dir.into())),
        Err(e) => return Err(Error::io("open the CA directory", dir, e)),
        Ok(m) if !m.is_dir() => {
            return Err(Error::bad_file_fix(
                dir,
                "is not a directory",
                "point --ca-dir at a CA directory",
            ));
        }
        Ok(_) => {}
    }
    let cert_path = dir.join(CERT_FILE);
    if !exists(dir) {
        return Err(Error::NoCa(dir.into()));
    }
    let cert_bytes = fsx::read(&cert_path)?;
    let cert_der = CertificateDer::pem_slice_iter(&cert_bytes)
        .next()
        .and_then(|c| c.ok())
        .ok_or_else(|| {
            Error::bad_file_fix(
                &cert_path,
                "holds no PEM certificate",
                "restore the CA certificate, or create a new CA with `minica init --force`",
            )
        })?;
    let (_, x509) = X509Certificate::from_der(&cert_der).map_err(|_| {
        Error::bad_file_fix(
            &cert_path,
            "the CA certificate is corrupt",
            "restore it, or create a new CA with `minica init --force`",
        )
    })?;
    if !x509.is_ca() {
        return Err(Error::bad_file(
            &cert_path,
            "is not a CA certificate (no basicConstraints CA:TRUE)",
        ));
    }

    let key_path = dir.join(KEY_FILE);
    let key_bytes = match fs::read(&key_path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::bad_file_fix(
                &key_path,
                "the CA key is missing",
                "restore it beside ca.pem, or create a new CA with `minica init --force`",
            ));
        }
        Err(e) => return Err(Error::io("read", &key_path, e)),
    };
    let key_bytes = zeroize::Zeroizing::new(key_bytes);
    let key = if cakey::is_encrypted(&key_bytes) {
        let passphrase = unlock.passphrase(false)?;
        let der = cakey::decrypt(&key_path, &key_bytes, &passphrase)?;
        keys::from_pkcs8_der(&key_path, &der)?
    } else {
        keys::load_pem(&key_path, &key_bytes)?
    };
    if key.subject_public_key_info() != x509.public_key().raw {
        return Err(Error::bad_file_fix(
            &key_path,
            format!(
                "the CA key does not match the CA certificate {}",
                cert_path.display()
            ),
            "restore the key that belongs to this certificate, or create a new CA with `minica init --force`",
        ));
    }

    let config_path = dir.join(CONFIG_FILE);
    let config = if config_path.exists() {
        CaConfig::load(&config_path)?
    } else {
        CaConfig::default()
    };

    let subject = x509.subject().to_string();
    let not_before = x509.validity().not_before.to_datetime();
    let not_after = x509.validity().not_after.to_datetime();
    let constraints = Constraints::from_cert(&x509);
    let issuer = Issuer::from_ca_cert_der(&cert_der, key)
        .map_err(|_| Error::bad_file(&cert_path, "the CA certificate's subject cannot be read"))?;
    let cert_pem = keys::pem_encode("CERTIFICATE", cert_der.to_vec());
    Ok(Ca {
        dir: dir.to_path_buf(),
        config,
        config_path,
        cert_der: cert_der.into_owned(),
        cert_pem,
        issuer,
        subject,
        not_before,
        not_after,
        constraints,
    })
}

/// Loads the CA in `dir`, creating one with the default settings when there
/// is none, so a newcomer's first `minica issue` just works. The bool says
/// whether it was created.
pub fn load_or_create(dir: &Path, unlock: &Unlock) -> Result<(Ca, bool)> {
    match load(dir, unlock) {
        Ok(ca) => Ok((ca, false)),
        Err(Error::NoCa(_)) => match create(dir, &CaConfig::default(), false, unlock) {
            Ok(created) => Ok((created.ca, true)),
            // Another process made it first.
            Err(Error::Exists { .. }) => Ok((load(dir, unlock)?, false)),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    }
}
