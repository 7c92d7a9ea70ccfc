package sender

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wagate/wagate"
)

// listingLeasingQueue is a leasingQueue that can also list every account
// (AccountLister), as the PostgreSQL store can: with a Leaser, Run must
// still not start the sessions of every account it lists.
type listingLeasingQueue struct{ *leasingQueue }

func (q listingLeasingQueue) AllAccounts(ctx context.Context) ([]*wagate.Account, error) {
	return listingQueue{q.fakeQueue}.AllAccounts(ctx)
}

func (t *sessionTransport) starts() []string {
	t.smu.Lock()
	defer t.smu.Unlock()
	return slices.Clone(t.started)
}

// TestLeaserSessionsFollowTheLease: with replicas, an account's session
// (one WhatsApp Web connection per device) runs only on the replica that
// holds the account's lease: it starts when the lease is claimed, also
// for an account with nothing to send, and stops when the lease is lost,
// and at the stop before the leases are released. A replica without the
// lease starts none, neither at Run nor when told the account changed.
func TestLeaserSessionsFollowTheLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lq := newLeasingQueue()
		q := listingLeasingQueue{lq}
		mine := lq.addAccount("ws1", "+15105550001", "", true)
		theirs := lq.addAccount("ws1", "+15105550002", "", true)
		lq.hold(mine, time.Time{}, 0)
		tr := newSessionTransport()
		tr.up[mine.Phone], tr.up[theirs.Phone] = true, true
		s, _ := newTestSender(t, q, tr)
		stop := startRun(t, s)
		synctest.Wait()
		if got := tr.starts(); !slices.Equal(got, []string{mine.Phone}) {
			t.Fatalf("StartAccount for %v after the first lease round, want only the held idle account %s", got, mine.Phone)
		}

		// Told that the other account changed (activated on this replica):
		// still not its session to hold.
		s.AccountChanged(theirs)
		synctest.Wait()
		if got := tr.starts(); !slices.Equal(got, []string{mine.Phone}) {
			t.Fatalf("StartAccount for %v after AccountChanged of an account held elsewhere, want none more", got)
		}

		// The leases move: this replica loses one and takes the other over.
		lq.lose(mine)
		lq.hold(theirs, time.Time{}, 0)
		time.Sleep(DefaultLeaseEvery)
		synctest.Wait()
		if got := tr.stops(); !slices.Equal(got, []wagate.AccountRef{mine}) {
			t.Fatalf("StopAccount calls %v after the lease round, want the lost account %v", got, mine)
		}
		if got := tr.starts(); !slices.Equal(got, []string{mine.Phone, theirs.Phone}) {
			t.Fatalf("StartAccount for %v after the lease round, want the account taken over %s too", got, theirs.Phone)
		}

		// The account taken over sends through its session.
		id := lq.add(theirs, "hello")
		s.Wake(theirs)
		synctest.Wait()
		if st := lq.status(id); st != wagate.StatusSent {
			t.Errorf("message of the account taken over is %s, want sent", st)
		}

		stop()
		if got := tr.stops(); !slices.Equal(got, []wagate.AccountRef{mine, theirs}) {
			t.Errorf("StopAccount calls %v after Run returned, want the held account's session stopped too", got)
		}
		lq.lmu.Lock()
		defer lq.lmu.Unlock()
		if lq.released != 1 {
			t.Errorf("Release called %d times, want 1", lq.released)
		}
	})
}

// TestLeaserLostAtMarkSendingStopsSession: a worker told by MarkSending
// that the lease moved stops the account's session at once, before the
// next lease round: the new holder connects the device.
func TestLeaserLostAtMarkSendingStopsSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lq := newLeasingQueue()
		ref := lq.addAccount("ws1", "+15105550001", "", true)
		lq.hold(ref, time.Time{}, 0)
		tr := newSessionTransport()
		tr.up[ref.Phone] = true
		s, _ := newTestSender(t, lq, tr)
		stop := startRun(t, s)
		defer stop()
		synctest.Wait()
		if got := tr.starts(); !slices.Equal(got, []string{ref.Phone}) {
			t.Fatalf("StartAccount for %v, want %s", got, ref.Phone)
		}

		// Lost between rounds: this replica still thinks it holds it.
		lq.lmu.Lock()
		lq.lost[ref] = true
		lq.lmu.Unlock()
		id := lq.add(ref, "hello")
		s.Wake(ref)
		synctest.Wait()
		if got := tr.stops(); !slices.Equal(got, []wagate.AccountRef{ref}) {
			t.Errorf("StopAccount calls %v after MarkSending was refused for the lease, want %v", got, ref)
		}
		if st := lq.status(id); st != wagate.StatusQueued {
			t.Errorf("message is %s, want queued for the new holder", st)
		}
	})
}
