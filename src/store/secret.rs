//! Secrets at rest: an account's `credentials` map is stored as one string, sealed with
//! XChaCha20-Poly1305 when a key is configured (`secret_key` / `ORCHIDS_SECRET_KEY`), plain JSON
//! otherwise.
//!
//! Sealed form: `enc1:` + hex(24-byte random nonce || ciphertext+tag); the account id is the
//! associated data, so a sealed blob copied onto another account does not open. Plain JSON
//! written before a key was configured still opens (and is sealed on its next write). A sealed
//! blob with no key, or the wrong key, is a typed [`StoreError::Secret`], never plaintext.
//! Threat model: `docs/storage.md`.

use super::types::StoreError;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::collections::BTreeMap;
use std::fmt;

const SEALED: &str = "enc1:";
const NONCE_LEN: usize = 24;

/// Seals and opens credential maps. Cheap to clone (the cipher is 32 bytes).
#[derive(Clone, Default)]
pub struct SecretBox {
    cipher: Option<XChaCha20Poly1305>,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.cipher.is_some() { "SecretBox(sealing)" } else { "SecretBox(plain)" })
    }
}

impl SecretBox {
    /// No key: credentials are stored as plain JSON.
    pub fn plain() -> Self {
        Self { cipher: None }
    }

    /// A key given as 64 hex characters (32 bytes), e.g. from `openssl rand -hex 32`.
    pub fn from_hex(key_hex: &str) -> Result<Self, StoreError> {
        let key = decode_hex(key_hex.trim())
            .filter(|k| k.len() == 32)
            .ok_or_else(|| StoreError::Secret("secret_key must be 64 hex characters (32 bytes)".into()))?;
        let cipher = XChaCha20Poly1305::new_from_slice(&key)
            .map_err(|_| StoreError::Secret("secret_key has the wrong length".into()))?;
        Ok(Self { cipher: Some(cipher) })
    }

    pub fn is_sealing(&self) -> bool {
        self.cipher.is_some()
    }

    /// The stored form of `creds` for account `id`.
    pub fn seal(&self, id: &str, creds: &BTreeMap<String, String>) -> Result<String, StoreError> {
        let json = serde_json::to_vec(creds).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let Some(cipher) = &self.cipher else {
            return String::from_utf8(json).map_err(|e| StoreError::Invalid(e.to_string()));
        };
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct = cipher
            .encrypt(&nonce, Payload { msg: &json, aad: aad(id).as_bytes() })
            .map_err(|_| StoreError::Secret("encryption failed".into()))?;
        let mut out = String::with_capacity(SEALED.len() + 2 * (NONCE_LEN + ct.len()));
        out.push_str(SEALED);
        push_hex(&mut out, nonce.as_slice());
        push_hex(&mut out, &ct);
        Ok(out)
    }

    /// The credentials of account `id` from their stored form.
    pub fn open(&self, id: &str, stored: &str) -> Result<BTreeMap<String, String>, StoreError> {
        if stored.is_empty() {
            return Ok(BTreeMap::new());
        }
        let Some(hex) = stored.strip_prefix(SEALED) else {
            return serde_json::from_str(stored)
                .map_err(|e| StoreError::Corrupt(format!("credentials of account {id:?}: {e}")));
        };
        let Some(cipher) = &self.cipher else {
            return Err(StoreError::Secret(format!(
                "account {id:?} has sealed credentials but no secret_key is configured"
            )));
        };
        let raw = decode_hex(hex)
            .filter(|r| r.len() > NONCE_LEN)
            .ok_or_else(|| StoreError::Corrupt(format!("sealed credentials of account {id:?}")))?;
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let plain =
            cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: aad(id).as_bytes() }).map_err(|_| {
                StoreError::Secret(format!("credentials of account {id:?} do not open with the configured secret_key"))
            })?;
        serde_json::from_slice(&plain).map_err(|e| StoreError::Corrupt(format!("credentials of account {id:?}: {e}")))
    }
}

fn aad(id: &str) -> String {
    format!("orchids2api/account-credentials/{id}")
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    use std::fmt::Write;
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.as_bytes().chunks_exact(2).map(|p| Some(nib(*p.first()?)? << 4 | nib(*p.get(1)?)?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn creds() -> BTreeMap<String, String> {
        BTreeMap::from([("api_key".to_owned(), "xai-very-secret-value".to_owned())])
    }

    #[test]
    fn sealed_round_trip_and_binding() {
        let b = SecretBox::from_hex(KEY).unwrap();
        let s = b.seal("a1", &creds()).unwrap();
        assert!(s.starts_with("enc1:") && !s.contains("very-secret"));
        assert_eq!(b.open("a1", &s).unwrap(), creds());
        // Bound to the account id.
        assert!(matches!(b.open("a2", &s), Err(StoreError::Secret(_))));
        // No key / wrong key: typed error, never plaintext.
        assert!(matches!(SecretBox::plain().open("a1", &s), Err(StoreError::Secret(_))));
        let other = SecretBox::from_hex(&KEY.replace("00", "ff")).unwrap();
        assert!(matches!(other.open("a1", &s), Err(StoreError::Secret(_))));
    }

    #[test]
    fn plain_form_and_migration() {
        let s = SecretBox::plain().seal("a1", &creds()).unwrap();
        assert!(s.contains("very-secret"));
        assert_eq!(SecretBox::from_hex(KEY).unwrap().open("a1", &s).unwrap(), creds());
    }

    #[test]
    fn bad_keys_are_rejected() {
        assert!(SecretBox::from_hex("abc").is_err());
        assert!(SecretBox::from_hex(&"zz".repeat(32)).is_err());
    }
}
