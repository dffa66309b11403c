//! The root key in a PKCS#11 token (a smart card, an HSM, SoftHSM): made
//! inside the token, never leaving it, and used through rcgen's remote
//! signing interface (`SigningKey`), so that every command that signs with
//! the root (`ca intermediate`, `issue` when the root signs, `crl`) signs
//! through the token without knowing it.
//!
//! The key is named by an RFC 7512 URI (`pkcs11:token=minica;object=root`)
//! kept in ca.toml with the module (the token's shared library); the PIN
//! comes from `MINICA_PKCS11_PIN`, `--pkcs11-pin-file` or a prompt, and is
//! never stored.
//!
//! References: "PKCS #11 Cryptographic Token Interface Base Specification
//! Version 2.40" (below: v2.40 base) and "... Current Mechanisms
//! Specification Version 2.40" (v2.40 mechanisms); RFC 7512 for the URI.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType as CkKeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use rcgen::{PublicKeyData, SignatureAlgorithm, SigningKey};

use crate::error::{Error, Result};
use crate::keys::KeyType;
use crate::password::{Purpose, Source};

/// The variable read for the token's user PIN when no file is named.
pub const PIN_ENV: &str = "MINICA_PKCS11_PIN";

/// A key in a token, as an RFC 7512 URI names it. Only what minica needs
/// to find one token and one key is accepted; anything else is refused
/// rather than ignored, so a URI never selects another key than it seems to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyUri {
    /// The URI as given, for messages and ca.toml.
    pub text: String,
    /// Token attributes (RFC 7512 2.3: token, manufacturer, serial, model),
    /// matched against CK_TOKEN_INFO.
    pub token: Option<String>,
    pub manufacturer: Option<String>,
    pub serial: Option<String>,
    pub model: Option<String>,
    /// `slot-id` (RFC 7512 2.3, added for CK_SLOT_ID).
    pub slot_id: Option<u64>,
    /// The key's CKA_LABEL (`object`) and CKA_ID (`id`).
    pub object: Option<String>,
    pub id: Option<Vec<u8>>,
    /// `module-path` (RFC 7512 2.3 query attribute).
    pub module_path: Option<PathBuf>,
}

fn uri_error(uri: &str, why: impl std::fmt::Display) -> Error {
    Error::usage(format!(
        "invalid PKCS#11 URI {uri:?}: {why}; write it as pkcs11:token=LABEL;object=KEY (RFC 7512)"
    ))
}

/// RFC 7512 2.3 / RFC 3986 2.1: %XX escapes; everything else as is.
fn pct_decode(uri: &str, s: &str) -> Result<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| uri_error(uri, format!("bad %-escape in {s:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn pct_text(uri: &str, name: &str, s: &str) -> Result<String> {
    String::from_utf8(pct_decode(uri, s)?)
        .map_err(|_| uri_error(uri, format!("{name} is not UTF-8 text")))
}

impl KeyUri {
    pub fn parse(uri: &str) -> Result<KeyUri> {
        let rest = uri
            .strip_prefix("pkcs11:")
            .ok_or_else(|| uri_error(uri, "it does not start with \"pkcs11:\""))?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut k = KeyUri {
            text: uri.to_string(),
            ..KeyUri::default()
        };
        let mut seen: Vec<&str> = Vec::new();
        // RFC 7512 2.3: path attributes are separated by ';', and each may
        // appear at most once.
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| uri_error(uri, format!("{attr:?} is not name=value")))?;
            if seen.contains(&name) {
                return Err(uri_error(uri, format!("{name} is given twice")));
            }
            seen.push(name);
            match name {
                "token" => k.token = Some(pct_text(uri, name, value)?),
                "manufacturer" => k.manufacturer = Some(pct_text(uri, name, value)?),
                "serial" => k.serial = Some(pct_text(uri, name, value)?),
                "model" => k.model = Some(pct_text(uri, name, value)?),
                "object" => k.object = Some(pct_text(uri, name, value)?),
                "id" => k.id = Some(pct_decode(uri, value)?),
                "slot-id" => {
                    k.slot_id = Some(value.parse().map_err(|_| {
                        uri_error(uri, format!("slot-id {value:?} is not a number"))
                    })?)
                }
                // The key is a private key; a URI naming another type of
                // object cannot name it.
                "type" if value == "private" => {}
                "type" => {
                    return Err(uri_error(
                        uri,
                        format!(
                            "type={value} does not name a private key; use type=private or leave it out"
                        ),
                    ));
                }
                other => {
                    return Err(uri_error(
                        uri,
                        format!(
                            "minica does not use the attribute {other:?} (it knows token, manufacturer, serial, model, slot-id, object, id, type)"
                        ),
                    ));
                }
            }
        }
        // RFC 7512 2.3: query attributes are separated by '&'.
        for attr in query.into_iter().flat_map(|q| q.split('&')) {
            let (name, value) = attr.split_once('=').unwrap_or((attr, ""));
            match name {
                "module-path" => {
                    k.module_path = Some(PathBuf::from(pct_text(uri, name, value)?));
                }
                // A PIN in the URI would sit in ca.toml and in argv, where
                // others read it; minica takes PINs only as it takes other
                // secrets.
                // The URI is not repeated in this message: it holds the PIN.
                "pin-value" | "pin-source" => {
                    return Err(Error::usage(format!(
                        "the PKCS#11 URI holds {name}, which puts the PIN where others can read it (ca.toml, the command line); remove it and give the PIN in {PIN_ENV} or a --pkcs11-pin-file"
                    )));
                }
                other => {
                    return Err(uri_error(
                        uri,
                        format!(
                            "minica does not use the query attribute {other:?} (only module-path)"
                        ),
                    ));
                }
            }
        }
        if k.object.is_none() && k.id.is_none() {
            return Err(uri_error(
                uri,
                "it names no key: add object=LABEL (or id=%XX...)",
            ));
        }
        Ok(k)
    }

    /// How the key is named in messages.
    fn key_name(&self) -> String {
        match (&self.object, &self.id) {
            (Some(o), _) => format!("{o:?}"),
            (None, Some(id)) => format!("with id {}", crate::x509::hex(id)),
            (None, None) => "(unnamed)".into(),
        }
    }

    fn token_name(&self) -> String {
        match &self.token {
            Some(t) => format!("the token {t:?}"),
            None => "the token".into(),
        }
    }

    /// A template matching the key's label and id (v2.40 base 4.4, 4.7).
    fn template(&self, class: ObjectClass) -> Vec<Attribute> {
        let mut t = vec![Attribute::Class(class)];
        if let Some(o) = &self.object {
            t.push(Attribute::Label(o.as_bytes().to_vec()));
        }
        if let Some(id) = &self.id {
            t.push(Attribute::Id(id.clone()));
        }
        t
    }
}

/// The module to load: ca.toml's (or `--pkcs11-module`), else the URI's
/// module-path. It must be an absolute path: a bare name would make the
/// dynamic loader search, and another library of that name could answer.
pub fn module_for(configured: Option<&Path>, uri: &KeyUri) -> Result<PathBuf> {
    let m = configured
        .map(Path::to_path_buf)
        .or_else(|| uri.module_path.clone())
        .ok_or_else(|| {
            Error::usage(format!(
                "no PKCS#11 module for {}: pass --pkcs11-module FILE to `minica init` (e.g. /usr/lib/softhsm/libsofthsm2.so); it is kept in ca.toml",
                uri.text
            ))
        })?;
    if !m.is_absolute() {
        return Err(Error::usage(format!(
            "the PKCS#11 module {} is not an absolute path; give its full path",
            m.display()
        )));
    }
    Ok(m)
}

/// The curve or modulus of a token key, and how it signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    P256,
    P384,
    Rsa(u32),
}

/// DER of the named-curve OIDs, as CKA_EC_PARAMS holds them (v2.40
/// mechanisms 2.3.3: "DER-encoding of an ANSI X9.62 Parameters value").
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_PARAMS: [u8; 7] = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

impl Kind {
    fn from_key_type(k: KeyType) -> Result<Kind> {
        Ok(match k {
            KeyType::EcdsaP256 => Kind::P256,
            KeyType::EcdsaP384 => Kind::P384,
            KeyType::Rsa2048 => Kind::Rsa(2048),
            KeyType::Rsa3072 => Kind::Rsa(3072),
            KeyType::Rsa4096 => Kind::Rsa(4096),
            // CKM_EDDSA is PKCS#11 3.0 only and not in every token.
            KeyType::Ed25519 => {
                return Err(Error::usage(
                    "a root key in a PKCS#11 token can be ecdsa-p256, ecdsa-p384 or rsa-2048/3072/4096, not ed25519; pass --key-type",
                ));
            }
        })
    }

    fn key_type(self) -> Option<KeyType> {
        match self {
            Kind::P256 => Some(KeyType::EcdsaP256),
            Kind::P384 => Some(KeyType::EcdsaP384),
            Kind::Rsa(2048) => Some(KeyType::Rsa2048),
            Kind::Rsa(3072) => Some(KeyType::Rsa3072),
            Kind::Rsa(4096) => Some(KeyType::Rsa4096),
            Kind::Rsa(_) => None,
        }
    }

    fn describe(self) -> String {
        match (self, self.key_type()) {
            (_, Some(k)) => k.to_string(),
            (Kind::Rsa(b), None) => format!("rsa-{b}"),
            (Kind::P256 | Kind::P384, None) => "ecdsa".into(),
        }
    }

    fn algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            Kind::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Kind::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Kind::Rsa(_) => &rcgen::PKCS_RSA_SHA256,
        }
    }

    /// The byte length of r and s in a raw CKM_ECDSA signature.
    fn ec_len(self) -> usize {
        match self {
            Kind::P256 => 32,
            Kind::P384 => 48,
            Kind::Rsa(_) => 0,
        }
    }
}

/// A token, its module loaded and a user logged in: ready to find or make
/// the key. Logging in comes first so that a wrong PIN, a missing token or
/// module is found before anything is written or made.
pub struct Token {
    ctx: Pkcs11,
    session: Session,
    label: String,
    module: PathBuf,
}

fn module_error(module: &Path, problem: impl std::fmt::Display) -> Error {
    Error::bad_file_fix(
        module,
        problem,
        "give the PKCS#11 module of your token (--pkcs11-module at `minica init`, or pkcs11_module in ca.toml); SoftHSM's is /usr/lib/softhsm/libsofthsm2.so (Debian package softhsm2)",
    )
}

/// Loading a module runs its code with minica's rights (often root's): one
/// that another user could have replaced is refused, as a CA directory
/// others can write is.
fn check_module_owner(module: &Path, m: &std::fs::Metadata) -> Result<()> {
    // Windows has no Unix owners or modes: its ACLs are not checked here.
    let (Some(me), Some((uid, mode))) =
        (crate::platform::euid(), crate::platform::owner_and_mode(m))
    else {
        return Ok(());
    };
    if uid != 0 && uid != me {
        return Err(Error::bad_file_fix(
            module,
            format!(
                "the PKCS#11 module is owned by user {uid}, who could change the code minica would run"
            ),
            "use a module installed by root or by you",
        ));
    }
    if mode & 0o022 != 0 {
        return Err(Error::bad_file_fix(
            module,
            format!(
                "the PKCS#11 module is writable by others (mode {:o}), who could change the code minica would run",
                mode & 0o777
            ),
            format!("run `chmod go-w {}`", module.display()),
        ));
    }
    Ok(())
}

/// A PKCS#11 failure as a sentence; never the PIN (no call here sees it
/// but C_Login, whose error carries only the return value).
fn ck(what: &str, token: &str, e: CkError) -> Error {
    let why = match &e {
        // The return value's name (CKR_DEVICE_ERROR -> DeviceError), not
        // cryptoki's paragraph-long description of it.
        CkError::Pkcs11(rv, f) => format!("C_{f:?} returned {rv:?}"),
        other => other.to_string(),
    };
    Error::Crypto(format!(
        "the PKCS#11 token {token:?} failed to {what}: {why}"
    ))
}

impl Token {
    /// Loads `module`, finds the one token the URI names, opens a session
    /// (read-write when `rw`: v2.40 base, C_OpenSession and C_GenerateKeyPair:
    /// a read-only session cannot create token objects) and logs the user in
    /// with the PIN from `pin`.
    pub fn open(module: &Path, uri: &KeyUri, pin: &Source, rw: bool) -> Result<Token> {
        match std::fs::metadata(module) {
            Ok(m) if m.is_file() => check_module_owner(module, &m)?,
            Ok(_) => return Err(module_error(module, "is not a file")),
            Err(_) => return Err(module_error(module, "no such PKCS#11 module")),
        }
        let ctx = Pkcs11::new(module).map_err(|e| {
            module_error(
                module,
                format!("cannot be loaded as a PKCS#11 module ({})", load_reason(&e)),
            )
        })?;
        // v2.40 base 5.4 (C_Initialize): CKF_OS_LOCKING_OK lets the module
        // use OS locks, since `batch` signs from several threads (each
        // call still goes through one session, behind a mutex).
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => {
                return Err(module_error(
                    module,
                    format!("the PKCS#11 module failed to start (C_Initialize: {e})"),
                ));
            }
        }
        let slots = ctx
            .get_slots_with_token()
            .map_err(|e| module_error(module, format!("cannot list its tokens: {e}")))?;
        let mut labels = Vec::new();
        let mut found = Vec::new();
        for slot in slots {
            let Ok(info) = ctx.get_token_info(slot) else {
                continue;
            };
            let label = info.label().trim_end().to_string();
            let matches = uri.token.as_deref().is_none_or(|t| t == label)
                && uri
                    .manufacturer
                    .as_deref()
                    .is_none_or(|m| m == info.manufacturer_id().trim_end())
                && uri
                    .serial
                    .as_deref()
                    .is_none_or(|s| s == info.serial_number().trim_end())
                && uri
                    .model
                    .as_deref()
                    .is_none_or(|m| m == info.model().trim_end())
                && uri.slot_id.is_none_or(|id| id == slot.id());
            if matches && info.token_initialized() {
                found.push((slot, info, label.clone()));
            }
            labels.push(format!("{label:?}"));
        }
        let (slot, info, label) = match found.len() {
            1 => found.remove(0),
            0 => {
                return Err(Error::usage(format!(
                    "no token matching {} in the PKCS#11 module {} ({}); insert or initialize it, or correct the URI",
                    uri.text,
                    module.display(),
                    if labels.is_empty() {
                        "it has no tokens".to_string()
                    } else {
                        format!("its tokens: {}", labels.join(", "))
                    }
                )));
            }
            n => {
                return Err(Error::usage(format!(
                    "{n} tokens match {} in {}; name one with token=, serial= or slot-id=",
                    uri.text,
                    module.display()
                )));
            }
        };
        let session = if rw {
            ctx.open_rw_session(slot)
        } else {
            ctx.open_ro_session(slot)
        }
        .map_err(|e| ck("open a session", &label, e))?;
        login(&session, &info, &label, pin)?;
        Ok(Token {
            ctx,
            session,
            label,
            module: module.to_path_buf(),
        })
    }

    /// Finds the private key the URI names: None when there is none, an
    /// error when more than one match (which one signs must not be a guess).
    fn find_private(&self, uri: &KeyUri) -> Result<Option<ObjectHandle>> {
        let found = self
            .session
            .find_objects(&uri.template(ObjectClass::PRIVATE_KEY))
            .map_err(|e| ck("search for keys", &self.label, e))?;
        match found.len() {
            0 => Ok(None),
            1 => Ok(Some(found[0])),
            n => Err(Error::usage(format!(
                "{n} private keys in {} match {}; name one by id= as well",
                uri.token_name(),
                uri.text
            ))),
        }
    }

    /// The key the URI names, which must exist (every command but `init`).
    pub fn key(self, uri: &KeyUri) -> Result<TokenKey> {
        let handle = self.find_private(uri)?.ok_or_else(|| {
            Error::usage(format!(
                "{} holds no private key {} ({}); was the key deleted, or is this another token?",
                uri.token_name(),
                uri.key_name(),
                uri.text
            ))
        })?;
        self.into_key(uri, handle).map(|(k, _)| k)
    }

    /// `init`: the key the URI names if the token holds it (it must be of
    /// `key_type`), else a new one made inside the token. The bool says
    /// whether it was made; the strings are warnings.
    pub fn key_or_generate(
        self,
        uri: &KeyUri,
        key_type: KeyType,
    ) -> Result<(TokenKey, bool, Vec<String>)> {
        let wanted = Kind::from_key_type(key_type)?;
        if let Some(h) = self.find_private(uri)? {
            let (key, warnings) = self.into_key(uri, h)?;
            check_kind(uri, key.kind, wanted)?;
            return Ok((key, false, warnings));
        }
        let h = self.generate(uri, wanted)?;
        let (key, warnings) = self.into_key(uri, h)?;
        Ok((key, true, warnings))
    }

    /// Makes a key pair inside the token (C_GenerateKeyPair, v2.40 base
    /// 5.14) whose private half can sign and nothing else, and never
    /// leaves the token.
    fn generate(&self, uri: &KeyUri, kind: Kind) -> Result<ObjectHandle> {
        let mut common = Vec::new();
        if let Some(o) = &uri.object {
            common.push(Attribute::Label(o.as_bytes().to_vec()));
        }
        // v2.40 base 4.7: CKA_ID tells key pairs apart and ties the two
        // halves together (tools like pkcs11-tool and p11-kit pair them by
        // it), so a pair made without one in the URI gets a random one.
        let id = match &uri.id {
            Some(id) => id.clone(),
            None => {
                let mut id = vec![0u8; 16];
                crate::rng::fill(&mut id)?;
                id
            }
        };
        common.push(Attribute::Id(id));
        // v2.40 base 4.4: CKA_TOKEN true makes the key outlive the session.
        // The public half verifies only: it has nothing to encrypt or wrap.
        let mut public = vec![
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::Encrypt(false),
            Attribute::Wrap(false),
        ];
        public.extend(common.clone());
        let mut private = vec![
            Attribute::Token(true),
            // v2.40 base 4.4: only a logged-in user can see or use it.
            Attribute::Private(true),
            // v2.40 base 4.9: CKA_SENSITIVE true and CKA_EXTRACTABLE false
            // mean the key's value can never be read out, not even
            // wrapped; both can only ever be tightened afterwards.
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
        ];
        private.extend(common);
        let mechanism = match kind {
            Kind::P256 | Kind::P384 => {
                public.push(Attribute::EcParams(if kind == Kind::P256 {
                    P256_PARAMS.to_vec()
                } else {
                    P384_PARAMS.to_vec()
                }));
                // v2.40 mechanisms 2.3.5
                Mechanism::EccKeyPairGen
            }
            Kind::Rsa(bits) => {
                public.push(Attribute::ModulusBits(
                    std::os::raw::c_ulong::from(bits).into(),
                ));
                // F4 = 65537, the exponent every verifier takes.
                public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
                // v2.40 mechanisms 2.1.4
                Mechanism::RsaPkcsKeyPairGen
            }
        };
        let (_, private) = self
            .session
            .generate_key_pair(&mechanism, &public, &private)
            .map_err(|e| ck(&format!("make an {} key", kind.describe()), &self.label, e))?;
        Ok(private)
    }

    /// `init`, before anything is written: refuses a key the token already
    /// holds under the URI's name that minica could not use as asked (of
    /// another type, unable to sign), so that the refusal changes nothing.
    pub fn check_existing(&self, uri: &KeyUri, key_type: KeyType) -> Result<()> {
        let wanted = Kind::from_key_type(key_type)?;
        if let Some(h) = self.find_private(uri)? {
            let (kind, _, _) = self.inspect(uri, h)?;
            check_kind(uri, kind, wanted)?;
        }
        Ok(())
    }

    fn into_key(self, uri: &KeyUri, h: ObjectHandle) -> Result<(TokenKey, Vec<String>)> {
        let (kind, public, warnings) = self.inspect(uri, h)?;
        Ok((
            TokenKey {
                kind,
                public,
                handle: h,
                label: self.label.clone(),
                module: self.module.clone(),
                session: Mutex::new(Some(self.session)),
                ctx: Some(self.ctx),
                failure: Mutex::new(None),
            },
            warnings,
        ))
    }

    /// Reads what minica needs of the private key `h`: its type and public
    /// key; checks it can sign, and warns when its value could leave.
    fn inspect(&self, uri: &KeyUri, h: ObjectHandle) -> Result<(Kind, Vec<u8>, Vec<String>)> {
        let attrs = self
            .session
            .get_attributes(
                h,
                &[
                    AttributeType::KeyType,
                    AttributeType::Sign,
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::EcParams,
                    AttributeType::Modulus,
                    AttributeType::PublicExponent,
                    AttributeType::Id,
                    AttributeType::AlwaysAuthenticate,
                ],
            )
            .map_err(|e| ck("read the key's attributes", &self.label, e))?;
        let (mut key_type, mut sign, mut sensitive, mut extractable) = (None, false, false, true);
        let (mut params, mut modulus, mut exponent, mut id) = (None, None, None, None);
        let mut always_authenticate = false;
        for a in attrs {
            match a {
                Attribute::AlwaysAuthenticate(b) => always_authenticate = b,
                Attribute::KeyType(t) => key_type = Some(t),
                Attribute::Sign(b) => sign = b,
                Attribute::Sensitive(b) => sensitive = b,
                Attribute::Extractable(b) => extractable = b,
                Attribute::EcParams(p) => params = Some(p),
                Attribute::Modulus(m) => modulus = Some(m),
                Attribute::PublicExponent(e) => exponent = Some(e),
                Attribute::Id(i) => id = Some(i),
                _ => {}
            }
        }
        let unsupported = |what: &str| {
            Error::usage(format!(
                "the key {} in {} is {what}; minica signs with ECDSA P-256, P-384 or RSA keys",
                uri.key_name(),
                uri.token_name()
            ))
        };
        let (kind, public) = match key_type {
            Some(t) if t == CkKeyType::EC => {
                let kind = match params.as_deref() {
                    Some(p) if p == P256_PARAMS => Kind::P256,
                    Some(p) if p == P384_PARAMS => Kind::P384,
                    _ => return Err(unsupported("an EC key on another curve")),
                };
                let point = self.ec_point(uri, h, id.as_deref(), kind)?;
                (kind, point)
            }
            Some(t) if t == CkKeyType::RSA => {
                let (Some(n), Some(e)) = (modulus, exponent) else {
                    return Err(ck(
                        "show the RSA key's public half",
                        &self.label,
                        CkError::NotSupported,
                    ));
                };
                let n = strip_zeros(&n);
                let bits = u32::try_from(n.len() * 8).unwrap_or(u32::MAX)
                    - n.first().map_or(0, |b| b.leading_zeros());
                (Kind::Rsa(bits), rsa_public_key_der(n, strip_zeros(&e)))
            }
            _ => return Err(unsupported("neither an EC nor an RSA key")),
        };
        if kind.key_type().is_none() {
            return Err(unsupported(&format!(
                "an RSA key of {} bits",
                match kind {
                    Kind::Rsa(b) => b,
                    _ => 0,
                }
            )));
        }
        if !sign {
            return Err(Error::usage(format!(
                "the key {} in {} may not sign (CKA_SIGN is false); make a signing key",
                uri.key_name(),
                uri.token_name()
            )));
        }
        // v2.40 base 4.9: such a key wants C_Login(CKU_CONTEXT_SPECIFIC)
        // between C_SignInit and every C_Sign; said plainly here rather
        // than failing at the first signature.
        if always_authenticate {
            return Err(Error::usage(format!(
                "the key {} in {} asks for the PIN again before every signature (CKA_ALWAYS_AUTHENTICATE), which minica does not do; use a key without it",
                uri.key_name(),
                uri.token_name()
            )));
        }
        let mut warnings = Vec::new();
        if !sensitive || extractable {
            warnings.push(format!(
                "the key {} in {} can be read out of the token (CKA_SENSITIVE {sensitive}, CKA_EXTRACTABLE {extractable}); a key made by minica cannot",
                uri.key_name(),
                uri.token_name()
            ));
        }
        Ok((kind, public, warnings))
    }

    /// The EC point of the key `h`: from its public key object (same
    /// CKA_ID, else the same label: v2.40 base 4.7 has the halves of a pair
    /// share CKA_ID), else from CKA_PUBLIC_KEY_INFO on the private key
    /// (v2.40 base 4.9).
    fn ec_point(
        &self,
        uri: &KeyUri,
        h: ObjectHandle,
        id: Option<&[u8]>,
        kind: Kind,
    ) -> Result<Vec<u8>> {
        let mut template = uri.template(ObjectClass::PUBLIC_KEY);
        if uri.id.is_none()
            && let Some(id) = id.filter(|i| !i.is_empty())
        {
            template.push(Attribute::Id(id.to_vec()));
        }
        let publics = self
            .session
            .find_objects(&template)
            .map_err(|e| ck("search for keys", &self.label, e))?;
        let want = 1 + 2 * kind.ec_len();
        for p in publics {
            let attrs = self
                .session
                .get_attributes(p, &[AttributeType::EcPoint])
                .map_err(|e| ck("read a public key", &self.label, e))?;
            for a in attrs {
                if let Attribute::EcPoint(q) = a
                    && let Some(point) = ec_point_from(&q, want)
                {
                    return Ok(point);
                }
            }
        }
        let info = self
            .session
            .get_attributes(h, &[AttributeType::PublicKeyInfo])
            .unwrap_or_default();
        for a in info {
            if let Attribute::PublicKeyInfo(spki) = a
                && let Ok(s) = rcgen::SubjectPublicKeyInfo::from_der(&spki)
                && s.der_bytes().len() == want
            {
                return Ok(s.der_bytes().to_vec());
            }
        }
        Err(Error::usage(format!(
            "cannot find the public half of the key {} in {}: no public key object with its id or label, and no CKA_PUBLIC_KEY_INFO",
            uri.key_name(),
            uri.token_name()
        )))
    }
}

/// Refuses a key of another type than asked for: using it silently would
/// leave ca.toml describing a key the CA does not have.
fn check_kind(uri: &KeyUri, have: Kind, wanted: Kind) -> Result<()> {
    if have == wanted {
        return Ok(());
    }
    Err(Error::usage(format!(
        "{} already holds the key {}, an {} key, not the {} asked for; pass --key-type {} to use it, or name another object",
        uri.token_name(),
        uri.key_name(),
        have.describe(),
        wanted.describe(),
        have.describe()
    )))
}

/// Why a module would not load, without libloading's long prefix.
fn load_reason(e: &CkError) -> String {
    match e {
        CkError::LibraryLoading(l) => {
            let s = l.to_string();
            // "... : /path: invalid ELF header" -> the reason after the path
            s.rsplit(": ").next().unwrap_or(&s).to_string()
        }
        other => other.to_string(),
    }
}

/// C_Login as the user (v2.40 base 5.6). A token with a PIN pad
/// (CKF_PROTECTED_AUTHENTICATION_PATH) takes the PIN there, so none is asked.
fn login(
    session: &Session,
    info: &cryptoki::slot::TokenInfo,
    label: &str,
    pin: &Source,
) -> Result<()> {
    if !info.user_pin_initialized() {
        return Err(Error::usage(format!(
            "the token {label:?} has no user PIN yet; set one (softhsm2-util --init-token, or pkcs11-tool --init-pin)"
        )));
    }
    if info.user_pin_locked() {
        return Err(locked(label));
    }
    let result = if info.protected_authentication_path() {
        session.login(UserType::User, None)
    } else {
        let what = format!("PIN of the token {label:?}");
        let secret = pin.get(&Purpose {
            what: &what,
            default_env: PIN_ENV,
            confirm: false,
        })?;
        let auth = AuthPin::from(secret.as_str());
        session.login(UserType::User, Some(&auth))
    };
    match result {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(CkError::Pkcs11(
            RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange,
            _,
        )) => Err(Error::usage(format!(
            "wrong PIN for the token {label:?}; give its user PIN in {PIN_ENV} or a --pkcs11-pin-file (several wrong tries lock the token)"
        ))),
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(locked(label)),
        Err(e) => Err(ck("log in", label, e)),
    }
}

fn locked(label: &str) -> Error {
    Error::usage(format!(
        "the user PIN of the token {label:?} is locked after too many wrong tries; unlock it with the security officer's PIN (pkcs11-tool --login --login-type so --init-pin)"
    ))
}

/// CKA_EC_POINT is the DER OCTET STRING holding the X9.62 point (v2.40
/// mechanisms 2.3.3); some tokens give the bare point. Either way, the
/// uncompressed point of `want` bytes.
fn ec_point_from(q: &[u8], want: usize) -> Option<Vec<u8>> {
    if q.len() == want && q[0] == 0x04 {
        return Some(q.to_vec());
    }
    // OCTET STRING, short-form length (want < 128 for P-256 and P-384).
    if q.len() == want + 2 && q[0] == 0x04 && usize::from(q[1]) == want && q[2] == 0x04 {
        return Some(q[2..].to_vec());
    }
    None
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[i..]
}

/// A DER length (X.690 8.1.3).
fn der_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// A DER INTEGER of the unsigned big-endian `v` (X.690 8.3): minimal, with
/// a 0x00 in front when the top bit is set, so it stays positive.
fn der_uint(out: &mut Vec<u8>, v: &[u8]) {
    let v = strip_zeros(v);
    let pad = v.first().is_none_or(|b| b & 0x80 != 0);
    out.push(0x02);
    der_len(out, v.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(v);
}

fn der_sequence(body: Vec<u8>) -> Vec<u8> {
    let mut out = vec![0x30];
    der_len(&mut out, body.len());
    out.extend(body);
    out
}

/// RFC 8017 A.1.1 RSAPublicKey: what an rsaEncryption SPKI holds.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    der_uint(&mut body, n);
    der_uint(&mut body, e);
    der_sequence(body)
}

/// RFC 3279 2.2.3: an ECDSA signature in X.509 is the DER
/// ECDSA-Sig-Value SEQUENCE { r INTEGER, s INTEGER }; CKM_ECDSA returns
/// r and s concatenated, "both represented as an octet string of equal
/// length of at most nLen" (v2.40 mechanisms 2.3.1), `n` bytes for the curve.
fn ecdsa_sig_value(raw: &[u8], n: usize) -> Option<Vec<u8>> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) || raw.len() > 2 * n {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut body = Vec::new();
    der_uint(&mut body, r);
    der_uint(&mut body, s);
    Some(der_sequence(body))
}

/// A private key in a token, logged in and ready to sign.
pub struct TokenKey {
    kind: Kind,
    /// The public key as rcgen's `der_bytes` wants it: the uncompressed EC
    /// point, or the RSAPublicKey DER.
    public: Vec<u8>,
    handle: ObjectHandle,
    label: String,
    module: PathBuf,
    /// One session, one caller at a time: a session holds one active
    /// operation (C_SignInit .. C_Sign), so two threads signing at once
    /// through it would interleave (cryptoki's Session is Send, not Sync,
    /// for this reason); `batch` signs from several threads.
    session: Mutex<Option<Session>>,
    ctx: Option<Pkcs11>,
    /// Why the last signature failed: rcgen's error cannot carry it.
    failure: Mutex<Option<String>>,
}

impl TokenKey {
    /// The token's label and module, for messages.
    pub fn describe(&self) -> String {
        format!("{:?} (module {})", self.label, self.module.display())
    }

    /// Why the last signature failed, as a sentence naming the token.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn sign_inner(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, CkError> {
        let guard = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let session = guard.as_ref().ok_or(CkError::NotSupported)?;
        match self.kind {
            Kind::P256 | Kind::P384 => {
                // CKM_ECDSA signs a digest the caller made (v2.40 mechanisms
                // 2.3.6, "ECDSA without hashing"); hashing here works with
                // every EC token, where CKM_ECDSA_SHA256/384 (2.3.7) are
                // not everywhere.
                let alg = if self.kind == Kind::P256 {
                    &aws_lc_rs::digest::SHA256
                } else {
                    &aws_lc_rs::digest::SHA384
                };
                let digest = aws_lc_rs::digest::digest(alg, msg);
                let raw = session.sign(&Mechanism::Ecdsa, self.handle, digest.as_ref())?;
                ecdsa_sig_value(&raw, self.kind.ec_len()).ok_or(CkError::InvalidValue)
            }
            // CKM_SHA256_RSA_PKCS: PKCS #1 v1.5 over SHA-256, hashed by the
            // token (v2.40 mechanisms, "PKCS #1 v1.5 RSA signature with
            // SHA-224, SHA-256, ..."), as sha256WithRSAEncryption (RFC 4055
            // section 5) wants.
            Kind::Rsa(_) => session.sign(&Mechanism::Sha256RsaPkcs, self.handle, msg),
        }
    }
}

impl PublicKeyData for TokenKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.kind.algorithm()
    }
}

impl SigningKey for TokenKey {
    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        // rcgen's error has no room for the token's reason: it is kept for
        // `Ca::signing_failed` to report.
        self.sign_inner(msg).map_err(|e| {
            let why = ck("sign", &self.label, e).to_string();
            *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
            rcgen::Error::RemoteKeyError
        })
    }
}

impl Drop for TokenKey {
    fn drop(&mut self) {
        // Close the session (which logs out), then C_Finalize (v2.40 base
        // 5.4: the last call an application makes to a module).
        drop(
            self.session
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        if let Some(ctx) = self.ctx.take() {
            let _ = ctx.finalize();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_and_refuse() {
        let k = KeyUri::parse(
            "pkcs11:token=min%20ica;object=root;id=%01%ff;type=private?module-path=/usr/lib/x.so",
        )
        .unwrap();
        assert_eq!(k.token.as_deref(), Some("min ica"));
        assert_eq!(k.object.as_deref(), Some("root"));
        assert_eq!(k.id.as_deref(), Some(&[1u8, 0xff][..]));
        assert_eq!(k.module_path.as_deref(), Some(Path::new("/usr/lib/x.so")));
        for (bad, why) in [
            ("token=minica;object=root", "does not start"),
            ("pkcs11:token=minica", "names no key"),
            ("pkcs11:token=a;token=b;object=k", "twice"),
            ("pkcs11:token=a;object=k?pin-value=1234", "PIN"),
            ("pkcs11:token=a;object=k;type=cert", "type=cert"),
            ("pkcs11:token=a;object=%zz", "%-escape"),
            ("pkcs11:token=a;object=k;colour=red", "colour"),
        ] {
            let e = KeyUri::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
            assert!(!e.contains("1234"), "a PIN in an error: {e}");
        }
    }

    #[test]
    fn der_helpers() {
        // r with its top bit set gets a 0x00; s with leading zeros loses them.
        let mut raw = vec![0x80; 32];
        raw.extend(std::iter::repeat_n(0, 31));
        raw.push(5);
        let sig = ecdsa_sig_value(&raw, 32).unwrap();
        assert_eq!(&sig[..5], &[0x30, 0x26, 0x02, 0x21, 0x00]);
        assert_eq!(&sig[sig.len() - 3..], &[0x02, 0x01, 0x05]);
        assert!(ecdsa_sig_value(&raw[1..], 32).is_none());
        assert!(ecdsa_sig_value(&[], 32).is_none());
        assert!(ecdsa_sig_value(&[1; 66], 32).is_none());
        // Shorter halves (v2.40 mechanisms 2.3.1 allows them) still split evenly.
        assert_eq!(
            ecdsa_sig_value(&[1, 2], 32).unwrap(),
            [0x30, 6, 2, 1, 1, 2, 1, 2]
        );
        // A 2048-bit modulus needs a long-form length.
        let der = rsa_public_key_der(&[0xc0; 256], &[1, 0, 1]);
        assert_eq!(&der[..4], &[0x30, 0x82, 0x01, 0x0a]);
        assert_eq!(&der[der.len() - 5..], &[0x02, 0x03, 1, 0, 1]);
        let point = [4u8; 65];
        let mut wrapped = vec![0x04, 65];
        wrapped.extend(point);
        assert_eq!(ec_point_from(&wrapped, 65).unwrap(), point);
        assert_eq!(ec_point_from(&point, 65).unwrap(), point);
        assert!(ec_point_from(&point[1..], 65).is_none());
    }
}
