//! Import and export of accounts and models as one JSON document.
//!
//! Exports redact every credential (`AccountDef::redacted`) unless secrets are explicitly
//! requested, and say which in `"secrets"`. Importing a redacted export never writes the masks
//! over real secrets: existing accounts keep their stored credentials, new ones are created
//! without any and listed in `needs_credentials`.

use super::StoreApi;
use super::types::StoreError;
use crate::domain::{AccountDef, ModelDef, now_ms};
use serde::{Deserialize, Serialize};

/// The document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Export {
    pub version: u32,
    #[serde(default)]
    pub exported_ms: u64,
    /// Whether `accounts[].credentials` hold real secrets (else masks).
    pub secrets: bool,
    #[serde(default)]
    pub accounts: Vec<AccountDef>,
    #[serde(default)]
    pub models: Vec<ModelDef>,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub accounts: usize,
    pub models: usize,
    /// Accounts created from a redacted export: they have no credentials yet.
    pub needs_credentials: Vec<String>,
}

/// Reads every account and model; secrets only when `with_secrets`.
pub async fn export<S: StoreApi>(store: &S, with_secrets: bool) -> Result<Export, StoreError> {
    let accounts =
        store.list_accounts().await?.into_iter().map(|a| if with_secrets { a.def } else { a.def.redacted() }).collect();
    Ok(Export {
        version: 1,
        exported_ms: now_ms(),
        secrets: with_secrets,
        accounts,
        models: store.list_models().await?,
    })
}

/// Parses a document (unknown fields are errors, with their name).
pub fn parse(text: &str) -> Result<Export, StoreError> {
    let doc: Export = serde_json::from_str(text).map_err(|e| StoreError::Invalid(format!("import document: {e}")))?;
    if doc.version != 1 {
        return Err(StoreError::Invalid(format!(
            "import document version {} is not supported (expected 1)",
            doc.version
        )));
    }
    Ok(doc)
}

/// Writes every account and model of `doc` (creating or replacing by id).
pub async fn import<S: StoreApi>(store: &S, doc: &Export) -> Result<ImportReport, StoreError> {
    let mut report = ImportReport::default();
    for def in &doc.accounts {
        let mut def = def.clone();
        if !doc.secrets {
            if let Some(existing) = store.get_account(&def.id).await? {
                def.credentials = existing.def.credentials;
            } else {
                def.credentials.clear();
                report.needs_credentials.push(def.id.clone());
            }
        }
        store.put_account(&def).await?;
        report.accounts += 1;
    }
    for m in &doc.models {
        store.put_model(m).await?;
        report.models += 1;
    }
    Ok(report)
}
