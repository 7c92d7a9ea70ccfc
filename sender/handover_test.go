package sender

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wagate/wagate"
)

// uploadingTransport spends upload[text] of (fake) time before it hands a
// message over, and reports that moment in Result.PostedAt, as the Cloud
// API transport does after uploading a file.
type uploadingTransport struct {
	fakeTransport
	upload map[string]time.Duration
	posted []time.Time
}

func (u *uploadingTransport) Send(ctx context.Context, acct *wagate.Account, m *wagate.Message, file *wagate.Attachment) (Result, error) {
	time.Sleep(u.upload[m.Text])
	posted := time.Now()
	u.mu.Lock()
	u.posted = append(u.posted, posted)
	u.mu.Unlock()
	res, err := u.fakeTransport.Send(ctx, acct, m, file)
	res.PostedAt = posted
	return res, err
}

// TestPaceRunsFromTheHandOver: when the transport hands a message over
// later than it was called (a slow upload), the account's next message, a
// plain text handed over at once, still reaches the provider at least
// interval−jitter after it.
func TestPaceRunsFromTheHandOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFakeQueue()
		ref := q.addAccount("ws1", "+15105566777", "", true)
		for _, text := range []string{"with a file", "to someone else", "a third"} {
			q.add(ref, text)
		}
		tr := &uploadingTransport{fakeTransport: fakeTransport{called: make(chan string, 3)}, upload: map[string]time.Duration{"with a file": 1500 * time.Millisecond}}
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		waitCalled(t, tr.called, 3)
		stop()

		tr.mu.Lock()
		defer tr.mu.Unlock()
		for i := 1; i < len(tr.posted); i++ {
			if gap := tr.posted[i].Sub(tr.posted[i-1]); gap < testInterval-testJitter {
				t.Errorf("hand-overs %d and %d are %v apart; the pace allows no less than %v", i-1, i, gap, testInterval-testJitter)
			}
		}
	})
}
