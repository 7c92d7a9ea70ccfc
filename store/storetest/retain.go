package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

// Pruner is retention (serve --retain): messages final before before are
// deleted, and how many is returned.
type Pruner interface {
	PruneMessages(ctx context.Context, before time.Time) (int, error)
}

// RetentionStore is what RunRetention needs: messages to prune.
type RetentionStore interface {
	MessageStore
	Pruner
}

// RunRetention runs the behaviours of retention that need no send queue:
// which messages go, by when they became final, and which stay. That the
// credits of pruned sent messages still add up is each backend's audit
// (bbolt's meta counter, PostgreSQL's workspaces.pruned_credits): the
// interfaces do not show it.
func RunRetention[S RetentionStore](t *testing.T, h Harness[S]) {
	run(t, h, "retention", retentionBehaviours[S]())
}

func retentionBehaviours[S RetentionStore]() []behaviour[S] {
	return []behaviour[S]{
		{"retention deletes the messages final before the cut, and keeps queued ones and those final since", func(t *testing.T, f *fixture[S]) {
			w := newMessageWorld(f, 10)
			old := w.queued(jidA, 1)
			lateCancel := w.queued(jidA, 1) // accepted early, final only after the cut
			waiting := w.queued(jidB, 1)
			_, err := cancelMessage(f, w.ws.ID, old.ID, f.clock.Now())
			must(t, err, "CancelMessage")
			f.clock.Advance(2 * time.Hour)
			cut := f.clock.Now().Add(-time.Hour)
			_, err = cancelMessage(f, w.ws.ID, lateCancel.ID, f.clock.Now())
			must(t, err, "CancelMessage")
			recent := w.queued(jidA, 1)
			_, err = cancelMessage(f, w.ws.ID, recent.ID, f.clock.Now())
			must(t, err, "CancelMessage")
			other := newWorkspace(t, f.ctx, f.s, 10)
			w.account(other.ID, phone1, true)

			n, err := f.s.PruneMessages(f.ctx, cut)
			must(t, err, "PruneMessages")
			if n != 1 {
				t.Errorf("PruneMessages deleted %d messages, want the one cancelled before the cut", n)
			}
			_, err = f.s.FindMessage(f.ctx, w.ws.ID, old.ID)
			wantCode(t, err, wagate.ENOTFOUND, "FindMessage of the pruned message")
			for _, id := range []string{lateCancel.ID, waiting.ID, recent.ID} {
				w.message(id) // fails the behaviour when it is gone
			}
			equalIDs(t, msgIDs(w.messages()), recent.ID, waiting.ID, lateCancel.ID)
			if got := w.balance(); got != 9 {
				t.Errorf("balance %d, want 9: pruning a failed message changes no credits", got)
			}
			f.reopen()
			if n, err := f.s.PruneMessages(f.ctx, cut); err != nil || n != 0 {
				t.Errorf("PruneMessages again = %d, %v; want nothing left to delete", n, err)
			}
		}},
		{"retention walks more messages than one batch", func(t *testing.T, f *fixture[S]) {
			const n = 510 // more than a batch of either backend (500)
			w := newMessageWorld(f, n)
			keep := w.queued(jidB, 0)
			for range n {
				m := w.queued(jidA, 1)
				_, err := cancelMessage(f, w.ws.ID, m.ID, f.clock.Now())
				must(t, err, "CancelMessage")
			}
			f.clock.Advance(time.Hour)
			got, err := f.s.PruneMessages(f.ctx, f.clock.Now())
			must(t, err, "PruneMessages")
			if got != n {
				t.Errorf("PruneMessages deleted %d messages, want %d", got, n)
			}
			equalIDs(t, msgIDs(w.messages()), keep.ID)
		}},
	}
}
