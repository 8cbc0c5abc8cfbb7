//! A throw-away certificate authority made at test time (rcgen): a CA certificate written to a
//! PEM file (for `extra_ca_file`) and a server config for `localhost` / `127.0.0.1` signed by it.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug)]
pub struct TestCa {
    /// The CA certificate as a PEM file.
    pub ca_file: PathBuf,
    /// A server config presenting a certificate for localhost and 127.0.0.1.
    pub server: Arc<ServerConfig>,
}

/// A CA and a server certificate for `localhost` and `127.0.0.1`.
pub fn test_ca() -> TestCa {
    test_ca_for(&["localhost", "127.0.0.1"])
}

/// A CA and a server certificate for the given names.
pub fn test_ca_for(names: &[&str]) -> TestCa {
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "orchids2api test CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca_params, ca_key);

    let srv_key = KeyPair::generate().expect("server key");
    let mut srv_params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).expect("server params");
    srv_params.distinguished_name.push(DnType::CommonName, names.first().copied().unwrap_or("test"));
    let srv_cert = srv_params.signed_by(&srv_key, &issuer).expect("server cert");

    let dir = super::temp_dir("ca");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).expect("write ca");

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(srv_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![srv_cert.der().clone()], key)
        .expect("server config");
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    TestCa { ca_file, server: Arc::new(server) }
}
