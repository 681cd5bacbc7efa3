//! Every public type is Send + Sync (and the handles are cheap to share across threads).

fn is_send_sync<T: Send + Sync>() {}

#[test]
fn public_types_are_send_and_sync() {
    use stella_timeline_emit::*;
    is_send_sync::<TimelineEvent>();
    is_send_sync::<EventBuilder>();
    is_send_sync::<EventKind>();
    is_send_sync::<OtherKind>();
    is_send_sync::<Digest>();
    is_send_sync::<Verified>();
    is_send_sync::<Emitter>();
    is_send_sync::<EmitterBuilder>();
    is_send_sync::<Stats>();
    is_send_sync::<Sink>();
    is_send_sync::<FileSink>();
    is_send_sync::<FileSinkBuilder>();
    is_send_sync::<JournalConfig>();
    is_send_sync::<FsyncPolicy>();
    is_send_sync::<BuildError>();
    is_send_sync::<FieldError>();
    is_send_sync::<ParseError>();
    is_send_sync::<VerifyError>();
    is_send_sync::<DigestError>();
    is_send_sync::<KindError>();
    is_send_sync::<EmitError>();
    is_send_sync::<EmitterBuildError>();
    is_send_sync::<SinkError>();
    is_send_sync::<FlushError>();
    is_send_sync::<canonical::CanonicalError>();
    is_send_sync::<testing::MemorySink>();
    is_send_sync::<testing::PauseGuard>();
    is_send_sync::<testing::IngestServer>();
    is_send_sync::<testing::Behavior>();
    #[cfg(feature = "http")]
    {
        is_send_sync::<HttpSink>();
        is_send_sync::<HttpSinkBuilder>();
    }
    #[cfg(feature = "nats")]
    {
        is_send_sync::<NatsSink>();
        is_send_sync::<NatsSinkBuilder>();
    }
}
