//! Per-channel upstream settings (`channels` in the file). Each channel owns one sub-object;
//! grok's is here, the other channels add theirs in later steps.
//!
//! Base URLs are `http(s)://host[:port][/path]` with the trailing slash removed, so callers join
//! paths with a plain `format!("{base}{path}")`. Asset hosts are bare host names.

use super::reader::{ObjReader, Problems};

/// `channels.grok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrokChannel {
    /// The official xAI API, OpenAI-compatible (`…/v1`).
    pub api_base_url: String,
    /// The grok.com web app (app-chat, rate-limits).
    pub web_base_url: String,
    /// Hosts generated media may be downloaded from (used by the images step).
    pub asset_hosts: Vec<String>,
}

impl Default for GrokChannel {
    fn default() -> Self {
        Self {
            api_base_url: "https://api.x.ai/v1".to_owned(),
            web_base_url: "https://grok.com".to_owned(),
            asset_hosts: ["assets.grok.com", "imgen.x.ai", "files-cdn.x.ai"].map(str::to_owned).to_vec(),
        }
    }
}

/// `channels`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Channels {
    pub grok: GrokChannel,
}

/// Reads the `channels` object into `out`.
pub fn read_channels(r: &mut ObjReader<'_>, p: &mut Problems, out: &mut Channels) {
    if let Some(m) = r.object(p, "grok") {
        let mut gr = ObjReader::new(r.path("grok"), m);
        read_grok(&mut gr, p, &mut out.grok);
        gr.finish(p);
    }
}

fn read_grok(r: &mut ObjReader<'_>, p: &mut Problems, g: &mut GrokChannel) {
    if let Some(u) = base_url(r, p, "api_base_url") {
        g.api_base_url = u;
    }
    if let Some(u) = base_url(r, p, "web_base_url") {
        g.web_base_url = u;
    }
    if let Some(hosts) = r.strings(p, "asset_hosts") {
        let mut ok = Vec::with_capacity(hosts.len());
        for (i, h) in hosts.iter().enumerate() {
            let h = h.trim().to_ascii_lowercase();
            if valid_host(&h) {
                ok.push(h);
            } else {
                p.push(
                    format!("{}[{i}]", r.path("asset_hosts")),
                    format!("expected a bare host name like \"assets.grok.com\", found {h:?}"),
                );
            }
        }
        g.asset_hosts = ok;
    }
}

fn base_url(r: &mut ObjReader<'_>, p: &mut Problems, key: &'static str) -> Option<String> {
    let raw = r.string(p, key)?;
    let u = raw.trim().trim_end_matches('/');
    let rest = u.strip_prefix("https://").or_else(|| u.strip_prefix("http://"));
    let host = rest.map(|r| r.split('/').next().unwrap_or_default());
    let fine = host.is_some_and(|h| !h.is_empty() && !h.contains(['@', ' ', '?', '#'])) && !u.contains(['?', '#', ' ']);
    if fine {
        Some(u.to_owned())
    } else {
        p.push(r.path(key), format!("expected an http(s) base URL like \"https://api.x.ai/v1\", found {raw:?}"));
        None
    }
}

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use crate::config::parse;
    use std::path::Path;

    #[test]
    fn defaults_and_overrides() {
        let cfg = parse(Path::new("t.json"), "{}").unwrap();
        assert_eq!(cfg.channels.grok.api_base_url, "https://api.x.ai/v1");
        assert_eq!(cfg.channels.grok.web_base_url, "https://grok.com");
        assert_eq!(cfg.channels.grok.asset_hosts, ["assets.grok.com", "imgen.x.ai", "files-cdn.x.ai"]);
        let cfg = parse(
            Path::new("t.json"),
            r#"{"channels":{"grok":{"api_base_url":"http://127.0.0.1:9000/v1/","web_base_url":"http://127.0.0.1:9000","asset_hosts":["Assets.Example.com"]}}}"#,
        )
        .unwrap();
        assert_eq!(cfg.channels.grok.api_base_url, "http://127.0.0.1:9000/v1");
        assert_eq!(cfg.channels.grok.web_base_url, "http://127.0.0.1:9000");
        assert_eq!(cfg.channels.grok.asset_hosts, ["assets.example.com"]);
    }

    #[test]
    fn problems_have_paths() {
        let err = parse(
            Path::new("t.json"),
            r#"{"channels":{"grok":{"api_base_url":"ftp://x","web_base_url":"https://","asset_hosts":["https://a.b/", 3],"nope":1},"other":{}}}"#,
        )
        .unwrap_err();
        let paths: Vec<_> = err.problems.iter().map(|p| p.path.as_str()).collect();
        for want in [
            "channels.grok.api_base_url",
            "channels.grok.web_base_url",
            "channels.grok.asset_hosts[0]",
            "channels.grok.asset_hosts[1]",
            "channels.grok.nope",
            "channels.other",
        ] {
            assert!(paths.contains(&want), "missing {want} in {paths:?}");
        }
    }
}
