//! Every public type is `Send + Sync` (except the guard, which must stay on its thread).

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn public_types_are_send_and_sync() {
    use stella_context::*;
    assert_send_sync::<TraceId>();
    assert_send_sync::<SpanId>();
    assert_send_sync::<TraceFlags>();
    assert_send_sync::<TraceParent>();
    assert_send_sync::<TraceState>();
    assert_send_sync::<Baggage>();
    assert_send_sync::<TraceContext>();
    assert_send_sync::<RequestContext>();
    assert_send_sync::<CurrentContext>();
    assert_send_sync::<ParseError>();
    assert_send_sync::<WithContext<std::future::Ready<()>>>();
    assert_send_sync::<JobEnvelope<Vec<u8>>>();
    assert_send_sync::<JobTrace>();
    assert_send_sync::<JobMeta>();
    assert_send_sync::<RestoreMode>();
    assert_send_sync::<Restored>();
    assert_send_sync::<carrier::Field>();
    assert_send_sync::<stella_context::sampling::SamplingInput<'static>>();
    assert_send_sync::<std::sync::Arc<dyn stella_context::sampling::HeadSampler>>();
    #[cfg(feature = "tower")]
    {
        use stella_context::tower::*;
        assert_send_sync::<ServerLayer>();
        assert_send_sync::<ServerLayerBuilder>();
        assert_send_sync::<Server<()>>();
        assert_send_sync::<ClientLayer>();
        assert_send_sync::<Client<()>>();
        assert_send_sync::<ServerResponseFuture<std::future::Ready<()>>>();
        assert_send_sync::<ClientResponseFuture<std::future::Ready<()>>>();
        assert_send_sync::<AuthDecision>();
        assert_send_sync::<AuthOutcome>();
        assert_send_sync::<IngressSpan>();
        assert_send_sync::<Route>();
        assert_send_sync::<DefaultRoute>();
    }
    #[cfg(feature = "subscriber")]
    assert_send_sync::<stella_context::subscriber::ContextLayer>();
}
