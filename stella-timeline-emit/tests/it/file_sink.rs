//! NDJSON file sink.

use stella_timeline_emit::{Emitter, FileSink, FsyncPolicy, TimelineEvent};

use crate::support::{GUARD, assert_schema_valid_value, job_started, tmpdir};

#[test]
fn writes_one_valid_event_per_line_in_order() {
    let dir = tmpdir("file");
    let path = dir.join("events.ndjson");
    let sink = FileSink::builder()
        .with_path(&path)
        .with_fsync(FsyncPolicy::Always)
        .build()
        .unwrap();
    let emitter = Emitter::builder().with_sink(sink).build().unwrap();
    let ids: Vec<String> = (0..200)
        .map(|i| emitter.emit(job_started(i)).unwrap())
        .collect();
    emitter.shutdown(GUARD).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 200);
    for (line, id) in lines.iter().zip(&ids) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_schema_valid_value(&v);
        let e = TimelineEvent::from_json(line).unwrap();
        assert_eq!(e.event_id(), id);
    }
    assert_eq!(emitter.stats().delivered, 200);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unopenable_file_is_a_build_error() {
    assert!(
        FileSink::builder()
            .with_path("/nonexistent-dir/x/y.ndjson")
            .build()
            .is_err()
    );
}
