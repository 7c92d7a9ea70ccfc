package sender

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the result label of wagate_sender_sends_total.
const (
	resultSent            = "sent"
	resultRetry           = "retry"            // the try failed; another is scheduled
	resultDeferred        = "deferred"         // the transport did not try yet (sender.Defer); no retry used
	resultUnavailable     = "unavailable"      // the transport did not try: the account cannot send now (sender.Unavailable); no retry used
	resultFailedPermanent = "failed_permanent" // the transport or the file download said another try cannot succeed
	resultFailedTransient = "failed_transient" // the try failed after the last retry of the schedule
	resultFailedAccount   = "failed_account"   // never reached a transport: account deleted or its transport missing
)

// Values of the outcome label of wagate_sender_recovered_total: what became
// of a message a stop caught in sending.
const (
	recoveredSent     = "sent"     // the transport confirmed it went out
	recoveredRequeued = "requeued" // the transport confirmed it did not: sent again
	recoveredFailed   = "failed"   // nobody can tell: failed and refunded
)

// metrics are the sender's Prometheus series. They always exist, so the code
// that updates them needs no nil checks; they are registered only when
// Config.Registerer is set. Queue depth is not here: the store knows it.
type metrics struct {
	sends        *prometheus.CounterVec
	workers      prometheus.Gauge
	gapDrawn     prometheus.Histogram
	gapActual    prometheus.Histogram
	gapError     prometheus.Histogram
	sendDuration prometheus.Histogram
	fetches      *prometheus.CounterVec
	fileBytes    prometheus.Gauge
	fileWait     prometheus.Histogram
	recovered    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, interval, jitter time.Duration) *metrics {
	gaps := gapBuckets(interval-jitter, interval+jitter)
	m := &metrics{
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "sender", Name: "sends_total",
			Help: "Tries of a message (a transport call, or a file download that failed), by result: sent, retry (another try is scheduled) or failed_*.",
		}, []string{"result"}),
		workers: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "wagate", Subsystem: "sender", Name: "active_workers",
			Help: "Accounts that have a worker now: sending, or waiting out the gap after their last send.",
		}),
		gapDrawn: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "wagate", Subsystem: "sender", Name: "gap_drawn_seconds",
			Help:    "Pauses drawn between two send starts of one account.",
			Buckets: gaps,
		}),
		gapActual: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "wagate", Subsystem: "sender", Name: "gap_actual_seconds",
			Help:    "Measured time between two send starts of one account, for sends that waited for their turn (idle time is not a gap).",
			Buckets: gaps,
		}),
		gapError: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "wagate", Subsystem: "sender", Name: "gap_error_seconds",
			Help:    "Pacing error of each send that waited for its turn: its start minus (the previous start + the gap drawn after it). Positive is late; a send is never started early, so negative values mean a clock step.",
			Buckets: gapErrorBuckets,
		}),
		sendDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "wagate", Subsystem: "sender", Name: "send_duration_seconds",
			Help:    "Time a transport took to send one message.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14), // 5 ms … 41 s
		}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "sender", Name: "file_downloads_total",
			Help: "Downloads of file_url attachments, by result (ok, error).",
		}, []string{"result"}),
		fileBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "wagate", Subsystem: "sender", Name: "file_bytes_held",
			Help: "Bytes of downloaded attachments held in memory (reserved at the size limit while a download runs).",
		}),
		fileWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "wagate", Subsystem: "sender", Name: "file_wait_seconds",
			Help:    "Time a send waited for its file after its turn came: near 0 when the file downloaded during the gap.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10), // 1 ms … 4.4 min
		}),
		recovered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "sender", Name: "recovered_total",
			Help: "Messages a stop caught in sending, by what became of them at the next start (sent, requeued, failed).",
		}, []string{"outcome"}),
	}
	// Every result shows from the start, at 0, so a rate() over it works
	// before the first failure.
	for _, r := range []string{resultSent, resultRetry, resultDeferred, resultFailedPermanent, resultFailedTransient, resultFailedAccount} {
		m.sends.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "error"} {
		m.fetches.WithLabelValues(r)
	}
	for _, o := range []string{recoveredSent, recoveredRequeued, recoveredFailed} {
		m.recovered.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.sends, m.workers, m.gapDrawn, m.gapActual, m.gapError, m.sendDuration, m.fetches, m.fileBytes, m.fileWait, m.recovered)
	}
	return m
}

// gapErrorBuckets are fine around 0, where the pacing goal is (SPEC §7:
// |error| ≤ 50 ms at p99): the gap histograms' buckets, an eighth of the
// jitter window, are too coarse to tell 20 ms from 90 ms.
var gapErrorBuckets = []float64{
	-0.5, -0.2, -0.1, -0.05, -0.02, -0.01, -0.005, -0.002, -0.001,
	0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5,
}

// gapBuckets spreads histogram buckets over the window [lo, hi] the gaps are
// drawn from, so the histogram shows the spread inside it, and adds a few
// above it, where a late send (a slow store, an overloaded machine) lands.
func gapBuckets(lo, hi time.Duration) []float64 {
	if hi <= 0 {
		return prometheus.DefBuckets
	}
	step := (hi - lo) / 8
	if step <= 0 {
		step = max(hi/20, 10*time.Millisecond)
	}
	var b []float64
	for v := lo - step; v <= hi+step; v += step {
		if v > 0 {
			b = append(b, v.Seconds())
		}
	}
	for _, f := range []time.Duration{2 * hi, 5 * hi} {
		if f.Seconds() > b[len(b)-1] {
			b = append(b, f.Seconds())
		}
	}
	return b
}
