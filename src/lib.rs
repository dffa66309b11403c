//! minica: a local certificate authority and keystore/truststore manager.
//!
//! The library holds all the logic; the `minica` binary (src/main.rs and
//! src/cli/) only parses arguments, calls one function here, and prints.

pub mod aio;
pub mod apply;
pub mod ca;
pub mod cakey;
pub mod certs;
pub mod config;
pub mod constraints;
pub mod crl;
pub mod csr;
pub mod error;
pub mod export;
pub mod fetch;
pub mod fsx;
pub mod inspect;
pub mod issue;
pub mod issuers;
pub mod json;
pub mod keys;
pub mod manifest;
pub mod names;
pub mod password;
pub mod pkcs11;
pub mod platform;
pub mod policy;
pub mod profile;
pub mod progress;
pub mod record;
pub mod renew;
pub mod revoke;
pub mod rng;
pub mod rsa_keygen;
pub mod stores;
pub mod text;
pub mod trust;
pub mod txn;
pub mod verify;
pub mod weak_key;
pub mod x509;

pub use error::{Error, Result};
