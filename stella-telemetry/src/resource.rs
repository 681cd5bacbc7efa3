//! The static resource: who is logging (service, version, env, region, instance id).

use std::fmt;

use stella_scrub::Scrubber;

use crate::json;

/// The longest resource value kept; longer values are cut.
const MAX_RESOURCE_LEN: usize = 256;

/// The static resource stamped on every line: `service`, `version`, `env`, `region`,
/// `instance_id`, plus any other OpenTelemetry resource attributes (kept for the trace and
/// metric exporters; not printed on log lines).
///
/// # Examples
///
/// ```
/// use stella_telemetry::Resource;
///
/// let r = Resource::new("policy-engine", "1.4.0").with_env("prod").with_region("eu-west-1");
/// assert_eq!(r.service(), "policy-engine");
/// assert_eq!(r.env(), Some("prod"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Resource {
    service: String,
    version: String,
    env: Option<String>,
    region: Option<String>,
    instance_id: Option<String>,
    attributes: Vec<(String, String)>,
}

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resource")
            .field("service", &self.service)
            .field("version", &self.version)
            .field("env", &self.env)
            .field("region", &self.region)
            .field("instance_id", &self.instance_id)
            .field("attributes", &self.attributes.len())
            .finish()
    }
}

impl Resource {
    /// A resource with a service name and version.
    pub fn new(service: impl Into<String>, version: impl Into<String>) -> Self {
        Resource {
            service: service.into(),
            version: version.into(),
            ..Resource::default()
        }
    }

    /// Sets the deployment environment (`prod`, `staging`, ...).
    #[must_use]
    pub fn with_env(mut self, env: impl Into<String>) -> Self {
        self.env = Some(env.into());
        self
    }

    /// Sets the region (`eu-west-1`, ...).
    #[must_use]
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sets the instance id (pod name, host id, ...).
    #[must_use]
    pub fn with_instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }

    /// Adds another OpenTelemetry resource attribute (kept for exporters, not printed).
    #[must_use]
    pub fn with_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.attributes.retain(|(k, _)| *k != key);
        self.attributes.push((key, value.into()));
        self
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The service version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The deployment environment.
    pub fn env(&self) -> Option<&str> {
        self.env.as_deref()
    }

    /// The region.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The instance id.
    pub fn instance_id(&self) -> Option<&str> {
        self.instance_id.as_deref()
    }

    /// The other resource attributes, in insertion order.
    pub fn attributes(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub(crate) fn set_service(&mut self, v: String) {
        self.service = v;
    }

    pub(crate) fn set_version(&mut self, v: String) {
        self.version = v;
    }

    pub(crate) fn set_env(&mut self, v: Option<String>) {
        self.env = v;
    }

    pub(crate) fn set_region(&mut self, v: Option<String>) {
        self.region = v;
    }

    pub(crate) fn set_instance_id(&mut self, v: Option<String>) {
        self.instance_id = v;
    }

    /// Applies `OTEL_RESOURCE_ATTRIBUTES` (`k=v,k=v`, percent-encoded): the well-known keys fill
    /// the matching fields unless already set, the rest are kept as attributes.
    ///
    /// # Errors
    ///
    /// A reason when a member is not `key=value` or a value is not valid percent-encoding; the
    /// whole variable is then ignored, as the OpenTelemetry specification asks.
    pub(crate) fn apply_otel_attributes(
        &mut self,
        raw: &str,
        service_from_otel: bool,
    ) -> Result<(), String> {
        let mut parsed = Vec::new();
        for member in key_value_members(raw) {
            let (k, v) = member.map_err(|(_, member)| {
                format!("member `{}` is not key=value", json::prefix(member, 64))
            })?;
            let k = percent_decode(k.trim())
                .ok_or_else(|| "invalid percent-encoding in a key".to_owned())?;
            let v = percent_decode(v.trim())
                .ok_or_else(|| format!("invalid percent-encoding in the value of `{k}`"))?;
            if k.is_empty() {
                return Err("empty key".to_owned());
            }
            parsed.push((k, v));
        }
        for (k, v) in parsed {
            match k.as_str() {
                "service.name" if !service_from_otel => self.service = v,
                "service.name" => {}
                "service.version" if self.version.is_empty() => self.version = v,
                "deployment.environment.name" | "deployment.environment" if self.env.is_none() => {
                    self.env = Some(v)
                }
                "cloud.region" if self.region.is_none() => self.region = Some(v),
                "service.instance.id" if self.instance_id.is_none() => self.instance_id = Some(v),
                "service.version"
                | "deployment.environment.name"
                | "deployment.environment"
                | "cloud.region"
                | "service.instance.id" => {}
                _ => {
                    self.attributes.retain(|(a, _)| *a != k);
                    self.attributes.push((k, v));
                }
            }
        }
        Ok(())
    }

    /// The `,"service":...,"instance_id":...` fragment of every line, validated and scrubbed
    /// once.
    ///
    /// # Errors
    ///
    /// When the service name is empty.
    pub(crate) fn to_fragment(&self, scrubber: &Scrubber) -> Result<String, String> {
        if self.service.trim().is_empty() {
            return Err("the service name must not be empty".to_owned());
        }
        let mut out = String::with_capacity(128);
        let fields: [(&str, Option<&str>); 5] = [
            ("service", Some(self.service.as_str())),
            (
                "version",
                Some(self.version.as_str()).filter(|v| !v.is_empty()),
            ),
            ("env", self.env.as_deref()),
            ("region", self.region.as_deref()),
            ("instance_id", self.instance_id.as_deref()),
        ];
        for (key, value) in fields {
            let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
                continue;
            };
            let clean = scrubber.scrub_field(key, json::prefix(value, MAX_RESOURCE_LEN));
            out.push_str(",\"");
            out.push_str(key);
            out.push_str("\":");
            json::push_str(&mut out, &clean);
        }
        Ok(out)
    }
}

/// The members of a `key=value,key=value` list (`OTEL_RESOURCE_ATTRIBUTES`,
/// `OTEL_EXPORTER_OTLP_HEADERS`), each split at its first `=`, key and value trimmed and still
/// percent-encoded; empty members are skipped. A member without `=` is an error with its place
/// (from 1) and its text, for the caller to show or not (header values are credentials).
pub(crate) fn key_value_members(
    raw: &str,
) -> impl Iterator<Item = Result<(&str, &str), (usize, &str)>> {
    raw.split(',')
        .enumerate()
        .map(|(i, member)| (i + 1, member.trim()))
        .filter(|(_, member)| !member.is_empty())
        .map(|(place, member)| {
            member
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or((place, member))
        })
}

/// Decodes `%XX` escapes; `None` on a malformed escape or invalid UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hi = b.get(i + 1).and_then(|c| char::from(*c).to_digit(16))?;
            let lo = b.get(i + 2).and_then(|c| char::from(*c).to_digit(16))?;
            out.push(u8::try_from(hi * 16 + lo).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otel_attributes() {
        let mut r = Resource::new("svc", "1.0");
        r.apply_otel_attributes(
            "deployment.environment.name=prod, cloud.region=eu%2Dwest%2D1,service.instance.id=pod%201,team=a%3Db",
            false,
        )
        .unwrap();
        assert_eq!(r.env(), Some("prod"));
        assert_eq!(r.region(), Some("eu-west-1"));
        assert_eq!(r.instance_id(), Some("pod 1"));
        assert_eq!(r.attributes().collect::<Vec<_>>(), [("team", "a=b")]);
        assert!(r.apply_otel_attributes("novalue", false).is_err());
        assert!(r.apply_otel_attributes("k=%zz", false).is_err());
        r.apply_otel_attributes("service.name=other", false)
            .unwrap();
        assert_eq!(r.service(), "other");
    }

    #[test]
    fn fragment() {
        let s = Scrubber::builder().build().unwrap();
        let r = Resource::new("svc", "1.0").with_env("prod");
        assert_eq!(
            r.to_fragment(&s).unwrap(),
            ",\"service\":\"svc\",\"version\":\"1.0\",\"env\":\"prod\""
        );
        assert!(Resource::new(" ", "1").to_fragment(&s).is_err());
    }
}
