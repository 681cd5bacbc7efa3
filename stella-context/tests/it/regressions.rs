//! Inputs that once crashed or misbehaved (`tests/data/regressions/issue-*`): every parser must
//! take them without panicking, and what parses must format back to itself.

use stella_context::{Baggage, TraceParent, TraceState};

#[test]
fn regression_inputs() {
    let dir = format!("{}/tests/data/regressions", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        if let Ok(tp) = TraceParent::parse_bytes(&bytes) {
            assert_eq!(tp.to_string().parse::<TraceParent>().unwrap(), tp);
        }
        if let Ok(ts) = TraceState::parse_bytes(&bytes) {
            assert_eq!(ts.as_str().parse::<TraceState>().unwrap(), ts);
        }
        let bag = Baggage::parse_lossy(&bytes);
        assert_eq!(Baggage::parse_lossy(bag.as_str().as_bytes()), bag);
        seen += 1;
    }
    assert!(seen > 0);
}
