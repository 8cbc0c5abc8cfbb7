//! `redis_tls`: the store against a throwaway `redis-server --tls-port` with a test CA (rcgen):
//! records, pipelined batches with large replies and pub/sub propagation over TLS; an untrusted
//! certificate refuses to start.
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test code: failures should be loud")]

pub mod support;

use orchids2api::store::{RedisSettings, Store, StoreApi, StoreError, StoreEvent, StoreHub, StoreSettings};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::store::{free_port, run, temp_dir, wait_until};

struct TlsRedis {
    child: Child,
    port: u16,
    ca: PathBuf,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA, a server certificate for 127.0.0.1 signed by it, and redis-server serving TLS only.
fn tls_redis(dir: &Path) -> TlsRedis {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "orchids2api redis test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let srv_key = KeyPair::generate().unwrap();
    let mut srv_params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    srv_params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    let srv_cert = srv_params.signed_by(&srv_key, &issuer).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, ca_cert.pem()).unwrap();
    std::fs::write(dir.join("srv.pem"), srv_cert.pem()).unwrap();
    std::fs::write(dir.join("srv.key"), srv_key.serialize_pem()).unwrap();
    let port = free_port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--tls-auth-clients", "no", "--tls-cert-file"])
        .arg(dir.join("srv.pem"))
        .arg("--tls-key-file")
        .arg(dir.join("srv.key"))
        .arg("--tls-ca-cert-file")
        .arg(&ca)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (scripts/test installs it)");
    assert!(
        wait_until(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()),
        "redis-server --tls-port {port} did not start"
    );
    TlsRedis { child, port, ca }
}

#[test]
fn the_store_works_over_tls_and_refuses_an_untrusted_server() {
    let dir = temp_dir("redis-tls");
    let redis = tls_redis(&dir);
    let settings = RedisSettings {
        addr: format!("127.0.0.1:{}", redis.port),
        tls: true,
        tls_ca_file: Some(redis.ca.clone()),
        timeout: Duration::from_secs(5),
        ..support::store::redis_settings("tls")
    };
    let a = StoreHub::open_with(&StoreSettings::redis(settings.clone())).unwrap();
    let b = StoreHub::open_with(&StoreSettings::redis(settings.clone())).unwrap();
    run(async {
        let Store::Redis(sa) = a.handle() else { unreachable!() };
        let sb = b.handle();
        let def =
            serde_json::from_str(r#"{"id":"t1","channel":"grok","credentials":{"api_key":"xai-over-tls"}}"#).unwrap();
        sa.put_account(&def).await.unwrap();
        assert_eq!(sb.get_account("t1").await.unwrap().unwrap().def, def);
        // A pipelined batch whose replies span many TLS records.
        let big = vec![b'x'; 200_000];
        let cmds = vec![
            vec![b"SET".to_vec(), format!("{}big", settings.prefix).into_bytes(), big.clone()],
            vec![b"GET".to_vec(), format!("{}big", settings.prefix).into_bytes()],
            vec![b"PING".to_vec()],
        ];
        let replies = sa.client().exec(&cmds, true).await.unwrap();
        assert_eq!(replies[1].as_bytes(), Some(big.as_slice()));
        // Pub/sub over TLS: b hears a's change.
        sa.set_setting("tls", "on").await.unwrap();
        let rx = b.events();
        loop {
            match monoio::time::timeout(Duration::from_secs(5), rx.recv()).await {
                Ok(Ok(StoreEvent::SettingChanged { key })) if key == "tls" => break,
                Ok(Ok(_)) => {}
                other => panic!("no change event over TLS: {other:?}"),
            }
        }
        sa.purge().await.unwrap();
    });
    a.close();
    b.close();

    // Without the test CA the server's certificate is not trusted: the open fails and says so.
    let untrusted = RedisSettings { tls_ca_file: None, tls_config: None, ..settings.clone() };
    let err = StoreHub::open_with(&StoreSettings::redis(untrusted)).unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(err.to_string().to_lowercase().contains("tls") || err.to_string().contains("certificate"), "{err}");
    // Plain TCP to a TLS port fails instead of hanging.
    let plain = RedisSettings { tls: false, tls_config: None, timeout: Duration::from_millis(500), ..settings };
    assert!(StoreHub::open_with(&StoreSettings::redis(plain)).is_err());
    drop(redis);
    std::fs::remove_dir_all(&dir).ok();
}
