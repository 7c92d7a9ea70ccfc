package outbound

import "github.com/prometheus/client_golang/prometheus"

// metrics are the deliverer's Prometheus series. They always exist, so the
// code that updates them needs no nil checks; they are registered only
// when Config.Registerer is set.
type metrics struct {
	deliveries *prometheus.CounterVec
	tests      *prometheus.CounterVec
	inFlight   prometheus.Gauge
	disabled   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "outbound", Name: "attempts_total",
			Help: "Delivery attempts to endpoints, by what the delivery became: succeeded, pending (a retry is scheduled) or failed (no retry left).",
		}, []string{"result"}),
		tests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "outbound", Name: "test_sends_total",
			Help: "Test sends from the API, by result: succeeded or failed.",
		}, []string{"result"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "wagate", Subsystem: "outbound", Name: "in_flight",
			Help: "Delivery attempts under way, over all endpoints.",
		}),
		disabled: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "outbound", Name: "endpoints_disabled_total",
			Help: "Endpoints wagate disabled: a 410 Gone, or 5 days of nothing but failures.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.deliveries, m.tests, m.inFlight, m.disabled)
	}
	return m
}
