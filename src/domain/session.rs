//! Admin sessions: a random id (stored hashed), the user, the CSRF token and an expiry.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminSession {
    /// Hex SHA-256 of the session cookie value.
    pub id_hash: String,
    pub user: String,
    pub csrf: String,
    pub created_ms: u64,
    pub expires_ms: u64,
}
