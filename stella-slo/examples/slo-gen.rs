//! Generates Prometheus rules and Grafana dashboards from SLO spec files.
//!
//! ```sh
//! cargo run -p stella-slo --example slo-gen -- collector-config/slo/specs collector-config/slo/generated
//! ```
//!
//! Reads every `*.yaml`/`*.yml` file in the spec directory (sorted by name) and writes, per
//! service, `<out>/prometheus/<service>.rules.yaml` and `<out>/grafana/<service>.json`.
//! Warnings go to standard error.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [specs_dir, out_dir] = args.as_slice() else {
        bail!("usage: slo-gen <spec dir> <output dir>");
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(specs_dir)
        .with_context(|| format!("reading {specs_dir}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut slos = Vec::new();
    for f in &files {
        let specs = stella_slo::spec::parse_file(f)?;
        for w in &specs.warnings {
            eprintln!("slo-gen: warning: {w}");
        }
        slos.extend(specs.slos);
    }
    let services: BTreeSet<String> = slos.iter().map(|s| s.service().to_owned()).collect();
    let out = Path::new(out_dir);
    std::fs::create_dir_all(out.join("prometheus"))?;
    std::fs::create_dir_all(out.join("grafana"))?;
    for service in &services {
        let mine: Vec<_> = slos
            .iter()
            .filter(|s| s.service() == service)
            .cloned()
            .collect();
        let rules = out.join("prometheus").join(format!("{service}.rules.yaml"));
        std::fs::write(&rules, stella_slo::rules::render(&mine))
            .with_context(|| format!("writing {}", rules.display()))?;
        let dash = out.join("grafana").join(format!("{service}.json"));
        std::fs::write(&dash, stella_slo::dashboard::render(service, &mine))
            .with_context(|| format!("writing {}", dash.display()))?;
    }
    eprintln!(
        "slo-gen: {} SLOs, {} services, written to {}",
        slos.len(),
        services.len(),
        out.display()
    );
    Ok(())
}
