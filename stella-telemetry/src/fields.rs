//! The common fields of a log line: names, order, aliases and format validation.

/// Every top-level key of a log line, in the order they are written.
///
/// `ts`, `level` and `message` are always present; the others are omitted when unknown (never
/// `null`); everything else an event or span carries goes under `details`, written last.
///
/// # Examples
///
/// ```
/// assert_eq!(stella_telemetry::COMMON_FIELDS.len(), 27);
/// assert_eq!(stella_telemetry::COMMON_FIELDS[0], "ts");
/// assert_eq!(stella_telemetry::COMMON_FIELDS[26], "error_message");
/// ```
pub const COMMON_FIELDS: [&str; 27] = [
    "ts",
    "level",
    "service",
    "version",
    "env",
    "region",
    "instance_id",
    "tenant_id",
    "project_id",
    "actor",
    "route",
    "method",
    "resource",
    "action",
    "trace_id",
    "span_id",
    "parent_span_id",
    "request_id",
    "job_id",
    "run_id",
    "source_id",
    "sbom_id",
    "policy_version",
    "decision_effect",
    "decision_reason",
    "error_code",
    "error_message",
];

/// The common fields an event, a span or the request context can set (all but `ts`, `level`
/// and the five resource fields), in output order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    TenantId,
    ProjectId,
    Actor,
    Route,
    Method,
    Resource,
    Action,
    TraceId,
    SpanId,
    ParentSpanId,
    RequestId,
    JobId,
    RunId,
    SourceId,
    SbomId,
    PolicyVersion,
    DecisionEffect,
    DecisionReason,
    ErrorCode,
    ErrorMessage,
}

/// How many [`Slot`]s there are.
pub(crate) const SLOTS: usize = 20;

impl Slot {
    pub(crate) const ALL: [Slot; SLOTS] = [
        Slot::TenantId,
        Slot::ProjectId,
        Slot::Actor,
        Slot::Route,
        Slot::Method,
        Slot::Resource,
        Slot::Action,
        Slot::TraceId,
        Slot::SpanId,
        Slot::ParentSpanId,
        Slot::RequestId,
        Slot::JobId,
        Slot::RunId,
        Slot::SourceId,
        Slot::SbomId,
        Slot::PolicyVersion,
        Slot::DecisionEffect,
        Slot::DecisionReason,
        Slot::ErrorCode,
        Slot::ErrorMessage,
    ];

    /// The slot a field name fills: the common name itself, or an OpenTelemetry alias
    /// (`http.route`, `http.request.method`) or `error` for `error_message`.
    pub(crate) fn of(name: &str) -> Option<Slot> {
        Some(match name {
            "tenant_id" => Slot::TenantId,
            "project_id" => Slot::ProjectId,
            "actor" => Slot::Actor,
            "route" | "http.route" => Slot::Route,
            "method" | "http.request.method" | "http.method" => Slot::Method,
            "resource" => Slot::Resource,
            "action" => Slot::Action,
            "trace_id" => Slot::TraceId,
            "span_id" => Slot::SpanId,
            "parent_span_id" => Slot::ParentSpanId,
            "request_id" => Slot::RequestId,
            "job_id" => Slot::JobId,
            "run_id" => Slot::RunId,
            "source_id" => Slot::SourceId,
            "sbom_id" => Slot::SbomId,
            "policy_version" => Slot::PolicyVersion,
            "decision_effect" => Slot::DecisionEffect,
            "decision_reason" => Slot::DecisionReason,
            "error_code" => Slot::ErrorCode,
            "error_message" | "error" => Slot::ErrorMessage,
            _ => return None,
        })
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    /// The output key.
    pub(crate) const fn key(self) -> &'static str {
        match self {
            Slot::TenantId => "tenant_id",
            Slot::ProjectId => "project_id",
            Slot::Actor => "actor",
            Slot::Route => "route",
            Slot::Method => "method",
            Slot::Resource => "resource",
            Slot::Action => "action",
            Slot::TraceId => "trace_id",
            Slot::SpanId => "span_id",
            Slot::ParentSpanId => "parent_span_id",
            Slot::RequestId => "request_id",
            Slot::JobId => "job_id",
            Slot::RunId => "run_id",
            Slot::SourceId => "source_id",
            Slot::SbomId => "sbom_id",
            Slot::PolicyVersion => "policy_version",
            Slot::DecisionEffect => "decision_effect",
            Slot::DecisionReason => "decision_reason",
            Slot::ErrorCode => "error_code",
            Slot::ErrorMessage => "error_message",
        }
    }

    /// `,"<key>":"`: the head of this slot's member when its value is a string.
    pub(crate) const fn member_head(self) -> &'static str {
        match self {
            Slot::TenantId => ",\"tenant_id\":\"",
            Slot::ProjectId => ",\"project_id\":\"",
            Slot::Actor => ",\"actor\":\"",
            Slot::Route => ",\"route\":\"",
            Slot::Method => ",\"method\":\"",
            Slot::Resource => ",\"resource\":\"",
            Slot::Action => ",\"action\":\"",
            Slot::TraceId => ",\"trace_id\":\"",
            Slot::SpanId => ",\"span_id\":\"",
            Slot::ParentSpanId => ",\"parent_span_id\":\"",
            Slot::RequestId => ",\"request_id\":\"",
            Slot::JobId => ",\"job_id\":\"",
            Slot::RunId => ",\"run_id\":\"",
            Slot::SourceId => ",\"source_id\":\"",
            Slot::SbomId => ",\"sbom_id\":\"",
            Slot::PolicyVersion => ",\"policy_version\":\"",
            Slot::DecisionEffect => ",\"decision_effect\":\"",
            Slot::DecisionReason => ",\"decision_reason\":\"",
            Slot::ErrorCode => ",\"error_code\":\"",
            Slot::ErrorMessage => ",\"error_message\":\"",
        }
    }

    /// How a value of this slot is checked.
    pub(crate) const fn format(self) -> Format {
        match self {
            Slot::TraceId => Format::Hex(32),
            Slot::SpanId | Slot::ParentSpanId => Format::Hex(16),
            Slot::Method => Format::Method,
            _ => Format::Scanned,
        }
    }
}

/// How a field value is made safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Lowercase hex of exactly this many digits, not all zeros: validated, never scanned;
    /// anything else is dropped.
    Hex(usize),
    /// An HTTP method token (`GET`, `PATCH`, ...): validated; anything else is dropped.
    Method,
    /// Free text: scanned by the scrubber, key-aware.
    Scanned,
}

impl Format {
    /// True when `v` has this format (always true for [`Format::Scanned`]).
    pub(crate) fn accepts(self, v: &str) -> bool {
        match self {
            Format::Hex(n) => {
                v.len() == n
                    && v.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                    && v.bytes().any(|b| b != b'0')
            }
            Format::Method => {
                !v.is_empty()
                    && v.len() <= 16
                    && v.bytes()
                        .all(|b| b.is_ascii_uppercase() || b == b'_' || b == b'-')
            }
            Format::Scanned => true,
        }
    }
}

/// Field names that are hints for other consumers (OpenTelemetry span naming), never printed.
pub(crate) fn is_hidden(name: &str) -> bool {
    name.starts_with("otel.")
        || name == "log.file"
        || name == "log.line"
        || name == "log.module_path"
}

/// Field names whose values are unique per request, job or span (ids): memories of clean
/// texts skip them, since such a text never repeats and would only push out texts that do.
pub(crate) fn is_unique_id(name: &str) -> bool {
    matches!(
        name,
        "request_id" | "job_id" | "run_id" | "trace_id" | "span_id" | "parent_span_id"
    )
}

/// Span fields that describe the span itself (OpenTelemetry HTTP and network attributes):
/// exported with traces, not copied onto every log line inside the span.
pub(crate) fn is_span_only(name: &str) -> bool {
    const PREFIXES: [&str; 6] = [
        "url.",
        "server.",
        "network.",
        "client.",
        "user_agent.",
        "http.",
    ];
    name == "error.type" || PREFIXES.iter().any(|p| name.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_common_field_order() {
        let names: Vec<&str> = Slot::ALL.iter().map(|s| s.key()).collect();
        assert_eq!(names, COMMON_FIELDS[7..].to_vec());
        for (i, s) in Slot::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
            assert_eq!(Slot::of(s.key()), Some(*s));
            assert_eq!(s.member_head(), format!(",\"{}\":\"", s.key()));
        }
    }

    #[test]
    fn formats() {
        assert!(Format::Hex(32).accepts("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(!Format::Hex(32).accepts("00000000000000000000000000000000"));
        assert!(!Format::Hex(32).accepts("4BF92F3577B34DA6A3CE929D0E0E4736"));
        assert!(!Format::Hex(16).accepts("bob@example.com"));
        assert!(Format::Method.accepts("GET"));
        assert!(!Format::Method.accepts("get /x"));
    }
}
