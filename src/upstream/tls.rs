//! The one rustls `ClientConfig` of the process, built at start and shared by every core.
//!
//! Trust: the webpki (Mozilla) roots, plus every certificate in `extra_ca_file` (PEM) when the
//! config names one — that is how tests trust their throw-away CA and how operators behind a
//! TLS-inspecting proxy trust its CA. ALPN offers only `http/1.1`. TLS 1.2 and 1.3 on the ring
//! provider. Nothing here imitates any other client's fingerprint.

use rustls::ClientConfig;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::Path;
use std::sync::Arc;

/// Builds the shared client config. `Err` names the file and what was wrong with it.
pub fn client_config(extra_ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = extra_ca_file {
        for cert in read_pem_certs(path)? {
            roots.add(cert).map_err(|e| format!("extra_ca_file {}: certificate rejected: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Every certificate in a PEM file; at least one is required.
pub fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = std::fs::read(path).map_err(|e| format!("extra_ca_file {}: cannot read: {e}", path.display()))?;
    let mut out = Vec::new();
    for item in CertificateDer::pem_slice_iter(&text) {
        out.push(item.map_err(|e| format!("extra_ca_file {}: invalid PEM: {e}", path.display()))?);
    }
    if out.is_empty() {
        return Err(format!("extra_ca_file {}: no CERTIFICATE block found", path.display()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_offers_http11_only() {
        let cfg = client_config(None).unwrap();
        assert_eq!(cfg.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn bad_ca_files_are_named() {
        let dir = std::env::temp_dir().join(format!("o2a-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "nothing here").unwrap();
        let e = client_config(Some(&empty)).unwrap_err();
        assert!(e.contains("empty.pem") && e.contains("no CERTIFICATE"), "{e}");
        let e = client_config(Some(&dir.join("missing.pem"))).unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
