//! The CA directory: create a root, load it, lock it.
//!
//! ```text
//! <ca-dir>/            mode 0700
//!   ca.toml            settings (see ca.toml.example)
//!   ca.pem             the root certificate: its presence means "a CA is here"
//!   ca-key.pem         the root key, PKCS#8, mode 0600 (none when ca.toml
//!                      names a PKCS#11 token key: see pkcs11.rs)
//!   issued.jsonl       append-only record of issued certificates
//!   templates/         optional profile overrides
//!   .lock              held while a certificate is issued
//! ```

use std::fs::{self, File, OpenOptions};
use std::io;

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyUsagePurpose, PublicKeyData,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::cakey::{self, CaKey, Unlock};
use crate::config::CaConfig;
use crate::constraints::{Constraints, Permit};
use crate::error::{Error, Result};
use crate::{fsx, keys, pkcs11, platform, record, txn, x509};

pub const CERT_FILE: &str = "ca.pem";
pub const KEY_FILE: &str = "ca-key.pem";
pub const CONFIG_FILE: &str = "ca.toml";
/// The latest CRL of a CA (the root's here, an intermediate's in issuers/NAME/).
pub const CRL_FILE: &str = "crl.pem";
const LOCK_FILE: &str = ".lock";

/// The CA directory when neither `--ca-dir` nor `MINICA_CA_DIR` is given:
/// `minica` in the user's data directory: on Linux `$XDG_DATA_HOME/minica`,
/// else `~/.local/share/minica` (XDG Base Directory); on macOS
/// `~/Library/Application Support/minica`; on Windows `%APPDATA%\minica`.
pub fn default_dir() -> Result<PathBuf> {
    match platform::data_dir() {
        Some(d) => Ok(d.join("minica")),
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
    /// Signs with the key in memory or through the token (see CaKey).
    pub issuer: Issuer<'static, CaKey>,
    pub subject: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub constraints: Constraints,
    /// The CA's SubjectPublicKeyInfo, DER.
    pub spki: Vec<u8>,
    /// The intermediate's name (issuers/NAME); None when the root signs.
    pub name: Option<String>,
    /// What a server presents after its leaf: the signing intermediate
    /// (none when the root signs). The root itself is never in a chain.
    pub chain: Vec<CertificateDer<'static>>,
    /// The root: what clients trust (ca.pem).
    pub root_der: CertificateDer<'static>,
    pub root_pem: String,
    /// Name constraints of the CAs above this one, enforced as well.
    pub parent_constraints: Vec<Constraints>,
    /// The signer's pathLenConstraint; None: unlimited.
    pub path_len: Option<u32>,
}

/// Held while the CA directory is being changed; released on drop.
pub struct Lock(#[allow(dead_code)] File);

/// Takes the CA directory's lock, waiting for other minica processes. The
/// lock file is opened without following a link planted in its place.
fn lock(dir: &Path) -> Result<Lock> {
    let path = dir.join(LOCK_FILE);
    let mut o = OpenOptions::new();
    let f = platform::no_follow(platform::set_mode(
        o.create(true).truncate(false).write(true),
        0o600,
    ))
    .open(&path)
    .map_err(|e| fsx::nofollow_error(&path, e))?;
    f.lock()
        .map_err(|e| Error::io("lock the CA directory with", &path, e))?;
    Ok(Lock(f))
}

/// Whether `dir` holds a CA (its certificate is the marker).
pub fn exists(dir: &Path) -> bool {
    dir.join(CERT_FILE).symlink_metadata().is_ok()
}

/// What a CA directory holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// None of the CA's files: a CA may be made here.
    Empty,
    /// A certificate and its key (or, for a key in a PKCS#11 token, the
    /// certificate and the ca.toml that names the key).
    Complete,
    /// Some of the CA's files but not both the certificate and the key:
    /// never a reason to make a new key over what is there.
    Partial {
        present: Vec<&'static str>,
        missing: Vec<&'static str>,
    },
}

/// The files that make a CA; any of them present means "a CA is here".
const CA_FILES: [&str; 4] = [CERT_FILE, KEY_FILE, CONFIG_FILE, record::FILE_NAME];

impl Ca {
    /// Checks a name against the constraints of this CA and every CA above it.
    pub fn check_name(&self, name: &crate::names::Name) -> Result<()> {
        self.constraints.check(name)?;
        self.parent_constraints
            .iter()
            .try_for_each(|c| c.check(name))
    }

    /// The root's SubjectPublicKeyInfo, DER.
    pub fn root_spki(&self) -> Vec<u8> {
        X509Certificate::from_der(&self.root_der)
            .map(|(_, x)| x.public_key().raw.to_vec())
            .unwrap_or_default()
    }

    /// Whether any CA in the path limits DNS names.
    pub fn has_dns_constraints(&self) -> bool {
        self.constraints.has_dns() || self.parent_constraints.iter().any(Constraints::has_dns)
    }

    /// The error for a failed signature: a token's own reason when the
    /// token failed (rcgen only knows "remote key error").
    pub fn signing_failed(&self, e: rcgen::Error) -> Error {
        self.issuer.key().signing_failed(e)
    }

    pub fn policy(&self) -> crate::policy::Policy<'_> {
        crate::policy::Policy {
            rules: &self.config.policy,
            file: &self.config_path,
        }
    }
}

/// A CA directory, locked, checked and recovered: every command that reads
/// or changes a CA works inside one, so that it sees the CA as it is while
/// it runs (another `init --force` waits), and never a half-finished
/// command's leftovers.
pub struct Session {
    pub dir: PathBuf,
    _lock: Lock,
    /// Interrupted commands this session finished or undid on opening.
    pub recovered: Vec<txn::Recovered>,
}

impl Session {
    /// Locks the CA directory `dir` (created, mode 0700, when `create`),
    /// checks that nobody else can change it, and finishes or undoes any
    /// command that was killed in it.
    pub fn open(dir: &Path, create: bool) -> Result<Session> {
        match fs::metadata(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !create {
                    return Err(Error::NoCa(dir.into()));
                }
                fsx::create_private_dir(dir)?;
            }
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
        check_safe(dir)?;
        let lock = lock(dir)?;
        let recovered = txn::recover(dir)?;
        Ok(Session {
            dir: dir.to_path_buf(),
            _lock: lock,
            recovered,
        })
    }

    pub fn state(&self) -> State {
        let present: Vec<&'static str> = CA_FILES
            .into_iter()
            .filter(|f| self.dir.join(f).symlink_metadata().is_ok())
            .collect();
        // A root key in a token has no file: the certificate and ca.toml
        // (which names the key) make the CA complete.
        let needed = if key_in_token(&self.dir) {
            [CERT_FILE, CONFIG_FILE]
        } else {
            [CERT_FILE, KEY_FILE]
        };
        let missing: Vec<&'static str> = needed
            .into_iter()
            .filter(|f| !present.contains(f))
            .collect();
        match (present.is_empty(), missing.is_empty()) {
            (true, _) => State::Empty,
            (false, true) => State::Complete,
            (false, false) => State::Partial { present, missing },
        }
    }

    /// Loads the CA, which must be complete.
    pub fn load(&self, unlock: &Unlock) -> Result<Ca> {
        match self.state() {
            State::Complete => load_files(&self.dir, unlock),
            State::Empty => Err(Error::NoCa(self.dir.clone())),
            State::Partial { present, missing } => {
                // A ca.toml that cannot be read is the first thing to fix:
                // it may be what names a token key.
                read_config(&self.dir)?;
                Err(incomplete(&self.dir, &present, &missing))
            }
        }
    }

    /// Loads the CA that signs leaves: the intermediate `name`, else the
    /// default issuer in ca.toml (`issue.issuer`), else the root.
    pub fn load_signer(&self, name: Option<&str>, unlock: &Unlock) -> Result<Ca> {
        self.check_complete()?;
        let (config, _) = read_config(&self.dir)?;
        match name.map(str::to_string).or(config.issue.issuer) {
            Some(n) => load_intermediate(&self.dir, &n, unlock),
            None => self.load(unlock),
        }
    }

    /// Refuses a CA directory that holds some of a CA's files but not all.
    fn check_complete(&self) -> Result<()> {
        match self.state() {
            State::Partial { present, missing } => Err(incomplete(&self.dir, &present, &missing)),
            _ => Ok(()),
        }
    }

    /// The CA's settings (ca.toml, or the defaults).
    pub fn config(&self) -> Result<CaConfig> {
        Ok(read_config(&self.dir)?.0)
    }

    /// The certificates of the CA [`Session::load_signer`] would pick, not
    /// its key: what judging already issued certificates needs, so that
    /// `apply --check` runs without a passphrase or a token.
    pub fn signer_certs(&self, name: Option<&str>) -> Result<SignerCerts> {
        self.check_complete()?;
        let (config, _) = read_config(&self.dir)?;
        let root = read_ca_cert(&self.dir.join(CERT_FILE))?.der;
        match name.map(str::to_string).or(config.issue.issuer) {
            Some(n) => {
                let cert = read_ca_cert(&issuer_dir(&self.dir, &n)?.join(ISSUER_CERT))?.der;
                Ok(SignerCerts {
                    name: Some(n),
                    cert,
                    root,
                })
            }
            None => Ok(SignerCerts {
                name: None,
                cert: root.clone(),
                root,
            }),
        }
    }

    /// Loads the CA, creating one with the default settings when the
    /// directory holds none, so a newcomer's first `minica issue` just
    /// works. The bool says whether it was created.
    pub fn load_or_create(&self, unlock: &Unlock) -> Result<(Ca, bool)> {
        match self.state() {
            State::Empty => Ok((self.create(&CaConfig::default(), false, unlock)?.ca, true)),
            _ => Ok((self.load(unlock)?, false)),
        }
    }

    /// Creates a new root CA. Refuses to replace an existing (or partial)
    /// one unless `force`; then the old files are kept in `replaced-<time>/`,
    /// all of them moved in one transaction.
    pub fn create(&self, cfg: &CaConfig, force: bool, unlock: &Unlock) -> Result<Created> {
        self.create_with(cfg, force, unlock, None)
    }

    /// [`Session::create`], with the token already opened (and logged
    /// into) when the root key is to be in one.
    fn create_with(
        &self,
        cfg: &CaConfig,
        force: bool,
        unlock: &Unlock,
        token: Option<pkcs11::Token>,
    ) -> Result<Created> {
        let dir = &self.dir;
        cfg.check_pkcs11()?;
        // Check the settings before touching the disk.
        let now = x509::now();
        let serial = x509::random_serial()?;
        let params = root_params(cfg, &serial, now)?;
        let state = self.state();
        if state != State::Empty && !force {
            return Err(match state {
                State::Partial { present, missing } => incomplete(dir, &present, &missing),
                _ => Error::Exists {
                    path: dir.join(CERT_FILE),
                    hint: Some(format!(
                        "a CA already exists in {} (the old one is kept in a replaced-* folder there)",
                        dir.display()
                    )),
                },
            });
        }

        // A key in a token: found there, or made there, after the checks
        // above so that a refused init leaves the token as it was.
        if let Some(uri) = cfg.pkcs11_uri()? {
            let token = match token {
                Some(t) => t,
                None => open_token(cfg, &uri, unlock, true)?,
            };
            let (key, generated, warnings) = token.key_or_generate(&uri, cfg.ca.key_type)?;
            let key = CaKey::Token(Box::new(key));
            let cert = params
                .self_signed(&key)
                .map_err(|e| key.signing_failed(e))?;
            let replaced = self.write_root(cfg, &cert, None, state, now)?;
            let ca = signer(
                dir,
                (cfg.clone(), dir.join(CONFIG_FILE)),
                parse_ca_cert(&dir.join(CERT_FILE), cert.der())?,
                key,
                None,
                None,
            )?;
            return Ok(Created {
                ca,
                replaced,
                key_generated: generated,
                warnings,
            });
        }
        // Asked before the key is made, so a missing passphrase changes nothing.
        let passphrase = if cfg.ca.encrypt_key {
            Some(unlock.passphrase(true)?)
        } else {
            None
        };
        let key = cfg.ca.key_type.generate_signing()?;
        let cert = params.self_signed(&key)?;
        let key_pem = match &passphrase {
            Some(p) => cakey::encrypt(&key.pkcs8_der(), p)?,
            None => key.pkcs8_pem(),
        };
        let replaced = self.write_root(cfg, &cert, Some(&key_pem), state, now)?;
        // The signer from what was just written, not read back: reading
        // ca.pem and the key again (and, encrypted, deriving the key from
        // the passphrase again) was a quarter of an init's instructions.
        let info = parse_ca_cert(&dir.join(CERT_FILE), cert.der())?;
        let ca = signer(
            dir,
            (cfg.clone(), dir.join(CONFIG_FILE)),
            info,
            CaKey::File(key),
            None,
            None,
        )?;
        Ok(Created {
            ca,
            replaced,
            key_generated: true,
            warnings: Vec::new(),
        })
    }

    /// Writes a new root's files as one transaction (the old CA's moved
    /// aside, when there is one); `key_pem` is None for a key in a token.
    /// Returns where the old CA went.
    fn write_root(
        &self,
        cfg: &CaConfig,
        cert: &rcgen::Certificate,
        key_pem: Option<&zeroize::Zeroizing<String>>,
        state: State,
        now: OffsetDateTime,
    ) -> Result<Option<PathBuf>> {
        let dir = &self.dir;
        let aside = (state != State::Empty).then(|| replaced_dir(dir, now));
        let mut files: Vec<(&str, Vec<u8>, u32)> = vec![
            (CONFIG_FILE, cfg.to_toml().into_bytes(), fsx::PUBLIC),
            (CERT_FILE, cert.pem().into_bytes(), fsx::PUBLIC),
        ];
        if let Some(k) = key_pem {
            files.push((KEY_FILE, k.as_bytes().to_vec(), fsx::PRIVATE));
        }
        let mut plan = txn::Plan::in_ca(dir);
        if let Some(a) = &aside {
            // What belongs to the old root goes with it: its intermediates,
            // its record, its revocations and its CRL, and its key file when
            // the new key is in a token. A new CA's record is made by its
            // first certificate.
            let mut old = vec![
                ISSUERS_DIR,
                record::FILE_NAME,
                record::REVOKED_FILE,
                CRL_FILE,
            ];
            if key_pem.is_none() {
                old.push(KEY_FILE);
            }
            for name in old {
                plan.move_aside(&dir.join(name), &a.join(name));
            }
        }
        for (name, bytes, mode) in files {
            match &aside {
                Some(a) => plan.replace_keeping(&dir.join(name), bytes, mode, &a.join(name)),
                None => plan.write(&dir.join(name), bytes, mode, txn::Replace::Never),
            }
        }
        plan.run()?;
        Ok(aside.filter(|a| a.exists()))
    }

    /// Encrypts (with a passphrase) or decrypts the CA key in place.
    pub fn set_key_encryption(&self, encrypt: bool, unlock: &Unlock) -> Result<()> {
        match self.state() {
            State::Complete => {}
            State::Empty => return Err(Error::NoCa(self.dir.clone())),
            State::Partial { present, missing } => {
                return Err(incomplete(&self.dir, &present, &missing));
            }
        }
        let (config, config_path) = read_config(&self.dir)?;
        if let Some(uri) = &config.ca.pkcs11 {
            return Err(Error::bad_file(
                &config_path,
                format!(
                    "the root key is in a PKCS#11 token ({uri}), where it is protected by the token's PIN; there is no key file to encrypt or decrypt"
                ),
            ));
        }
        let key_path = self.dir.join(KEY_FILE);
        let bytes = zeroize::Zeroizing::new(fsx::read_nofollow(&key_path, fsx::MAX_INPUT)?);
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
        let mut plan = txn::Plan::in_ca(&self.dir);
        plan.write(
            &key_path,
            new_pem.as_bytes(),
            fsx::PRIVATE,
            txn::Replace::Allowed,
        );
        plan.run()
    }
}

fn incomplete(dir: &Path, present: &[&str], missing: &[&str]) -> Error {
    Error::bad_file_fix(
        dir,
        format!(
            "the CA here is incomplete: it has {} but no {}",
            present.join(", "),
            missing.join(" and no ")
        ),
        format!(
            "restore the missing file, or replace the CA with `minica init --force` (what is there is kept in {}/replaced-<time>/)",
            dir.display()
        ),
    )
}

/// Refuses a CA directory that someone else could change: owned by another
/// user, writable by group or others, a key others can read, or a link
/// planted in place of one of minica's files.
fn check_safe(dir: &Path) -> Result<()> {
    // Windows has no Unix owners or modes: its ACLs are not checked here.
    let Some(me) = platform::euid() else {
        return Ok(());
    };
    let m = fs::metadata(dir).map_err(|e| Error::io("open the CA directory", dir, e))?;
    check_owner_mode(dir, &m, me, 0o022, "chmod go-w")?;
    for name in CA_FILES
        .into_iter()
        .chain([LOCK_FILE, txn::SLOT_FILE, txn::LEGACY_JOURNAL_DIR])
    {
        let p = dir.join(name);
        let m = match p.symlink_metadata() {
            Ok(m) => m,
            Err(_) => continue,
        };
        check_not_link(&p, &m)?;
        if name == KEY_FILE {
            check_owner_mode(&p, &m, me, 0o077, "chmod 600")?;
        } else {
            check_owner_mode(&p, &m, me, 0o022, "chmod go-w")?;
        }
    }
    // Intermediates: their folders, certificates and keys alike.
    let issuers = dir.join(ISSUERS_DIR);
    if let Ok(m) = issuers.symlink_metadata() {
        check_not_link(&issuers, &m)?;
        check_owner_mode(&issuers, &m, me, 0o022, "chmod go-w")?;
        for e in fs::read_dir(&issuers)
            .map_err(|e| Error::io("read", &issuers, e))?
            .flatten()
        {
            let d = e.path();
            let m = d.symlink_metadata().map_err(|e| Error::io("read", &d, e))?;
            check_not_link(&d, &m)?;
            check_owner_mode(&d, &m, me, 0o022, "chmod go-w")?;
            for (f, forbidden, fix) in [
                (ISSUER_CERT, 0o022, "chmod go-w"),
                (ISSUER_KEY, 0o077, "chmod 600"),
            ] {
                let p = d.join(f);
                if let Ok(m) = p.symlink_metadata() {
                    check_not_link(&p, &m)?;
                    check_owner_mode(&p, &m, me, forbidden, fix)?;
                }
            }
        }
    }
    Ok(())
}

fn check_not_link(p: &Path, m: &fs::Metadata) -> Result<()> {
    if m.file_type().is_symlink() {
        return Err(fsx::link_error(p));
    }
    Ok(())
}

fn check_owner_mode(
    path: &Path,
    m: &fs::Metadata,
    me: u32,
    forbidden: u32,
    fix: &str,
) -> Result<()> {
    let Some((uid, mode)) = platform::owner_and_mode(m) else {
        return Ok(());
    };
    if uid != me {
        return Err(Error::bad_file_fix(
            path,
            format!(
                "is owned by user {uid}, not by you (user {me}), who could then replace the CA or read its key"
            ),
            format!(
                "run `chown {me} {}`, or use a CA directory of your own",
                path.display()
            ),
        ));
    }
    let mode = mode & 0o777;
    if mode & forbidden != 0 {
        let who = match (mode & forbidden & 0o070 != 0, mode & forbidden & 0o007 != 0) {
            (true, true) => "its group and everyone else",
            (true, false) => "its group",
            _ => "everyone else",
        };
        let what = if forbidden == 0o077 {
            "readable or writable by"
        } else {
            "writable by"
        };
        return Err(Error::bad_file_fix(
            path,
            format!(
                "is {what} {who} (mode {mode:o}), who could then replace the CA or read its key"
            ),
            format!("run `{fix} {}`", path.display()),
        ));
    }
    Ok(())
}

/// What `create` did.
pub struct Created {
    pub ca: Ca,
    /// Where a replaced CA's files were moved, with `force`.
    pub replaced: Option<PathBuf>,
    /// False when a token already held the key the URI names.
    pub key_generated: bool,
    pub warnings: Vec<String>,
}

/// Builds the root's certificate parameters from the settings.
fn root_params(cfg: &CaConfig, serial: &[u8], now: OffsetDateTime) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    params.serial_number = Some(rcgen::SerialNumber::from_slice(serial));
    let (not_before, not_after) = x509::validity_window(now, cfg.ca.days)?;
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
    // Written whole by minica: rcgen 0.14 cannot write URI constraints.
    params
        .custom_extensions
        .extend(Constraints::from_permits(permits).to_custom_extension());
    Ok(params)
}

/// Creates a new root CA in `dir` (see [`Session::create`]).
pub fn create(dir: &Path, cfg: &CaConfig, force: bool, unlock: &Unlock) -> Result<Created> {
    // Bad settings change nothing, not even by making the directory.
    root_params(cfg, &x509::random_serial()?, x509::now())?;
    cfg.check_pkcs11()?;
    // Nor does a missing module or token or a wrong PIN: the token is
    // opened and logged into before the directory is made.
    let token = match cfg.pkcs11_uri()? {
        Some(uri) => {
            let token = open_token(cfg, &uri, unlock, true)?;
            token.check_existing(&uri, cfg.ca.key_type)?;
            Some(token)
        }
        None => None,
    };
    Session::open(dir, true)?.create_with(cfg, force, unlock, token)
}

/// Opens (and logs into) the token that holds, or is to hold, the root key.
fn open_token(
    cfg: &CaConfig,
    uri: &pkcs11::KeyUri,
    unlock: &Unlock,
    rw: bool,
) -> Result<pkcs11::Token> {
    let module = pkcs11::module_for(cfg.ca.pkcs11_module.as_deref(), uri)?;
    pkcs11::Token::open(&module, uri, &unlock.pin, rw)
}

/// Whether ca.toml in `dir` names a token key (and so there is no
/// ca-key.pem). A ca.toml that cannot be read names none; loading the CA
/// reports why.
fn key_in_token(dir: &Path) -> bool {
    read_config(dir).is_ok_and(|(c, _)| c.ca.pkcs11.is_some())
}

/// `replaced-<time>` in `dir`, a name not taken yet.
fn replaced_dir(dir: &Path, now: OffsetDateTime) -> PathBuf {
    let stamp = now.unix_timestamp();
    let mut target = dir.join(format!("replaced-{stamp}"));
    let mut n = 1;
    while target.symlink_metadata().is_ok() {
        target = dir.join(format!("replaced-{stamp}-{n}"));
        n += 1;
    }
    target
}

/// Encrypts or decrypts the CA key in `dir` (see [`Session::set_key_encryption`]).
pub fn set_key_encryption(dir: &Path, encrypt: bool, unlock: &Unlock) -> Result<()> {
    Session::open(dir, false)?.set_key_encryption(encrypt, unlock)
}

/// Loads the CA in `dir` (see [`Session::load`]).
pub fn load(dir: &Path, unlock: &Unlock) -> Result<Ca> {
    Session::open(dir, false)?.load(unlock)
}

/// What minica needs of a CA certificate.
pub struct CertInfo {
    pub der: CertificateDer<'static>,
    pub subject: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub constraints: Constraints,
    pub spki: Vec<u8>,
    /// basicConstraints pathLenConstraint; None: unlimited.
    pub path_len: Option<u32>,
}

/// Reads a CA certificate (PEM), refusing one that is not a CA.
pub fn read_ca_cert(path: &Path) -> Result<CertInfo> {
    let bytes = fsx::read_nofollow(path, fsx::MAX_INPUT)?;
    let der = CertificateDer::pem_slice_iter(&bytes)
        .next()
        .and_then(|c| c.ok())
        .ok_or_else(|| {
            Error::bad_file_fix(
                path,
                "holds no PEM certificate",
                "restore the CA certificate, or create a new CA with `minica init --force`",
            )
        })?
        .into_owned();
    parse_ca_cert(path, &der)
}

/// [`read_ca_cert`] of a certificate already in memory (DER), `path` being
/// where it is kept (for errors).
fn parse_ca_cert(path: &Path, der: &[u8]) -> Result<CertInfo> {
    let der = CertificateDer::from(der.to_vec());
    let (_, x509) = X509Certificate::from_der(&der).map_err(|_| {
        Error::bad_file_fix(
            path,
            "the CA certificate is corrupt",
            "restore it, or create a new CA with `minica init --force`",
        )
    })?;
    let path_len = match x509.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => bc.value.path_len_constraint,
        _ => {
            return Err(Error::bad_file(
                path,
                "is not a CA certificate (no basicConstraints CA:TRUE)",
            ));
        }
    };
    Ok(CertInfo {
        subject: x509.subject().to_string(),
        not_before: x509.validity().not_before.to_datetime(),
        not_after: x509.validity().not_after.to_datetime(),
        constraints: Constraints::from_cert(&x509),
        spki: x509.public_key().raw.to_vec(),
        path_len,
        der,
    })
}

/// Reads a CA key (encrypted or not) and checks it is the certificate's.
fn read_ca_key(
    key_path: &Path,
    cert_path: &Path,
    spki: &[u8],
    unlock: &Unlock,
) -> Result<crate::rng::FileKey> {
    let key_bytes = match fsx::read_nofollow(key_path, fsx::MAX_INPUT) {
        Ok(b) => b,
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Err(Error::bad_file_fix(
                key_path,
                "the CA key is missing",
                format!(
                    "restore it beside {}, or make this CA again",
                    cert_path.display()
                ),
            ));
        }
        Err(e) => return Err(e),
    };
    let key_bytes = zeroize::Zeroizing::new(key_bytes);
    let key = if cakey::is_encrypted(&key_bytes) {
        let passphrase = unlock.passphrase(false)?;
        let der = cakey::decrypt(key_path, &key_bytes, &passphrase)?;
        keys::signing_from_pkcs8_der(key_path, &der)?
    } else {
        keys::load_signing_pem(key_path, &key_bytes)?
    };
    if key.subject_public_key_info() != spki {
        return Err(Error::bad_file_fix(
            key_path,
            format!(
                "the CA key does not match the CA certificate {}",
                cert_path.display()
            ),
            "restore the key that belongs to this certificate, or make this CA again",
        ));
    }
    Ok(key)
}

fn read_config(dir: &Path) -> Result<(CaConfig, PathBuf)> {
    let config_path = dir.join(CONFIG_FILE);
    let config = match config_path.symlink_metadata() {
        Ok(meta) => {
            let seen = Seen::of(&config_path, &meta);
            if let Some(c) = CONFIG_READ.with_borrow(|r| r.as_ref().and_then(|r| r.get(&seen))) {
                return Ok((c, config_path));
            }
            let bytes = fsx::read_nofollow(&config_path, fsx::MAX_INPUT)?;
            let text = String::from_utf8(bytes).map_err(|_| {
                Error::bad_file(&config_path, "is not UTF-8 text; expected TOML settings")
            })?;
            let config = CaConfig::from_toml(&text, &config_path)?;
            CONFIG_READ.set(Some(ConfigRead {
                seen,
                config: config.clone(),
            }));
            config
        }
        Err(_) => CaConfig::default(),
    };
    Ok((config, config_path))
}

thread_local! {
    /// The ca.toml read last. One `issue` asks for it five times (is the
    /// key in a token, which issuer, the signer, its policy, ...): strace
    /// showed five opens, reads and TOML parses of the same file.
    static CONFIG_READ: std::cell::RefCell<Option<ConfigRead>> =
        const { std::cell::RefCell::new(None) };
}

struct ConfigRead {
    seen: Seen,
    config: CaConfig,
}

impl ConfigRead {
    /// The settings, if the file is still the one they were read from.
    fn get(&self, seen: &Seen) -> Option<CaConfig> {
        (self.seen == *seen).then(|| self.config.clone())
    }
}

/// What identifies one version of a file: a rewrite (minica renames a new
/// file into place: a new inode) or an edit in place (size, times) changes it.
#[derive(PartialEq, Eq)]
struct Seen {
    path: PathBuf,
    len: u64,
    modified: Option<std::time::SystemTime>,
    /// Device, inode and change time, where the platform has them.
    #[cfg(unix)]
    id: (u64, u64, i64, i64),
}

impl Seen {
    fn of(path: &Path, m: &fs::Metadata) -> Seen {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Seen {
            path: path.to_path_buf(),
            len: m.len(),
            modified: m.modified().ok(),
            #[cfg(unix)]
            id: (m.dev(), m.ino(), m.ctime(), m.ctime_nsec()),
        }
    }
}

/// Assembles a signer from its certificate and key, under `root`, with
/// the CA's settings (`read_config`'s, or those a new CA was just written
/// with: reading them back cost a new CA 0.1 ms, perf).
fn signer(
    dir: &Path,
    (config, config_path): (CaConfig, PathBuf),
    cert: CertInfo,
    key: CaKey,
    name: Option<String>,
    root: Option<CertInfo>,
) -> Result<Ca> {
    // A URI constraint in a certificate holds the host only; the scheme
    // the CA was limited to is in ca.toml.
    let mut cert = cert;
    cert.constraints = cert.constraints.with_schemes(&config.ca.permit);
    let root = root.map(|mut r| {
        r.constraints = r.constraints.with_schemes(&config.ca.permit);
        r
    });
    let issuer = Issuer::from_ca_cert_der(&cert.der, key).map_err(|_| {
        Error::bad_file(
            &dir.join(CERT_FILE),
            "the CA certificate's subject cannot be read",
        )
    })?;
    let cert_pem = keys::pem_encode("CERTIFICATE", cert.der.to_vec());
    let (chain, root_der, parent_constraints) = match root {
        Some(r) => (vec![cert.der.clone()], r.der, vec![r.constraints]),
        None => (Vec::new(), cert.der.clone(), Vec::new()),
    };
    let root_pem = keys::pem_encode("CERTIFICATE", root_der.to_vec());
    Ok(Ca {
        spki: cert.spki,
        dir: dir.to_path_buf(),
        config,
        config_path,
        cert_der: cert.der,
        cert_pem,
        issuer,
        subject: cert.subject,
        not_before: cert.not_before,
        not_after: cert.not_after,
        constraints: cert.constraints,
        name,
        chain,
        root_der,
        root_pem,
        parent_constraints,
        path_len: cert.path_len,
    })
}

/// Reads the root's files, checking that its key matches its certificate.
fn load_files(dir: &Path, unlock: &Unlock) -> Result<Ca> {
    let cert_path = dir.join(CERT_FILE);
    let cert = read_ca_cert(&cert_path)?;
    let (config, config_path) = read_config(dir)?;
    let key = match config.pkcs11_uri()? {
        Some(uri) => {
            let key = open_token(&config, &uri, unlock, false)?.key(&uri)?;
            if key.subject_public_key_info() != cert.spki {
                return Err(Error::bad_file_fix(
                    &cert_path,
                    format!(
                        "the CA certificate is not that of the key {} in the token {} named in {}",
                        uri.text,
                        key.describe(),
                        config_path.display()
                    ),
                    "name the key this certificate belongs to in ca.toml, or make this CA again",
                ));
            }
            CaKey::Token(Box::new(key))
        }
        None => CaKey::File(read_ca_key(
            &dir.join(KEY_FILE),
            &cert_path,
            &cert.spki,
            unlock,
        )?),
    };
    signer(dir, (config, config_path), cert, key, None, None)
}

/// Reads the intermediate `name` (issuers/NAME/), checking that its key is
/// its certificate's and that the root signed it. The root's key is not
/// read: with an intermediate signing, the root can stay offline.
fn load_intermediate(dir: &Path, name: &str, unlock: &Unlock) -> Result<Ca> {
    let idir = issuer_dir(dir, name)?;
    let cert_path = idir.join(ISSUER_CERT);
    let cert = read_ca_cert(&cert_path)?;
    let root = read_ca_cert(&dir.join(CERT_FILE))?;
    {
        let (_, x) = X509Certificate::from_der(&cert.der)
            .map_err(|_| Error::bad_file(&cert_path, "the certificate is corrupt"))?;
        let (_, r) = X509Certificate::from_der(&root.der)
            .map_err(|_| Error::bad_file(&dir.join(CERT_FILE), "the certificate is corrupt"))?;
        if x.verify_signature(Some(r.public_key())).is_err() {
            return Err(Error::bad_file_fix(
                &cert_path,
                format!(
                    "was not signed by this CA's root {}",
                    dir.join(CERT_FILE).display()
                ),
                format!("make the intermediate again with `minica ca intermediate {name} --force`"),
            ));
        }
    }
    let key = read_ca_key(&idir.join(ISSUER_KEY), &cert_path, &cert.spki, unlock)?;
    signer(
        dir,
        read_config(dir)?,
        cert,
        CaKey::File(key),
        Some(name.to_string()),
        Some(root),
    )
}

/// A signer's certificates, without its key.
#[derive(Debug, Clone)]
pub struct SignerCerts {
    /// The intermediate; None: the root.
    pub name: Option<String>,
    pub cert: CertificateDer<'static>,
    pub root: CertificateDer<'static>,
}

/// The folder of intermediates in a CA directory.
pub const ISSUERS_DIR: &str = "issuers";
/// An intermediate's certificate and key, in issuers/NAME/.
pub const ISSUER_CERT: &str = "cert.pem";
pub const ISSUER_KEY: &str = "key.pem";

/// Checks an intermediate's name (it becomes a directory name).
pub fn check_issuer_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "invalid issuer name {name:?}: use up to 64 letters, digits, '-', '_' and '.'"
        )))
    }
}

/// issuers/NAME in `dir`, which must exist.
fn issuer_dir(dir: &Path, name: &str) -> Result<PathBuf> {
    check_issuer_name(name)?;
    let idir = dir.join(ISSUERS_DIR).join(name);
    if idir.join(ISSUER_CERT).symlink_metadata().is_err() {
        let known = issuer_names(dir);
        return Err(Error::usage(format!(
            "no intermediate named {name:?} in {}; {}",
            dir.display(),
            if known.is_empty() {
                "make one with `minica ca intermediate NAME`".to_string()
            } else {
                format!("there are: {}", known.join(", "))
            }
        )));
    }
    Ok(idir)
}

/// The intermediates of the CA in `dir`, sorted.
pub fn issuer_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir.join(ISSUERS_DIR))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().join(ISSUER_CERT).exists())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
