//! A strict reader over a parsed JSON object that collects *every* problem.
//!
//! serde stops at the first error; operators fixing a config want the whole list at once. This
//! reader walks a `serde_json::Value` (cold path, start-up only), takes each known key with the
//! expected type, records a [`Problem`] with the full key path for anything wrong, and at the end
//! reports every key that nobody took as unknown.

use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt;

/// One thing wrong with the config file: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `limits.max_body_bytes` or `accounts[2].channel`.
    pub path: String,
    /// What was expected there, in words.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Collector shared by every [`ObjReader`] of one file.
#[derive(Debug, Default)]
pub struct Problems {
    pub list: Vec<Problem>,
}

impl Problems {
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.list.push(Problem { path: path.into(), message: message.into() });
    }
}

/// Describes a JSON value's type for error messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads the keys of one JSON object; whatever is left untaken at [`ObjReader::finish`] is
/// reported as an unknown key.
#[derive(Debug)]
pub struct ObjReader<'a> {
    prefix: String,
    map: &'a Map<String, Value>,
    taken: BTreeSet<&'static str>,
}

impl<'a> ObjReader<'a> {
    pub fn new(prefix: impl Into<String>, map: &'a Map<String, Value>) -> Self {
        Self { prefix: prefix.into(), map, taken: BTreeSet::new() }
    }

    /// The full dotted path of `key` under this object.
    pub fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() { key.to_owned() } else { format!("{}.{key}", self.prefix) }
    }

    /// The raw value of `key`, marking it known. `null` counts as absent.
    pub fn raw(&mut self, key: &'static str) -> Option<&'a Value> {
        self.taken.insert(key);
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    pub fn string(&mut self, p: &mut Problems, key: &'static str) -> Option<String> {
        match self.raw(key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                p.push(self.path(key), format!("expected a string, found {}", kind_of(other)));
                None
            }
        }
    }

    pub fn boolean(&mut self, p: &mut Problems, key: &'static str) -> Option<bool> {
        match self.raw(key)? {
            Value::Bool(b) => Some(*b),
            other => {
                p.push(self.path(key), format!("expected true or false, found {}", kind_of(other)));
                None
            }
        }
    }

    /// An unsigned integer in `min..=max`; a numeric string is accepted too (the Go seed wrote
    /// ports as strings).
    pub fn uint(&mut self, p: &mut Problems, key: &'static str, min: u64, max: u64) -> Option<u64> {
        let v = self.raw(key)?;
        let parsed = match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match parsed {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(n) => {
                p.push(self.path(key), format!("expected an integer from {min} to {max}, found {n}"));
                None
            }
            None => {
                p.push(self.path(key), format!("expected an integer from {min} to {max}, found {}", describe(v)));
                None
            }
        }
    }

    /// One of a fixed set of strings.
    pub fn choice(&mut self, p: &mut Problems, key: &'static str, allowed: &[&'static str]) -> Option<&'static str> {
        let s = self.string(p, key)?;
        if let Some(found) = allowed.iter().find(|a| **a == s) {
            return Some(found);
        }
        p.push(self.path(key), format!("expected one of {}, found {s:?}", allowed.join(" | ")));
        None
    }

    pub fn object(&mut self, p: &mut Problems, key: &'static str) -> Option<&'a Map<String, Value>> {
        match self.raw(key)? {
            Value::Object(m) => Some(m),
            other => {
                p.push(self.path(key), format!("expected an object, found {}", kind_of(other)));
                None
            }
        }
    }

    pub fn array(&mut self, p: &mut Problems, key: &'static str) -> Option<&'a Vec<Value>> {
        match self.raw(key)? {
            Value::Array(a) => Some(a),
            other => {
                p.push(self.path(key), format!("expected an array, found {}", kind_of(other)));
                None
            }
        }
    }

    /// An array of strings.
    pub fn strings(&mut self, p: &mut Problems, key: &'static str) -> Option<Vec<String>> {
        let arr = self.array(p, key)?;
        let mut out = Vec::with_capacity(arr.len());
        for (i, v) in arr.iter().enumerate() {
            match v {
                Value::String(s) => out.push(s.clone()),
                other => {
                    p.push(format!("{}[{i}]", self.path(key)), format!("expected a string, found {}", kind_of(other)));
                }
            }
        }
        Some(out)
    }

    /// Reports every key of this object that no reader took.
    pub fn finish(self, p: &mut Problems) {
        for key in self.map.keys() {
            if !self.taken.contains(key.as_str()) {
                p.push(self.path(key), "unknown key");
            }
        }
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        other => kind_of(other).to_owned(),
    }
}
