//! TEMPORARY stand-in for `stella_scrub::Scrubber` until that crate lands (same agreed API).
#![allow(dead_code, missing_docs, unreachable_pub)]
use std::borrow::Cow;

#[derive(Debug, Clone, Default)]
pub struct Scrubber;
#[derive(Debug, thiserror::Error)]
#[error("scrubber build error")]
pub struct BuildError;
#[derive(Debug, Default)]
pub struct ScrubberBuilder;
impl ScrubberBuilder {
    pub fn build(self) -> Result<Scrubber, BuildError> { Ok(Scrubber) }
}
impl Scrubber {
    pub fn builder() -> ScrubberBuilder { ScrubberBuilder }
    pub fn scrub<'a>(&self, s: &'a str) -> Cow<'a, str> { Cow::Borrowed(s) }
    pub fn scrub_json(&self, v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => serde_json::Value::Object(m.iter().map(|(k, v)| {
                let lk = k.to_ascii_lowercase();
                if lk.contains("password") || lk.contains("secret") || lk.contains("token") || lk == "authorization" {
                    (k.clone(), serde_json::Value::String("[REDACTED]".into()))
                } else { (k.clone(), self.scrub_json(v)) }
            }).collect()),
            serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(|v| self.scrub_json(v)).collect()),
            serde_json::Value::String(s) if s.starts_with("AKIA") => serde_json::Value::String("[REDACTED]".into()),
            other => other.clone(),
        }
    }
}
