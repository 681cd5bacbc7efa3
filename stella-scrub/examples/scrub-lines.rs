//! Scrubs standard input line by line.
//!
//! ```sh
//! cargo run --release -p stella-scrub --example scrub-lines -- [--repo-root DIR] [--jsonl]
//! ```
//!
//! Plain mode scrubs each line as one free-text value. `--jsonl` reads each line as a JSON
//! value and writes it back with every string scrubbed (object keys used as field names); a
//! malformed line gets a one-line error on standard error and `null` on standard output, and
//! processing continues. One output line per input line, always.

use std::io::{self, BufRead, BufWriter, Write};

use anyhow::{Context, bail};
use stella_scrub::Scrubber;

fn main() -> anyhow::Result<()> {
    let mut repo_root: Option<String> = None;
    let mut jsonl = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--jsonl" => jsonl = true,
            "--repo-root" => {
                repo_root = Some(args.next().context("--repo-root needs a directory")?)
            }
            s if s.starts_with("--repo-root=") => {
                repo_root = Some(s["--repo-root=".len()..].to_owned())
            }
            "-h" | "--help" => {
                println!("usage: scrub-lines [--repo-root DIR] [--jsonl] < input > output");
                return Ok(());
            }
            other => {
                bail!("unknown argument `{other}` (usage: scrub-lines [--repo-root DIR] [--jsonl])")
            }
        }
    }
    let mut builder = Scrubber::builder();
    if let Some(root) = repo_root {
        let abs =
            std::path::absolute(&root).with_context(|| format!("resolving --repo-root {root}"))?;
        builder = builder.with_repo_root(abs.to_string_lossy().into_owned());
    }
    let scrubber = builder.build().context("building the scrubber")?;

    let stdin = io::stdin();
    let mut input = stdin.lock();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut raw = Vec::new();
    let mut buf = String::new();
    let mut line_no = 0u64;
    loop {
        raw.clear();
        if input
            .read_until(b'\n', &mut raw)
            .context("reading standard input")?
            == 0
        {
            break;
        }
        line_no += 1;
        while matches!(raw.last(), Some(b'\n' | b'\r')) {
            raw.pop();
        }
        let line = String::from_utf8_lossy(&raw);
        buf.clear();
        if jsonl {
            match serde_json::from_str::<serde_json::Value>(&line) {
                Ok(v) => buf.push_str(
                    &serde_json::to_string(&scrubber.scrub_json(&v)).context("encoding JSON")?,
                ),
                Err(e) => {
                    eprintln!("scrub-lines: line {line_no}: malformed JSON: {e}");
                    buf.push_str("null");
                }
            }
        } else {
            scrubber.scrub_into(&line, &mut buf);
            // A scrubbed line stays one line.
            if buf.contains(['\n', '\r']) {
                buf = buf.replace(['\n', '\r'], " ");
            }
        }
        buf.push('\n');
        out.write_all(buf.as_bytes())
            .context("writing standard output")?;
    }
    out.flush().context("flushing standard output")?;
    Ok(())
}
