package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/wagate/wagate"
)

func TestParseRetain(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "0", want: 0},
		{in: "30d", want: 30 * 24 * time.Hour},
		{in: "1d", want: 24 * time.Hour},
		{in: "720h", want: 720 * time.Hour},
		{in: "36h30m", want: 36*time.Hour + 30*time.Minute},
		{in: "-1h", bad: true},
		{in: "-3d", bad: true},
		{in: "1.5d", bad: true},
		{in: "a month", bad: true},
		{in: "d", bad: true},
	} {
		got, err := parseRetain(tc.in)
		if tc.bad {
			if err == nil || !strings.Contains(err.Error(), "30d") {
				t.Errorf("parseRetain(%q) = %v, %v; want an error showing the form (30d)", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseRetain(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestRetainFlagEnvAndValidate(t *testing.T) {
	cfg := DefaultConfig()
	if cfg.Retain != 0 {
		t.Fatalf("default retain = %v, want 0 (keep forever)", cfg.Retain)
	}
	env := map[string]string{"WAGATE_RETAIN": "30d"}
	if err := parseFlags(newServeFlagSet(&cfg), nil, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if cfg.Retain != 30*24*time.Hour {
		t.Fatalf("WAGATE_RETAIN=30d gave %v", cfg.Retain)
	}
	if err := parseFlags(newServeFlagSet(&cfg), []string{"--retain", "48h"}, func(string) string { return "" }); err != nil || cfg.Retain != 48*time.Hour {
		t.Fatalf("--retain 48h gave %v, %v", cfg.Retain, err)
	}
	err := parseFlags(newServeFlagSet(&cfg), []string{"--retain", "soon"}, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "retain") {
		t.Errorf("--retain soon: error %v does not name the flag", err)
	}
	cfg = DefaultConfig()
	cfg.Retain = time.Hour
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--retain") || !strings.Contains(err.Error(), "1d") {
		t.Errorf("Validate with --retain 1h = %v; want an error naming --retain and the minimum (1d)", err)
	}
}

// fakePruner records the cut-off of each retention run.
type fakePruner struct {
	mu      sync.Mutex
	befores []time.Time
	errs    []error
}

func (p *fakePruner) PruneMessages(ctx context.Context, before time.Time) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.befores = append(p.befores, before)
	if len(p.errs) > 0 {
		err := p.errs[0]
		p.errs = p.errs[1:]
		return 0, err
	}
	return 1, nil
}

func (p *fakePruner) runs() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.befores...)
}

// Retention runs once at start and then every hour, each time cutting at
// now minus the retention; a failed run does not stop the next one.
func TestRetainRunsAtStartAndHourly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const keep = 30 * 24 * time.Hour
		p := &fakePruner{errs: []error{nil, wagate.Errorf(wagate.EUNAVAILABLE, "disk")}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		start := time.Now()
		go func() {
			defer close(done)
			retain(ctx, p, keep, zaptest.NewLogger(t))
		}()
		synctest.Wait()
		if runs := p.runs(); len(runs) != 1 || !runs[0].Equal(start.Add(-keep)) {
			t.Fatalf("at start: runs %v, want one cutting at %v", runs, start.Add(-keep))
		}
		time.Sleep(3 * RetainEvery) // the bubble's clock
		synctest.Wait()
		runs := p.runs()
		if len(runs) != 4 {
			t.Fatalf("after 3 h: %d runs, want 4 (the failed second one did not stop the rest)", len(runs))
		}
		for i, before := range runs {
			if want := start.Add(time.Duration(i)*RetainEvery - keep); !before.Equal(want) {
				t.Errorf("run %d cut at %v, want %v", i, before, want)
			}
		}
		cancel()
		<-done
		if n := len(p.runs()); n != 4 {
			t.Errorf("%d runs after the stop, want still 4", n)
		}
	})
}
