package main

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagate/wagate"
)

// waitingCounter is what the waiting gauge reads: store.DB.WaitingCounts.
type waitingCounter interface {
	WaitingCounts(ctx context.Context) (map[string]int, error)
}

// waitingCollector exports wagate_messages_waiting{reason}: the queued
// messages that wait for their send_at or a careful-sending rule (SPEC
// §2), read from the store's counters at each scrape, so an operator sees
// a daily limit or quiet hours holding a backlog.
type waitingCollector struct {
	db   waitingCounter
	desc *prometheus.Desc
}

func newWaitingCollector(db waitingCounter) *waitingCollector {
	return &waitingCollector{db: db, desc: prometheus.NewDesc("wagate_messages_waiting",
		"Queued messages waiting for a reason other than their turn: scheduled (send_at), daily_limit, quiet_hours.",
		[]string{"reason"}, nil)}
}

func (c *waitingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *waitingCollector) Collect(ch chan<- prometheus.Metric) {
	counts, err := c.db.WaitingCounts(context.Background())
	for _, reason := range []string{wagate.WaitingScheduled, wagate.WaitingDailyLimit, wagate.WaitingQuietHours} {
		v := float64(counts[reason])
		if err != nil {
			v = -1 // the store is failing, not empty
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, reason)
	}
}
