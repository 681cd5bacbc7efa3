//! Replays a per-minute SLO scenario through the burn-rate math, for checking it against an
//! external reference implementation.
//!
//! ```sh
//! cargo run -p stella-slo --example slo-replay < scenario.json
//! ```
//!
//! The scenario format and the output (one JSON line per evaluation) are described in
//! `stella_slo::replay`. A malformed scenario gets a one-line error on standard error and exit
//! status 1; warnings (a latency threshold that is not a bucket bound) go to standard error too.

use std::io::{Read, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("slo-replay: cannot read standard input: {e}");
        return ExitCode::FAILURE;
    }
    match stella_slo::replay::run(&input) {
        Ok(out) => {
            for w in &out.warnings {
                eprintln!("slo-replay: warning: {w}");
            }
            let mut stdout = std::io::stdout().lock();
            for line in &out.lines {
                if writeln!(stdout, "{line}").is_err() {
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("slo-replay: {e}");
            ExitCode::FAILURE
        }
    }
}
