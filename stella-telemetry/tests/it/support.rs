use std::fmt;
use std::sync::OnceLock;

use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use stella_context::subscriber::ContextLayer;
use stella_scrub::Scrubber;
use stella_scrub::grants::{Grants, ManualClock};
use stella_telemetry::testing::CaptureWriter;
use stella_telemetry::{
    COMMON_FIELDS, JsonLayer, JsonLayerBuilder, Resource, Sampling, TelemetryHandle,
};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

pub const T0: u64 = 1_764_327_930;

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let text = include_str!("../../schema/log-line.schema.json");
        let schema: Value = serde_json::from_str(text).expect("schema parses");
        jsonschema::draft202012::new(&schema).expect("schema compiles")
    })
}

/// The top-level keys of a JSON object, in document order.
pub fn keys_in_order(line: &str) -> Vec<String> {
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut keys = Vec::new();
            while let Some(k) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                keys.push(k);
            }
            Ok(keys)
        }
    }
    let mut de = serde_json::Deserializer::from_str(line);
    de.deserialize_map(Keys).expect("a JSON object")
}

/// Parses, validates and order-checks every line.
pub fn check_lines(text: &str) -> Vec<Value> {
    let order: Vec<&str> = COMMON_FIELDS
        .iter()
        .copied()
        .chain(["message", "details"])
        .collect();
    text.lines()
        .map(|line| {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            let errors: Vec<String> = validator()
                .iter_errors(&v)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "schema violations {errors:?} in {line}");
            let keys = keys_in_order(line);
            let positions: Vec<usize> = keys
                .iter()
                .map(|k| {
                    order
                        .iter()
                        .position(|o| o == k)
                        .unwrap_or_else(|| panic!("unknown key {k}"))
                })
                .collect();
            assert!(
                positions.windows(2).all(|w| w[0] < w[1]),
                "keys out of order: {keys:?}"
            );
            v
        })
        .collect()
}

pub struct Harness {
    pub capture: CaptureWriter,
    pub dispatch: Dispatch,
    pub handle: TelemetryHandle,
    pub clock: ManualClock,
    pub grants: Grants,
}

impl Harness {
    pub fn new() -> Self {
        Self::with(|b| b)
    }

    pub fn with(
        f: impl FnOnce(JsonLayerBuilder<CaptureWriter>) -> JsonLayerBuilder<CaptureWriter>,
    ) -> Self {
        let clock = ManualClock::at_unix_secs(T0);
        let grants = Grants::builder().with_clock(clock.clone()).build().unwrap();
        let scrubber = Scrubber::builder()
            .with_repo_root("/work/main")
            .with_grants(grants.clone())
            .build()
            .unwrap();
        let capture = CaptureWriter::new();
        let builder = JsonLayer::builder("test-svc", "1.2.3")
            .with_resource(
                Resource::new("test-svc", "1.2.3")
                    .with_env("test")
                    .with_region("eu-west-1")
                    .with_instance_id("pod-1"),
            )
            .with_scrubber(scrubber)
            .with_sampling(Sampling::unlimited())
            .with_clock(clock.clone())
            .with_writer(capture.clone());
        let layer = f(builder).build().unwrap();
        let handle = layer.handle();
        let dispatch = Dispatch::new(
            tracing_subscriber::registry()
                .with(ContextLayer::new())
                .with(layer),
        );
        Harness {
            capture,
            dispatch,
            handle,
            clock,
            grants,
        }
    }

    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        tracing::dispatcher::with_default(&self.dispatch, f)
    }

    /// Every line so far, validated.
    pub fn lines(&self) -> Vec<Value> {
        check_lines(&self.capture.contents())
    }

    /// The one line whose message is `msg`.
    pub fn line(&self, msg: &str) -> Value {
        let lines = self.lines();
        let found: Vec<&Value> = lines.iter().filter(|l| l["message"] == msg).collect();
        assert_eq!(
            found.len(),
            1,
            "expected one line with message {msg:?} in {lines:#?}"
        );
        found[0].clone()
    }
}

/// Whether a tool a test needs (a binary, a Python module) is there, from `check` (a command
/// that succeeds when it is). When it is not: fails the test under `STELLA_REQUIRE_SERVICES=1`
/// (CI, whose `.ci/run` installs it, naming `install`), else prints a notice and says `false`
/// so the test passes without it.
pub fn tool_available(check: &mut std::process::Command, what: &str, install: &str) -> bool {
    let found = check
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("STELLA_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "{what} is required (STELLA_REQUIRE_SERVICES=1): {install}"
        );
        eprintln!(
            "SKIPPED: {what} is missing ({install}); set STELLA_REQUIRE_SERVICES=1 to make this fail"
        );
    }
    found
}
