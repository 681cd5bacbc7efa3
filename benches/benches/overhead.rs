//! The overhead budget: CPU time per request of a reference HTTP service with full telemetry
//! on (JSON logs to a file, every trace exported as OTLP/HTTP to a loopback receiver, metrics
//! recorded) against the same service with telemetry off, in the same run.
//!
//! The service is `stella_context::ServerLayer` around a handler doing a fixed amount of CPU
//! work (about 200 µs, then about 1 ms), 10 log events, 5 spans (the ingress span and 4 inside
//! it) and 3 metric updates per request, driven in process (requests are built and the service
//! is called directly; its futures complete at once).
//!
//! Each mode runs in a process of its own (this binary, re-run with `--child`), with its
//! telemetry installed as a service installs it: `stella_telemetry::init` (or one global
//! dispatcher) set once, the handler's callsites registered with that one dispatcher; "off"
//! installs nothing. CPU time is the run time of every thread of that process, from the
//! scheduler's nanosecond count (`/proc/self/task/*/schedstat`, Linux; the 10 ms ticks of
//! `stat` where it is missing), so the writer and export threads count against us; their share
//! is printed apart. The loopback receiver runs in the parent. Rounds alternate the modes to
//! spread the machine's noise over all of them.
//!
//! Run: `cargo bench -p stella-benches --bench overhead` (about 90 s; `-- --profile full 2000`
//! runs one mode only, for `valgrind --tool=callgrind`; `-- --compare <other bench binary>`
//! measures this build against another, off and full, in alternation). Budget (issue 5):
//! < 5 % at 200 µs; target: < 1 % at 1 ms.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use stella_benches::{RECEIVER_THREAD, loopback_receiver};
use stella_context::ServerLayer;
use stella_telemetry::metrics::{self as m, InFlight};
use stella_telemetry::{Config, FileOutput, Sampling, TraceConfig};
use tower::{Layer as _, Service as _, ServiceExt as _};
use tracing_subscriber::layer::SubscriberExt as _;

#[path = "overhead/floor.rs"]
mod floor;

/// Rounds of each mode per work point; the modes alternate within a round.
const ROUNDS: usize = 5;
/// Off, registry only, logs only, logs + traces, full, peer, full with every event copied into
/// its span, the floor of a JSON layer on the registry, the same lines from a subscriber of
/// its own.
const MODE_COUNT: usize = 9;

/// CPU seconds of every thread but the receiver's, split into the calling thread's and the
/// background threads' (log writer, span exporter, housekeeping).
fn cpu_split() -> [f64; 2] {
    let mut total = [0.0; 2];
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return total;
    };
    let me = std::fs::read_link("/proc/thread-self").ok();
    for task in dir.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim() == RECEIVER_THREAD {
            continue;
        }
        let Some(seconds) = task_cpu_seconds(&path) else {
            continue;
        };
        let caller = me.as_deref().and_then(|m| m.file_name()) == path.file_name();
        total[usize::from(!caller)] += seconds;
    }
    total
}

/// CPU seconds of one thread (`/proc/.../task/<tid>`): the scheduler's run time in
/// nanoseconds (`schedstat`) where the kernel has it, else the user + system ticks of `stat`
/// (10 ms each, far coarser).
fn task_cpu_seconds(task: &std::path::Path) -> Option<f64> {
    if let Ok(sched) = std::fs::read_to_string(task.join("schedstat"))
        && let Some(ns) = sched
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
    {
        return Some(ns as f64 / 1e9);
    }
    let stat = std::fs::read_to_string(task.join("stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// A fixed amount of CPU work.
fn work(iterations: u64) -> u64 {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    for i in 0..iterations {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = x.wrapping_add(black_box(i));
    }
    x
}

/// CPU seconds of the calling thread.
fn thread_cpu_seconds() -> f64 {
    task_cpu_seconds(std::path::Path::new("/proc/thread-self")).unwrap_or(0.0)
}

/// Iterations of `work` that take about `target` of CPU time (measured in CPU time, not wall
/// time, so that a loaded machine does not shrink the work).
fn calibrate(target: Duration) -> u64 {
    let chunk = 1_000_000u64;
    let c0 = thread_cpu_seconds();
    let mut done = 0u64;
    while thread_cpu_seconds() - c0 < 0.5 {
        black_box(work(chunk));
        done += chunk;
    }
    let per = (thread_cpu_seconds() - c0) / done as f64;
    (target.as_secs_f64() / per) as u64
}

/// The handler: CPU work, 10 log events, 4 spans inside the ingress span, 3 metric updates.
fn handle(iterations: u64) -> u16 {
    let start = Instant::now();
    let _in_flight = InFlight::start("POST", "/tenants/{tenant}/evaluate");
    tracing::info!(sbom_id = "sbom-7f3c", "evaluation requested");
    let mut acc = 0;
    for (i, name) in [
        "sbom.load",
        "policy.evaluate",
        "advisory.match",
        "vex.apply",
    ]
    .iter()
    .enumerate()
    {
        let span = tracing::info_span!("step", otel.name = *name, step = i);
        let _e = span.enter();
        tracing::info!(components = 5_000_u64, "step started");
        acc ^= work(iterations / 4);
        tracing::info!(rules = 42_u64, "step finished");
    }
    metrics::counter!("stella.policy.decisions", "effect" => "allow").increment(1);
    tracing::info!(result = acc % 7, "evaluation done");
    m::record_http_request("POST", "/tenants/{tenant}/evaluate", 200, start.elapsed());
    200
}

fn run<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn requests(n: usize, iterations: u64) {
    let svc = tower::service_fn(move |_req: http::Request<()>| {
        let status = handle(iterations);
        std::future::ready(Ok::<_, std::convert::Infallible>(
            http::Response::builder()
                .status(status)
                .body(())
                .unwrap_or_default(),
        ))
    });
    let mut svc = ServerLayer::builder()
        .with_tenant_header(http::HeaderName::from_static("x-stella-tenant"))
        .build()
        .layer(svc);
    for _ in 0..n {
        let req = http::Request::builder()
            .method("POST")
            .uri("/tenants/acme/evaluate")
            .header("x-stella-tenant", "acme")
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .body(())
            .unwrap_or_default();
        let _ = run(async {
            let ready = svc.ready().await?;
            ready.call(req).await
        });
    }
}

/// The modes, in the order of the table's columns: off, registry only, logs only, logs +
/// traces, full, peer, full with every event copied into its span, the floor of a JSON layer
/// on the registry and the same lines from a subscriber of its own (`overhead/floor.rs`). The
/// names are `--profile`'s.
const MODES: [&str; MODE_COUNT] = [
    "off",
    "registry",
    "logs",
    "traces",
    "full",
    "peer",
    "full-all",
    "floor",
    "floor-own",
];

/// The index of "full" (logs, traces and metrics) in the modes.
const FULL: usize = 4;

/// What a mode installed, kept alive while it runs; `flush` empties its writers and exporters
/// so that their work is counted in the mode's CPU time.
struct Installed {
    flush: Box<dyn Fn()>,
    _keep: Box<dyn std::any::Any>,
}

/// Installs `mode` as this process's telemetry, the way a service does: one global `tracing`
/// dispatcher (and, for the modes with metrics, the global `metrics` recorder), set once. "off"
/// installs nothing, as in a service without telemetry.
fn install(mode: &str, url: &str, dir: &std::path::Path) -> Installed {
    let config = |file: &str| {
        Config::new("bench-service", "1.0.0")
            .with_file(FileOutput::new(dir.join(file)))
            .with_sampling(Sampling::unlimited())
    };
    let traces = || TraceConfig::new().with_endpoint(url);
    let global = |dispatch: tracing::Dispatch| {
        tracing::dispatcher::set_global_default(dispatch).expect("one global dispatcher");
    };
    let nothing = || Installed {
        flush: Box::new(|| {}),
        _keep: Box::new(()),
    };
    let guarded = |guard: stella_telemetry::TelemetryGuard| {
        let guard = std::sync::Arc::new(guard);
        let flushing = guard.clone();
        Installed {
            flush: Box::new(move || {
                let _ = flushing.flush();
            }),
            _keep: Box::new(guard),
        }
    };
    match mode {
        "off" => nothing(),
        // The floor of any `tracing` stack: the registry with no layer (spans stored, entered
        // and closed, events dispatched to nobody).
        "registry" => {
            global(tracing::Dispatch::new(tracing_subscriber::registry()));
            nothing()
        }
        // `build` and a global dispatcher, no metrics recorder.
        "logs" | "traces" => {
            let config = if mode == "logs" {
                config("logs.log")
            } else {
                config("traces.log").with_traces(traces())
            };
            let (dispatch, guard) = stella_telemetry::build(config).expect("telemetry");
            global(dispatch);
            guarded(guard)
        }
        // `init`, as a service calls it: the global dispatcher, metrics recorder, propagator,
        // tracer provider and head sampler. "full" copies warn and error lines into spans as
        // span events (the default; every line carries its span's ids); "full-all" copies
        // every line, as `tracing-opentelemetry` does: what the default saves.
        "full" | "full-all" => {
            let traces = if mode == "full" {
                traces()
            } else {
                traces().with_span_event_level(tracing::Level::TRACE)
            };
            let guard =
                stella_telemetry::init(config("service.log").with_traces(traces)).expect("init");
            guarded(guard)
        }
        // What a team assembles from the ecosystem for the same job, without scrubbing:
        // `fmt().json()` through `tracing-appender`'s non-blocking writer to a file, and
        // `tracing-opentelemetry` on the OpenTelemetry SDK exporting every span as OTLP/HTTP to
        // the same loopback receiver. No metrics recorder (compare with "logs + traces").
        "peer" => {
            let (writer, writer_guard) = tracing_appender::non_blocking(
                std::fs::File::create(dir.join("peer.log")).expect("peer log file"),
            );
            let provider = stella_benches::peer::tracer_provider(url, "bench-service");
            global(tracing::Dispatch::new(
                tracing_subscriber::registry()
                    .with(tracing_subscriber::EnvFilter::new("info"))
                    .with(tracing_subscriber::fmt::layer().json().with_writer(writer))
                    .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"))),
            ));
            let flushing = provider.clone();
            Installed {
                flush: Box::new(move || {
                    let _ = flushing.force_flush();
                }),
                _keep: Box::new((provider, writer_guard)),
            }
        }
        // The least a JSON layer on the registry does (no scrubbing, escaping, schema, ids,
        // traces or metrics): a lower bound for any implementation on this architecture.
        "floor" => {
            let (layer, flush) = floor::Floor::new(&dir.join("floor.log"));
            global(tracing::Dispatch::new(
                tracing_subscriber::registry().with(layer),
            ));
            Installed {
                flush,
                _keep: Box::new(()),
            }
        }
        // The same lines from a subscriber of its own: what leaving the registry could save.
        "floor-own" => {
            let (subscriber, flush) = floor::OwnFloor::new(&dir.join("floor-own.log"));
            global(tracing::Dispatch::new(subscriber));
            Installed {
                flush,
                _keep: Box::new(()),
            }
        }
        other => panic!("unknown mode {other}; one of {MODES:?}"),
    }
}

/// `--profile <mode> <requests> [<iterations>]`: only that mode, installed as a service
/// installs it, a fixed amount of work per request (1 000 iterations of `work` unless given),
/// no calibration and no timing, for a profiler (`valgrind --tool=callgrind`, `perf record`).
///
/// `--child <mode> <requests> <iterations> <url>`: one timed run of a mode, for the parent
/// process: warms up, runs the requests, flushes, and prints the calling thread's and the
/// background threads' CPU seconds.
fn single_mode(flag: &str) -> Option<(String, usize, u64, Option<String>)> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == flag)?;
    let mode = args.get(i + 1)?.clone();
    let n = args
        .get(i + 2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000);
    let iterations = args
        .get(i + 3)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000);
    Some((mode, n, iterations, args.get(i + 4).cloned()))
}

/// A temporary directory for one process's log files, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("stella-overhead-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // `STELLA_BENCH_KEEP=1` keeps the log files, to look at what a mode wrote.
        if std::env::var_os("STELLA_BENCH_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The child's side of one timed run (see [`single_mode`]).
fn child(mode: &str, n: usize, iterations: u64, url: &str) {
    let dir = TempDir::new();
    let installed = install(mode, url, &dir.0);
    // Warm-up: callsites registered, pools and buffers grown, the exporter connected.
    requests(n / 10, iterations);
    (installed.flush)();
    let s0 = cpu_split();
    requests(n, iterations);
    (installed.flush)();
    let s1 = cpu_split();
    println!("{} {}", s1[0] - s0[0], s1[1] - s0[1]);
    drop(installed);
}

/// Runs one mode in a child process of this binary and returns its CPU seconds (calling
/// thread, background threads).
fn run_child(mode: &str, n: usize, iterations: u64, url: &str) -> [f64; 2] {
    let exe = std::env::current_exe().expect("the bench binary");
    run_child_of(&exe, mode, n, iterations, url)
}

/// [`run_child`] with the bench binary `exe` (this one, or another build's).
fn run_child_of(
    exe: &std::path::Path,
    mode: &str,
    n: usize,
    iterations: u64,
    url: &str,
) -> [f64; 2] {
    let out = std::process::Command::new(exe)
        .args([
            "--child",
            mode,
            &n.to_string(),
            &iterations.to_string(),
            url,
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("child run");
    assert!(out.status.success(), "mode {mode} failed: {}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut v = text
        .split_whitespace()
        .filter_map(|x| x.parse::<f64>().ok());
    [v.next().unwrap_or(0.0), v.next().unwrap_or(0.0)]
}

/// The timed rounds at both work points, and their tables. Each mode runs in a process of its
/// own, with its telemetry installed globally as a service installs it; the modes alternate
/// within a round.
fn timed(url: &str) {
    println!(
        "| work per request | requests per round | CPU/request off | registry only | logs only | logs + traces | logs + traces + metrics (full) | peer: fmt json + tracing-opentelemetry | full, every event copied into spans | floor: a JSON layer doing the least | the floor's lines from a subscriber of its own | overhead (full) | overhead (peer) | overhead (full, every event copied) | overhead (floor) | overhead (floor, own subscriber) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut split = Vec::new();
    let mut spread = Vec::new();
    for (label, target, n) in [
        ("~200 µs", Duration::from_micros(200), 5_000usize),
        ("~1 ms", Duration::from_millis(1), 1_000usize),
    ] {
        let iterations = calibrate(target);
        let mut cpu = [0.0f64; MODE_COUNT];
        let mut background = [0.0f64; MODE_COUNT];
        // Full against off, round by round: the spread of the overhead.
        let mut per_round = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let mut round = [0.0f64; MODE_COUNT];
            for (i, mode) in MODES.iter().enumerate() {
                let [calling, bg] = run_child(mode, n, iterations, url);
                round[i] = calling + bg;
                cpu[i] += round[i];
                background[i] += bg;
            }
            per_round.push((round[FULL] / round[0] - 1.0) * 100.0);
        }
        per_round.sort_by(f64::total_cmp);
        // The modes' CPU per request, as table cells.
        let cells = |c: &[f64; MODE_COUNT]| {
            c.iter()
                .map(|c| format!("{:.1} µs", c / (ROUNDS * n) as f64 * 1e6))
                .collect::<Vec<_>>()
                .join(" | ")
        };
        println!(
            "| {label} | {n} | {} | {:+.1} % | {:+.1} % | {:+.1} % | {:+.1} % | {:+.1} % |",
            cells(&cpu),
            (cpu[FULL] / cpu[0] - 1.0) * 100.0,
            (cpu[5] / cpu[0] - 1.0) * 100.0,
            (cpu[6] / cpu[0] - 1.0) * 100.0,
            (cpu[7] / cpu[0] - 1.0) * 100.0,
            (cpu[8] / cpu[0] - 1.0) * 100.0
        );
        split.push(format!("| {label} | {} |", cells(&background)));
        spread.push(format!(
            "{label}: full against off per round, lowest {:+.1} %, median {:+.1} %, highest {:+.1} %",
            per_round.first().copied().unwrap_or(0.0),
            per_round.get(per_round.len() / 2).copied().unwrap_or(0.0),
            per_round.last().copied().unwrap_or(0.0),
        ));
    }
    println!(
        "\nOf which background threads (log writer, span exporter, housekeeping, the peer's \
         appender and batch processor, the floor's writer), CPU per request:\n\n\
         | work per request | off | registry only | logs only | logs + traces | full | peer | full, every event copied | floor | floor, own subscriber |\n\
         |---|---|---|---|---|---|---|---|---|---|"
    );
    for row in &split {
        println!("{row}");
    }
    println!();
    for line in &spread {
        println!("{line}");
    }
}

/// `--compare <other bench binary> [<rounds>]`: this build against another build of this
/// bench (for example one built in a worktree of an earlier commit), off and full only, at
/// ~200 µs, alternating build by build and round by round (20 rounds of 3 000 requests unless
/// given): the pairwise A/B that the noise of a shared machine needs to show a change of a few
/// µs.
fn compare(other: &std::path::Path, rounds: usize, url: &str) {
    let this = std::env::current_exe().expect("the bench binary");
    let builds = [("this build", this.as_path()), ("the other", other)];
    let iterations = calibrate(Duration::from_micros(200));
    let n = 3_000;
    // Per build: CPU per request off and full, and the background threads' share in full.
    let mut cpu = [[0.0f64; 3]; 2];
    let mut per_round: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        for k in 0..2 {
            // Which build goes first alternates too.
            let b = if round % 2 == 0 { k } else { 1 - k };
            let off = run_child_of(builds[b].1, "off", n, iterations, url);
            let full = run_child_of(builds[b].1, "full", n, iterations, url);
            let (off, full_total) = (off[0] + off[1], full[0] + full[1]);
            cpu[b][0] += off;
            cpu[b][1] += full_total;
            cpu[b][2] += full[1];
            per_round[b].push((full_total / off - 1.0) * 100.0);
        }
    }
    println!(
        "| build | CPU/request off | full | overhead | per round: lowest, median, highest | background threads, full |\n|---|---|---|---|---|---|"
    );
    for (b, (name, _)) in builds.iter().enumerate() {
        let us = |c: f64| c / (rounds * n) as f64 * 1e6;
        let rounds = &mut per_round[b];
        rounds.sort_by(f64::total_cmp);
        println!(
            "| {name} | {:.1} µs | {:.1} µs | {:+.1} % ({:.1} µs) | {:+.1} %, {:+.1} %, {:+.1} % | {:.1} µs |",
            us(cpu[b][0]),
            us(cpu[b][1]),
            (cpu[b][1] / cpu[b][0] - 1.0) * 100.0,
            us(cpu[b][1] - cpu[b][0]),
            rounds.first().copied().unwrap_or(0.0),
            rounds.get(rounds.len() / 2).copied().unwrap_or(0.0),
            rounds.last().copied().unwrap_or(0.0),
            us(cpu[b][2]),
        );
    }
}

fn main() {
    if let Some((mode, n, iterations, Some(url))) = single_mode("--child") {
        child(&mode, n, iterations, &url);
        return;
    }
    let url = loopback_receiver().expect("loopback receiver");
    if let Some((mode, n, iterations, _)) = single_mode("--profile") {
        let dir = TempDir::new();
        let installed = install(&mode, &url, &dir.0);
        requests(n, iterations);
        (installed.flush)();
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--compare") {
        let other = args.get(i + 1).expect("--compare <other bench binary>");
        let rounds = args.get(i + 2).and_then(|r| r.parse().ok()).unwrap_or(20);
        compare(std::path::Path::new(other), rounds, &url);
        return;
    }
    timed(&url);
}
