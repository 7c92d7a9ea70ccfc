package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/wagate/wagate/store"
)

// RetainEvery is how often `serve --retain` deletes the messages past the
// retention (and once at start). Each run commits in bounded batches
// (store.PruneBatch), so the writer is never held for long.
const RetainEvery = time.Hour

// parseRetain reads --retain: a Go duration ("720h") or a whole number of
// days with a d suffix ("30d"); "0" (the default) keeps messages forever.
func parseRetain(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100*365 {
			return 0, fmt.Errorf("%q is not a number of days; use e.g. 30d, or a duration such as 720h, or 0 to keep messages forever", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration; use e.g. 30d or 720h, or 0 to keep messages forever", s)
	}
	return d, nil
}

// formatRetain shows a retention as --retain takes it.
func formatRetain(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

// pruner is the store's retention step (store.DB.PruneMessages).
type pruner interface {
	PruneMessages(ctx context.Context, before time.Time) (int, error)
}

// retain deletes, once at start and then every RetainEvery until ctx is
// done, the messages final for longer than keep. A failed run is logged
// and the next one tries again: retention is housekeeping, never a reason
// to stop serving.
func retain(ctx context.Context, db pruner, keep time.Duration, log *zap.Logger) {
	t := time.NewTicker(RetainEvery)
	defer t.Stop()
	for {
		before := time.Now().Add(-keep)
		if n, err := db.PruneMessages(ctx, before); err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("retention: cannot delete old messages; trying again at the next run", zap.Error(err), zap.Duration("in", RetainEvery))
		} else if n > 0 {
			log.Info("retention: deleted messages final for longer than --retain", zap.Int("messages", n), zap.String("retain", formatRetain(keep)))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

var _ pruner = (*store.DB)(nil)
