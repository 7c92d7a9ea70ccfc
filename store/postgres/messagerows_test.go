package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/wagate/wagate"
)

// A batch's messages go in one multi-row INSERT (accepttx.go, messageRows);
// a row that fails it is still named, so only its accept is left out.

// An id taken by a message committed before: the unique violation's detail
// names it, the batch commits without it in one retry, and it fails alone.
func TestBatchNamesTheMessageWhoseIDIsTakenInTheMultiRowInsert(t *testing.T) {
	w := newBatchWorld(t, nil)
	w.workspace("ws_a", 10)
	first := w.job("ws_a", 1)
	w.db.commitBatch([]*acceptJob{first})
	if first.err != nil {
		t.Fatalf("the first accept: %v", first.err)
	}
	ok1, taken, ok2 := w.job("ws_a", 2), w.job("ws_a", 1), w.job("ws_a", 3)
	taken.a.Message.ID = first.a.Message.ID
	before := w.db.CommitStats()
	w.db.commitBatch([]*acceptJob{ok1, taken, ok2})
	got := w.db.CommitStats().Minus(before)
	if ok1.err != nil || ok2.err != nil {
		t.Errorf("ok1 %v, ok2 %v: want both committed", ok1.err, ok2.err)
	}
	if wagate.ErrorCode(taken.err) != wagate.EINTERNAL || !strings.Contains(taken.err.Error(), first.a.Message.ID+" is already taken") {
		t.Errorf("the taken id: %v, want EINTERNAL naming %s", taken.err, first.a.Message.ID)
	}
	// The try the taken id failed, the retry of the two others together,
	// the taken id alone: not each of the three alone.
	if got.Commits != 3 || got.Functions != 2 {
		t.Errorf("%d transactions carrying %d accepts, want 3 carrying 2", got.Commits, got.Functions)
	}
	if b := w.balance("ws_a"); b != 10-1-2-3 {
		t.Errorf("balance %d, want %d", b, 10-1-2-3)
	}
}

// Text the server refuses (a NUL byte) is sent in a statement of its own,
// so it names its accept too.
func TestBatchNamesTheMessageTheServerRefuses(t *testing.T) {
	w := newBatchWorld(t, nil)
	w.workspace("ws_a", 10)
	ok1, nul, ok2 := w.job("ws_a", 1), w.job("ws_a", 1), w.job("ws_a", 1)
	nul.a.Message.Text = "a\x00b"
	before := w.db.CommitStats()
	w.db.commitBatch([]*acceptJob{ok1, nul, ok2})
	got := w.db.CommitStats().Minus(before)
	if ok1.err != nil || ok2.err != nil {
		t.Errorf("ok1 %v, ok2 %v: want both committed", ok1.err, ok2.err)
	}
	if nul.err == nil {
		t.Errorf("the message with a NUL byte was accepted; want the server's refusal")
	}
	if got.Commits != 3 || got.Functions != 2 {
		t.Errorf("%d transactions carrying %d accepts, want 3 carrying 2: the failed try, the two others together, the refused one alone", got.Commits, got.Functions)
	}
}

// The messages of a batch join their account's queue in the order they
// were accepted.
func TestBatchQueuesItsMessagesInAcceptOrder(t *testing.T) {
	w := newBatchWorld(t, nil)
	w.workspace("ws_a", 10)
	jobs := []*acceptJob{w.job("ws_a", 1), w.job("ws_a", 1), w.job("ws_a", 1), w.job("ws_a", 1)}
	w.db.commitBatch(jobs)
	rows, err := w.db.pool.Query(context.Background(), `SELECT id FROM messages ORDER BY queue_pos`)
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	for _, j := range jobs {
		if j.err != nil {
			t.Fatalf("accept: %v", j.err)
		}
		want = append(want, j.a.Message.ID)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("queued in the order %v, want %v", got, want)
	}
}
