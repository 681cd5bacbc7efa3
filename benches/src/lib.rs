//! Workspace benchmarks (no library code): see `README.md` for every bench of the workspace,
//! how to run it, what it compares against and the latest figures.
#![forbid(unsafe_code)]
