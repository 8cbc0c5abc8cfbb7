//! `GET /v1/models`, `GET /{channel}/v1/models`, `GET /v1/models/{id}`,
//! `GET /{channel}/v1/models/{id}`.
//!
//! Without an `anthropic-version` header: OpenAI shapes (`{"object":"list","data":[…]}`, each
//! `{id, object:"model", created, owned_by}`). With it: Anthropic shapes (`{"data":[…],
//! "has_more","first_id","last_id"}`, each `{type:"model", id, display_name, created_at}`),
//! paginated by `limit` (default 20, max 1000), `after_id` and `before_id`.

use super::front;
use crate::domain::ModelDef;
use crate::http::{Request, Response};
use crate::proxy::error_response;
use crate::runtime::ctx::Worker;
use crate::translate::canonical::{ErrorKind, WireFormat};
use crate::util::json;

/// Which shape the caller wants.
fn format_of(req: &Request) -> WireFormat {
    if req.head.header("anthropic-version").is_some() { WireFormat::Claude } else { WireFormat::OpenAi }
}

/// `GET …/models`.
pub fn list(worker: &Worker, req: &Request, has_channel: bool) -> Response {
    let format = format_of(req);
    let checked = match front::check(worker, req, format, has_channel) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut seen: Vec<&str> = Vec::new();
    let models: Vec<&ModelDef> = checked
        .front
        .models
        .list(checked.channel)
        .filter(|m| {
            let fresh = !seen.contains(&m.id.as_str());
            seen.push(&m.id);
            fresh
        })
        .collect();
    let mut out = Vec::with_capacity(256 * models.len().max(1));
    match format {
        WireFormat::OpenAi => {
            out.extend_from_slice(br#"{"object":"list","data":["#);
            for (i, m) in models.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                openai_model(&mut out, m);
            }
            out.extend_from_slice(b"]}");
        }
        WireFormat::Claude => {
            let limit = req.query("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(20).clamp(1, 1000);
            let (page, has_more) = paginate(&models, req.query("after_id"), req.query("before_id"), limit);
            out.extend_from_slice(br#"{"data":["#);
            for (i, m) in page.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                anthropic_model(&mut out, m);
            }
            out.extend_from_slice(br#"],"has_more":"#);
            out.extend_from_slice(if has_more { b"true" } else { b"false" });
            for (key, m) in [(&br#","first_id":"#[..], page.first()), (&br#","last_id":"#[..], page.last())] {
                out.extend_from_slice(key);
                match m {
                    Some(m) => json::push_str(&mut out, &m.id),
                    None => out.extend_from_slice(b"null"),
                }
            }
            out.push(b'}');
        }
    }
    Response::json(200, out)
}

/// One page: after `after_id` (or before `before_id`), at most `limit`.
fn paginate<'a>(
    all: &'a [&'a ModelDef],
    after: Option<String>,
    before: Option<String>,
    limit: usize,
) -> (&'a [&'a ModelDef], bool) {
    if let Some(b) = before {
        let end = all.iter().position(|m| m.id == b).unwrap_or(0);
        let start = end.saturating_sub(limit);
        return (all.get(start..end).unwrap_or_default(), start > 0);
    }
    let start = after.and_then(|a| all.iter().position(|m| m.id == a).map(|p| p + 1)).unwrap_or(0);
    let end = (start + limit).min(all.len());
    (all.get(start..end).unwrap_or_default(), end < all.len())
}

/// `GET …/models/{id}`.
pub fn get(worker: &Worker, req: &Request, has_channel: bool) -> Response {
    let format = format_of(req);
    let checked = match front::check(worker, req, format, has_channel) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = req.param(usize::from(has_channel)).unwrap_or_default();
    let Some(m) = checked.front.models.resolve(id, checked.channel) else {
        let msg = checked.front.models.not_found_message(id, checked.channel);
        return error_response(format, ErrorKind::NotFound, &msg, Some("model"), Some("model_not_found"));
    };
    let mut out = Vec::with_capacity(256);
    match format {
        WireFormat::OpenAi => openai_model(&mut out, m),
        WireFormat::Claude => anthropic_model(&mut out, m),
    }
    Response::json(200, out)
}

fn openai_model(out: &mut Vec<u8>, m: &ModelDef) {
    out.extend_from_slice(br#"{"id":"#);
    json::push_str(out, &m.id);
    out.extend_from_slice(br#","object":"model","created":"#);
    out.extend_from_slice(m.created.to_string().as_bytes());
    out.extend_from_slice(br#","owned_by":"#);
    json::push_str(out, m.channel.as_str());
    out.push(b'}');
}

fn anthropic_model(out: &mut Vec<u8>, m: &ModelDef) {
    out.extend_from_slice(br#"{"type":"model","id":"#);
    json::push_str(out, &m.id);
    out.extend_from_slice(br#","display_name":"#);
    json::push_str(out, if m.display_name.is_empty() { &m.id } else { &m.display_name });
    out.extend_from_slice(br#","created_at":"#);
    json::push_str(out, &rfc3339(m.created));
    out.push(b'}');
}

/// Unix seconds -> `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
pub fn rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_735_689_600), "2025-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400 + 3661), "2000-02-29T01:01:01Z");
    }
}
