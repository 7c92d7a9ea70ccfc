package gateway

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's Prometheus collectors. Labels are bounded: route
// templates, status codes and error codes, never tokens or workspace ids.
type metrics struct {
	requests *prometheus.CounterVec   // by route and status
	duration *prometheus.HistogramVec // by route
	accepted prometheus.Counter       // inbound messages accepted (replays excluded)
	rejected *prometheus.CounterVec   // inbound answers other than 200, by error code
}

func newMetrics(reg *prometheus.Registry) *metrics {
	return &metrics{
		requests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests by route template and status code.",
		}, []string{"route", "code"})),
		duration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "wagate", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "HTTP request duration by route template.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"})),
		accepted: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "inbound", Name: "accepted_total",
			Help: "Inbound requests accepted as new messages (idempotent replays excluded).",
		})),
		rejected: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "inbound", Name: "rejected_total",
			Help: "Inbound requests not accepted, by wagate error code.",
		}, []string{"error"})),
	}
}

// register adds c to reg, or returns the collector already registered under
// the same name, so that two Servers can share one registry.
func register[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a programming error: two different metrics, one name
	}
	return c
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}
