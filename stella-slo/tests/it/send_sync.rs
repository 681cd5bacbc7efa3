//! Every public type is Send + Sync.

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn public_types_are_send_and_sync() {
    use stella_slo::*;
    assert_send_sync::<AlertPolicy>();
    assert_send_sync::<AlertRule>();
    assert_send_sync::<AlertStatus>();
    assert_send_sync::<Bound>();
    assert_send_sync::<BreachEvent>();
    assert_send_sync::<BreachKind>();
    assert_send_sync::<Budget>();
    assert_send_sync::<Buckets>();
    assert_send_sync::<BuildError>();
    assert_send_sync::<CounterSource>();
    assert_send_sync::<Counts>();
    assert_send_sync::<CountsError>();
    assert_send_sync::<Evaluator>();
    assert_send_sync::<EvaluatorBuilder>();
    assert_send_sync::<EvaluatorError>();
    assert_send_sync::<EvaluatorHandle>();
    assert_send_sync::<Factor>();
    assert_send_sync::<IncidentAction>();
    assert_send_sync::<IncidentSignal>();
    assert_send_sync::<LatencySli>();
    assert_send_sync::<MatchOp>();
    assert_send_sync::<NumberError>();
    assert_send_sync::<Objective>();
    assert_send_sync::<PolicyError>();
    assert_send_sync::<RatioEvents>();
    assert_send_sync::<RatioSli>();
    assert_send_sync::<SampleError>();
    assert_send_sync::<Selector>();
    assert_send_sync::<Severity>();
    assert_send_sync::<Sli>();
    assert_send_sync::<SliError>();
    assert_send_sync::<Slo>();
    assert_send_sync::<SloBuilder>();
    assert_send_sync::<SloCounter>();
    assert_send_sync::<SloId>();
    assert_send_sync::<SloStatus>();
    assert_send_sync::<SourceError>();
    assert_send_sync::<StatusReport>();
    assert_send_sync::<SubjectError>();
    assert_send_sync::<TickReport>();
    assert_send_sync::<Window>();
    assert_send_sync::<WindowBurn>();
    assert_send_sync::<WindowError>();
    assert_send_sync::<WindowStatus>();
    assert_send_sync::<spec::SpecError>();
    assert_send_sync::<spec::SpecWarning>();
    assert_send_sync::<spec::Specs>();
    assert_send_sync::<replay::Replay>();
    assert_send_sync::<replay::ReplayError>();
    #[cfg(feature = "webhook")]
    {
        assert_send_sync::<webhook::WebhookSink>();
        assert_send_sync::<webhook::WebhookBuilder>();
        assert_send_sync::<webhook::WebhookStats>();
        assert_send_sync::<webhook::WebhookError>();
        assert_send_sync::<webhook::VerifyError>();
    }
    #[cfg(feature = "prometheus")]
    {
        assert_send_sync::<prometheus::PrometheusSource>();
        assert_send_sync::<prometheus::PrometheusBuilder>();
        assert_send_sync::<prometheus::PrometheusError>();
    }
    #[cfg(feature = "timeline")]
    assert_send_sync::<timeline::TimelineSink>();
}
