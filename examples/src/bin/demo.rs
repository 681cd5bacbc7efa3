//! The main job: an end-to-end demo of Stella Observability on embedded defaults (files only,
//! no server to install).
//!
//! ```text
//! cargo run --release -p stella-examples --bin demo [-- --out DIR]   # default DIR: target/stella-demo
//! ```
//!
//! One tenant's evaluation walks the chain of custody the brief names (source fetch -> SBOM
//! compute -> policy evaluation -> advisory link -> export), the way the platform's services do:
//!
//! 1. The CLI starts a W3C trace and sends `traceparent` with its request; the API's
//!    `ServerLayer` continues it, opens `api.<route>` and makes the tenant's `RequestContext`
//!    current.
//! 2. The handler fetches a source, computes an SBOM, and queues the policy evaluation as a job:
//!    the trace travels inside the job's JSON payload (enqueued under the producer span
//!    `orchestrator.schedule`, `stella_telemetry::schedule_span`) and the worker restores it as
//!    a child (`stella_telemetry::job_span`: the `runner.execute` span, with the job's
//!    metadata).
//! 3. Every step logs through `stella-telemetry` (scrubbed JSON lines with the common fields; the
//!    handler's messages carry a password, a bearer token and an email on purpose), emits a
//!    policy decision log, and emits a `timeline_event` whose inputs and outputs are the
//!    SHA-256 digests of the artifacts it read and wrote.
//! 4. The policy-evaluation SLO shipped in `collector-config/slo/specs/` is evaluated over two
//!    simulated hours: healthy, then an hour of slow evaluations. The burn-rate alerts fire and
//!    its `slo.breach` event lands in the same timeline.
//!
//! 5. The golden-signal and journey metrics are rendered as Prometheus would scrape them from
//!    `/metrics` (OpenMetrics; histogram exemplars carry the trace id).
//! 6. Every span is exported over OTLP/HTTP to a receiver inside the process (the collector's
//!    stand-in, `stella_examples::otlp_receiver`), decoded with the official protobuf
//!    definitions.
//!
//! Then the demo checks its own output as an auditor would: every timeline event's digest
//! verifies from its canonical JSON, each step's output digest is the next step's input, every
//! log line is JSON that carries the CLI's `trace_id` inside the request, the metrics are
//! exposed with an exemplar on the CLI's trace, the spans form the chain `api.<route>` ->
//! `orchestrator.schedule` -> `runner.execute` -> `policy.evaluate` under the CLI's request, and no secret reached a file
//! or a span. It exits non-zero if any check fails.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context as _, bail, ensure};
use http::{Request, Response};
use stella_context::{
    JobEnvelope, JobMeta, RequestContext, RestoreMode, ServerLayer, TraceContext,
};
use stella_examples::otlp_receiver::{ReceivedSpan, Receiver};
use stella_slo::timeline::TimelineSink;
use stella_slo::{Counts, Evaluator, spec};
use stella_telemetry::decision::{Decision, Effect};
use stella_telemetry::metrics::Journey;
use stella_telemetry::{Config, FileOutput, TraceConfig};
use stella_timeline_emit::{Digest, Emitter, EventKind, FileSink, TimelineEvent};
use tower::{ServiceBuilder, ServiceExt as _};

const TENANT: &str = "acme";
const PROJECT: &str = "payments";
/// Secrets the handler puts into its log messages on purpose; none may reach a file.
const SECRETS: [&str; 3] = [
    "hunter2-correct-horse",
    "ghp_R8x2mQ7vLk3pZ9tW4yN6bC1dF5gH0jK2sA7e",
    "dana.ops@acme-payments.example",
];
const POLICY_SPEC: &str =
    include_str!("../../../collector-config/slo/specs/policy-evaluation-latency.yaml");

/// The policy evaluation job's payload, as a queue would carry it.
#[derive(serde::Serialize, serde::Deserialize)]
struct EvaluateJob {
    sbom_id: String,
    sbom_digest: String,
    policy_version: String,
}

fn main() -> anyhow::Result<()> {
    let out = out_dir()?;
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let logs = out.join("logs.ndjson");
    let timeline = out.join("timeline.ndjson");
    let metrics = out.join("metrics.txt");
    let traces = out.join("traces.ndjson");
    for f in [&logs, &timeline, &metrics, &traces] {
        if f.exists() {
            fs::remove_file(f).with_context(|| format!("removing {}", f.display()))?;
        }
    }

    // The collector stand-in: spans go over OTLP/HTTP to a receiver inside this process.
    let receiver = Receiver::start().context("starting the embedded OTLP receiver")?;
    let telemetry = stella_telemetry::init(
        Config::new("stella-demo", env!("CARGO_PKG_VERSION"))
            .with_env("demo")
            .with_region("local")
            .with_instance_id("demo-1")
            .with_file(FileOutput::new(&logs))
            .with_traces(
                TraceConfig::new()
                    .with_endpoint(receiver.url())
                    .with_export_interval(Duration::from_millis(100)),
            ),
    )
    .context("starting telemetry")?;
    let emitter = Emitter::builder()
        .with_sink(FileSink::builder().with_path(&timeline).build()?)
        .build()
        .context("starting the timeline emitter")?;

    // 1. The CLI starts the trace and prints its id for copy-paste.
    let cli = TraceContext::new_root();
    println!("stella demo: trace_id {} (tenant {TENANT})", cli.trace_id());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let started = std::time::Instant::now();
    // The CLI's client span: its id is the parent the request's `traceparent` names.
    let caller = cli.child();
    let status = runtime.block_on(request(&caller, emitter.clone()))?;
    stella_telemetry::metrics::record_http_request(
        "POST",
        "/tenants/{tenant}/sboms/{id}/evaluate",
        status.as_u16(),
        started.elapsed(),
    );
    println!("stella demo: POST /tenants/{TENANT}/sboms/sbom-7f3c/evaluate -> {status}");

    // What Prometheus would scrape from /metrics, in OpenMetrics form.
    let exposition = telemetry
        .handle()
        .render_metrics(Some("application/openmetrics-text; version=1.0.0"));
    fs::write(&metrics, exposition.body())
        .with_context(|| format!("writing {}", metrics.display()))?;

    // 4. The policy-evaluation SLO over two simulated hours.
    let breaches = simulate_slo(emitter.clone())?;
    for b in &breaches {
        println!("stella demo: {b}");
    }

    emitter
        .shutdown(Duration::from_secs(5))
        .context("flushing the timeline")?;
    telemetry
        .shutdown()
        .context("flushing the logs and spans")?;
    ensure!(
        receiver.rejected().is_empty(),
        "the receiver refused export requests: {:?}",
        receiver.rejected()
    );
    let spans = receiver.spans();
    let mut ndjson = String::new();
    for span in &spans {
        ndjson.push_str(&serde_json::to_string(span)?);
        ndjson.push('\n');
    }
    fs::write(&traces, ndjson).with_context(|| format!("writing {}", traces.display()))?;

    let summary = audit(&caller, &logs, &timeline, &metrics, &spans)?;
    println!("{summary}");
    println!("stella demo: logs in {}", logs.display());
    println!("stella demo: spans in {}", traces.display());
    println!("stella demo: metrics in {}", metrics.display());
    println!("stella demo: timeline in {}", timeline.display());
    println!("stella demo: all checks passed");
    Ok(())
}

fn out_dir() -> anyhow::Result<PathBuf> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => Ok(PathBuf::from("target/stella-demo")),
        (Some("--out"), Some(dir)) => Ok(PathBuf::from(dir)),
        _ => bail!("usage: demo [--out DIR]"),
    }
}

/// The CLI's request through the API's `ServerLayer`; returns the response status.
async fn request(caller: &TraceContext, emitter: Emitter) -> anyhow::Result<http::StatusCode> {
    let route = |_: &http::Method, uri: &http::Uri, _: &http::Extensions| {
        uri.path()
            .ends_with("/evaluate")
            .then(|| "/tenants/{tenant}/sboms/{id}/evaluate".to_owned())
    };
    let api = ServiceBuilder::new()
        .layer(
            ServerLayer::builder()
                .with_route_extractor(route)
                .with_tenant_header(http::HeaderName::from_static("x-stella-tenant"))
                .build(),
        )
        .service_fn(move |req: Request<String>| {
            let emitter = emitter.clone();
            async move { handle(req, emitter).await }
        });

    let mut req = Request::post(format!("/tenants/{TENANT}/sboms/sbom-7f3c/evaluate"))
        .header("x-stella-tenant", TENANT)
        .body(String::new())?;
    caller.inject(req.headers_mut());
    let response = api.oneshot(req).await?;
    Ok(response.status())
}

/// The API handler: one evaluation's chain of custody.
async fn handle(_req: Request<String>, emitter: Emitter) -> anyhow::Result<Response<String>> {
    let ctx = RequestContext::current().context("the ServerLayer sets the request context")?;
    tracing::info!(
        feed_url = "https://svc-feeds:hunter2-correct-horse@feeds.acme-payments.example/osv",
        "fetching advisory source with Authorization: Bearer ghp_R8x2mQ7vLk3pZ9tW4yN6bC1dF5gH0jK2sA7e"
    );
    let source = br#"{"id":"GHSA-7rjr-3q55-vv33","affected":[{"package":{"purl":"pkg:maven/org.apache.logging.log4j/log4j-core"}}]}"#;
    let source_digest = Digest::of_bytes(source);
    emitter.emit(
        TimelineEvent::builder(EventKind::parse("source.fetched")?, "source", "osv-feed")
            .with_current_context()
            .with_project(PROJECT)
            .with_detail("source_id", "osv-feed")
            .with_output("advisory-feed", source_digest.clone()),
    )?;

    let sbom = br#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"purl":"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"}]}"#;
    let sbom_digest = Digest::of_bytes(sbom);
    tracing::info!(sbom_id = "sbom-7f3c", components = 1, "SBOM computed");
    emitter.emit(
        TimelineEvent::builder(EventKind::SbomIngested, "sbom", "sbom-7f3c")
            .with_current_context()
            .with_project(PROJECT)
            .with_detail("format", "cyclonedx-1.6")
            .with_input("source", source_digest.clone())
            .with_output("sbom", sbom_digest.clone()),
    )?;

    // 2. The evaluation runs as a job: the trace travels inside its JSON payload.
    let envelope = JobEnvelope::new(
        JobMeta::new("job-eval-0001")
            .with_kind("policy.evaluate")
            .with_run_id("run-1")
            .with_tenant_id(TENANT),
        EvaluateJob {
            sbom_id: "sbom-7f3c".into(),
            sbom_digest: sbom_digest.as_str().to_owned(),
            policy_version: "2026.11.3".into(),
        },
    );
    // Enqueued under `orchestrator.schedule`, the producer span whose ids the payload carries.
    let wire = stella_telemetry::schedule_span(&envelope).in_scope(|| {
        tracing::info!(job_id = "job-eval-0001", "policy evaluation queued");
        serde_json::to_string(&envelope)
    })?;
    let decision_digest = tokio::spawn(worker(wire, emitter.clone()))
        .await
        .context("the worker task")??;

    let exposure =
        format!("{{\"decision\":\"{decision_digest}\",\"advisory\":\"GHSA-7rjr-3q55-vv33\"}}");
    let exposure_digest = Digest::of_bytes(exposure.as_bytes());
    emitter.emit(
        TimelineEvent::builder(EventKind::AdvisoryLinked, "component", "log4j-core@2.14.1")
            .with_current_context()
            .with_project(PROJECT)
            .with_detail("advisory_id", "GHSA-7rjr-3q55-vv33")
            .with_detail(
                "component",
                "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
            )
            .with_input("decision", Digest::parse(&decision_digest)?)
            .with_input("advisory-feed", source_digest)
            .with_output("exposure", exposure_digest.clone()),
    )?;

    let export = format!("exposure-report\n{exposure}\n");
    tracing::warn!(
        recipient = "dana.ops@acme-payments.example",
        "export bundle sent to dana.ops@acme-payments.example"
    );
    emitter.emit(
        TimelineEvent::builder(EventKind::ExportCreated, "export", "export-0001")
            .with_current_context()
            .with_project(PROJECT)
            .with_detail("format", "json")
            .with_input("exposure", exposure_digest)
            .with_output("bundle", Digest::of_bytes(export.as_bytes())),
    )?;
    tracing::info!(
        tenant = ctx.tenant_id.as_deref().unwrap_or("-"),
        "evaluation complete"
    );
    Ok(Response::new("{}".to_owned()))
}

/// The worker: restores the producer's trace from the job payload (a child span on a first
/// attempt), evaluates, and returns the decision's digest.
async fn worker(wire: String, emitter: Emitter) -> anyhow::Result<String> {
    let envelope: JobEnvelope<EvaluateJob> = serde_json::from_str(&wire)?;
    // `runner.execute`, a child of the API's span on a first attempt, with the job's metadata.
    let job = stella_telemetry::job_span(&envelope, RestoreMode::Auto);
    let outcome = job
        .clone()
        .instrument(async move {
            let job = &envelope.payload;
            emitter.emit(
                TimelineEvent::builder(EventKind::JobStarted, "job", "job-eval-0001")
                    .with_current_context()
                    .with_project(PROJECT)
                    .with_detail("job_type", "policy.evaluate"),
            )?;
            let span = tracing::info_span!("policy.evaluate", sbom_id = %job.sbom_id, policy_version = %job.policy_version);
            let _entered = span.enter();
            tracing::info!(components = 1, "evaluating");
            let started = std::time::Instant::now();
            let decision = format!(
                "{{\"effect\":\"deny\",\"rule\":\"no-critical-exploited\",\"sbom\":\"{}\"}}",
                job.sbom_digest
            );
            let decision_digest = Digest::of_bytes(decision.as_bytes());
            Journey::PolicyEvaluate.record(started.elapsed(), true, &[("size_class", "5k")]);
            Decision::policy(Effect::Deny)
                .with_reason("critical vulnerability with a known exploit")
                .with_policy_version(job.policy_version.clone())
                .with_rule_ids(["no-critical-exploited"])
                .with_resource(format!("sbom/{}", job.sbom_id))
                .emit();
            emitter.emit(
                TimelineEvent::builder(EventKind::PolicyEvaluated, "sbom", job.sbom_id.clone())
                    .with_current_context()
                    .with_project(PROJECT)
                    .with_detail("policy_version", job.policy_version.clone())
                    .with_detail("rule_ids", vec!["no-critical-exploited"])
                    .with_detail("decision", "deny")
                    .with_input("sbom", Digest::parse(&job.sbom_digest)?)
                    .with_output("decision", decision_digest.clone()),
            )?;
            emitter.emit(
                TimelineEvent::builder(EventKind::JobFinished, "job", "job-eval-0001")
                    .with_current_context()
                    .with_project(PROJECT)
                    .with_detail("job_type", "policy.evaluate")
                    .with_detail("duration_ms", 12),
            )?;
            Ok(decision_digest.as_str().to_owned())
        })
        .await;
    job.finish(outcome.is_ok());
    outcome
}

/// Two simulated hours of the shipped policy-evaluation SLO (P95 < 2 s): 60 healthy minutes,
/// then 60 minutes in which 70 % of evaluations are slow. Returns the alerts that fired.
fn simulate_slo(emitter: Emitter) -> anyhow::Result<Vec<String>> {
    let specs = spec::parse_str("policy-evaluation-latency.yaml", POLICY_SPEC)?;
    let slo = specs
        .slos
        .into_iter()
        .next()
        .context("the shipped spec holds one SLO")?;
    let mut evaluator = Evaluator::builder()
        .with_default_tenant(TENANT)
        .with_sink(TimelineSink::new(emitter))
        .build()?;
    let id = evaluator.add(slo)?;
    let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut fired = Vec::new();
    for minute in 0..120u64 {
        let slow = if minute < 60 { 10 } else { 700 };
        evaluator.record(id, Counts::new(1000 - slow, 1000)?);
        let report = evaluator.tick(start + Duration::from_secs(60 * (minute + 1)));
        for event in report.events {
            fired.push(format!(
                "minute {}: {} {} ({})",
                minute + 1,
                event.kind,
                event.rule,
                event.severity
            ));
        }
    }
    ensure!(
        !fired.is_empty(),
        "the slow burst must trip a burn-rate alert"
    );
    Ok(fired)
}

/// Checks the demo's output as an auditor would.
fn audit(
    cli: &TraceContext,
    logs: &Path,
    timeline: &Path,
    metrics: &Path,
    spans: &[ReceivedSpan],
) -> anyhow::Result<String> {
    let trace_id = cli.trace_id().to_string();

    // Every timeline event verifies; each step's output is the next step's input.
    let text = fs::read_to_string(timeline)?;
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut produced: Vec<String> = Vec::new();
    let mut linked = 0;
    for (n, line) in text.lines().enumerate() {
        let event =
            TimelineEvent::from_json(line).with_context(|| format!("timeline line {}", n + 1))?;
        event
            .verify()
            .with_context(|| format!("timeline line {}: digest", n + 1))?;
        ensure!(event.tenant_id() == TENANT, "event of another tenant");
        *kinds.entry(event.kind().as_str().to_owned()).or_default() += 1;
        for input in artifacts(&event, "inputs") {
            ensure!(
                produced.contains(&input),
                "{} reads {input}, which no earlier step produced",
                event.kind()
            );
            linked += 1;
        }
        produced.extend(artifacts(&event, "outputs"));
        if event.kind().as_str() != "slo.breach" && event.kind().as_str() != "slo.resolved" {
            ensure!(
                event.trace_id() == Some(trace_id.as_str()),
                "{} is not on the CLI's trace",
                event.kind()
            );
        }
    }
    ensure!(
        kinds.contains_key("slo.breach"),
        "no slo.breach in the timeline"
    );

    // Every log line is JSON; the request's lines carry the CLI's trace; no secret survived.
    let log_text = fs::read_to_string(logs)?;
    let mut lines = 0;
    let mut on_trace = 0;
    for (n, line) in log_text.lines().enumerate() {
        let value: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("log line {}", n + 1))?;
        lines += 1;
        if value["trace_id"] == trace_id.as_str() {
            on_trace += 1;
        }
    }
    for file in [&log_text, &text] {
        for secret in SECRETS {
            ensure!(!file.contains(secret), "a secret reached a file");
        }
    }
    ensure!(on_trace >= 5, "only {on_trace} log lines carry the trace");

    // The golden signals and the journey histogram are exposed; the last line is OpenMetrics' EOF.
    let exposition = fs::read_to_string(metrics)?;
    for series in [
        "http_server_request_duration_seconds_bucket",
        "stella_policy_evaluation_duration_seconds_bucket",
    ] {
        ensure!(exposition.contains(series), "{series} is not exposed");
    }
    ensure!(
        exposition.ends_with("# EOF\n"),
        "the exposition is not OpenMetrics"
    );
    // The journey histogram was observed inside the sampled job span: its exemplar names the
    // CLI's trace.
    let exemplar = format!("# {{trace_id=\"{trace_id}\"}}");
    ensure!(
        exposition.lines().any(|l| l
            .starts_with("stella_policy_evaluation_duration_seconds_bucket")
            && l.contains(&exemplar)),
        "no exemplar with the CLI's trace on the policy-evaluation histogram"
    );

    // The spans the collector received: the API's server span continues the CLI's request,
    // the worker's `runner.execute` is its child (through the job payload), `policy.evaluate`
    // is the worker's; all on the CLI's trace, scrubbed, with the service's resource.
    let named = |prefix: &str| {
        spans
            .iter()
            .find(|s| s.name.starts_with(prefix))
            .with_context(|| format!("no {prefix}* span among {} exported", spans.len()))
    };
    let (api, schedule, runner, policy) = (
        named("api.")?,
        named("orchestrator.schedule")?,
        named("runner.execute")?,
        named("policy.evaluate")?,
    );
    for s in spans {
        ensure!(
            s.trace_id == trace_id,
            "span {} is on another trace",
            s.name
        );
        ensure!(
            s.service == "stella-demo",
            "span {} has no service.name",
            s.name
        );
        let text = format!("{:?}", s.attributes);
        for secret in SECRETS {
            ensure!(!text.contains(secret), "a secret reached span {}", s.name);
        }
    }
    ensure!(api.kind == 2, "the API span is not a server span");
    ensure!(
        api.parent_span_id == cli.span_id().to_string(),
        "the API span's parent is not the CLI's request"
    );
    ensure!(
        schedule.parent_span_id == api.span_id,
        "orchestrator.schedule is not the API span's child"
    );
    ensure!(
        runner.parent_span_id == schedule.span_id,
        "runner.execute is not orchestrator.schedule's child"
    );
    ensure!(
        runner.attribute("job_id") == Some("job-eval-0001"),
        "runner.execute lacks the job's id"
    );
    ensure!(
        policy.parent_span_id == runner.span_id,
        "policy.evaluate is not runner.execute's child"
    );

    let kinds = kinds
        .iter()
        .map(|(k, n)| format!("{k} x{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(format!(
        "stella demo: timeline: {} events verified ({kinds}); {linked} chain-of-custody links by digest\n\
         stella demo: logs: {lines} JSON lines, {on_trace} on trace {trace_id}, 0 secrets\n\
         stella demo: traces: {} spans over OTLP/HTTP on trace {trace_id} ({} -> orchestrator.schedule -> runner.execute -> policy.evaluate), 0 secrets\n\
         stella demo: metrics: {} series in OpenMetrics form (golden signals, policy-evaluation journey), exemplar on trace {trace_id}",
        text.lines().count(),
        spans.len(),
        api.name,
        exposition.lines().filter(|l| !l.starts_with('#')).count()
    ))
}

fn artifacts(event: &TimelineEvent, key: &str) -> Vec<String> {
    event
        .details()
        .get(key)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.get("digest").and_then(|d| d.as_str()).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
