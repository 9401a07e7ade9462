//! Which certificate authorities Hearth trusts: the system's store, plus any
//! CA files the user gave (a company that inspects HTTPS signs every site
//! with its own CA).
//!
//! The system store is what the platform says (`/etc/ssl/certs` and friends
//! on Linux, honouring `SSL_CERT_FILE` / `SSL_CERT_DIR` as OpenSSL does; the
//! Keychain on macOS; the certificate store on Windows), read once per
//! process. Only where it holds no usable certificate at all (a bare
//! container) do the Mozilla roots bundled into the binary stand in, and the
//! log says so.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// A CA file larger than this is not a CA file.
const CA_FILE_LIMIT: u64 = 16 << 20;

/// A CA file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read the CA file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the CA file {} is larger than 16 MiB; it is not a certificate file", path.display())]
    TooLarge { path: PathBuf },
    #[error(
        "the CA file {} holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)",
        path.display()
    )]
    Empty { path: PathBuf },
    #[error("the CA file {} is not valid PEM: {reason}", path.display())]
    BadPem { path: PathBuf, reason: String },
    #[error("certificate {index} in the CA file {} is not a usable CA certificate: {reason}", path.display())]
    BadCertificate {
        path: PathBuf,
        /// 1-based.
        index: usize,
        reason: String,
    },
}

/// The certificates of one CA file, each checked to be a usable trust anchor.
pub(crate) fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let read = |source| TrustError::Read {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read)?.len();
    if size > CA_FILE_LIMIT {
        return Err(TrustError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let bytes = std::fs::read(path).map_err(read)?;
    let looks_pem = bytes
        .windows(b"-----BEGIN".len())
        .any(|w| w == b"-----BEGIN");
    let certs: Vec<CertificateDer<'static>> = if looks_pem {
        CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<_, _>>()
            .map_err(|e| TrustError::BadPem {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?
    } else if bytes.first() == Some(&0x30) {
        // One DER certificate (a `.cer` / `.der` file): an ASN.1 SEQUENCE.
        vec![CertificateDer::from(bytes)]
    } else {
        Vec::new()
    };
    if certs.is_empty() {
        return Err(TrustError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut check = RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        check
            .add(cert.clone())
            .map_err(|e| TrustError::BadCertificate {
                path: path.to_path_buf(),
                index: i + 1,
                reason: e.to_string(),
            })?;
    }
    Ok(certs)
}

/// The system's trusted roots, filtered to those rustls accepts.
pub(crate) struct SystemRoots {
    pub(crate) certs: Vec<CertificateDer<'static>>,
}

/// Read once per process: every client shares them.
pub(crate) fn system_roots() -> &'static SystemRoots {
    static ROOTS: OnceLock<SystemRoots> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::debug!(%error, "part of the system certificate store is unreadable");
        }
        let mut check = RootCertStore::empty();
        let mut skipped = 0usize;
        let certs: Vec<_> = found
            .certs
            .into_iter()
            // Stores often hold ancient certificates rustls cannot parse;
            // one bad entry must not cost the others.
            .filter(|cert| match check.add(cert.clone()) {
                Ok(()) => true,
                Err(_) => {
                    skipped += 1;
                    false
                }
            })
            .collect();
        if certs.is_empty() {
            tracing::warn!(
                "no usable certificate in the system store; trusting the Mozilla roots built into Hearth"
            );
        } else {
            tracing::debug!(
                trusted = certs.len(),
                skipped,
                "system certificate store read"
            );
        }
        SystemRoots { certs }
    })
}
