package store

import (
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

func TestAuditCleanAfterActivity(t *testing.T) {
	f := newFixture(t, 20)
	ids := []string{f.send("a"), f.send("b"), f.send("c"), f.send("d")}
	mustNoErr(t, f.db.MarkSending(f.ctx, ids[0], f.clock.Now()))
	mustNoErr(t, f.db.MarkSent(f.ctx, ids[0], wagate.Try{At: f.clock.Now()}))
	mustNoErr(t, f.db.MarkSending(f.ctx, ids[1], f.clock.Now()))
	mustNoErr(t, f.db.MarkFailed(f.ctx, ids[2], wagate.Try{At: f.clock.Now(), Error: "x"}))
	_, err := f.db.AddCredits(f.ctx, f.ws.ID, -5)
	mustNoErr(t, err)
	problems, err := f.db.Audit(f.ctx)
	mustNoErr(t, err)
	if len(problems) != 0 {
		t.Fatalf("Audit of a sound store: %q", problems)
	}
}

func TestAuditDetectsBrokenStore(t *testing.T) {
	f := newFixture(t, 10)
	queued := f.send("queued")
	sent := f.send("sent")
	mustNoErr(t, f.db.MarkSending(f.ctx, sent, f.clock.Now()))
	mustNoErr(t, f.db.MarkSent(f.ctx, sent, wagate.Try{At: f.clock.Now()}))
	sending := f.send("sending")
	mustNoErr(t, f.db.MarkSending(f.ctx, sending, f.clock.Now()))

	// Break the store behind its back, as a bug or a bad edit would.
	err := f.db.bolt.Update(func(tx *bolt.Tx) error {
		ws, err := getWorkspace(tx, f.ws.ID)
		if err != nil {
			return err
		}
		ws.Balance += 3 // credits from nowhere
		if err := putWorkspace(tx, ws); err != nil {
			return err
		}
		m, err := getMessage(tx, queued)
		if err != nil {
			return err
		}
		q := tx.Bucket(bucketQueues).Bucket(join(f.ws.ID, f.phone))
		if err := q.Delete(u64(m.QueueSeq)); err != nil { // a queued message loses its entry
			return err
		}
		if err := q.Put(u64(99), []byte(sent)); err != nil { // an entry points at a sent message
			return err
		}
		return tx.Bucket(bucketSending).Delete([]byte(sending)) // a sending message loses its index entry
	})
	mustNoErr(t, err)

	problems, err := f.db.Audit(f.ctx)
	mustNoErr(t, err)
	report := strings.Join(problems, "\n")
	for _, want := range []string{
		"workspace " + f.ws.ID + ": credits do not add up: granted 10 != balance 10 + held by queued, sending and sent messages 3",
		"message " + queued + " is queued but has no queue entry",
		"points at message " + sent + ", which is sent",
		"message " + sending + " is sending but not in the sending index",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("audit report lacks %q; got:\n%s", want, report)
		}
	}
	if len(problems) != 4 {
		t.Errorf("%d problems, want 4:\n%s", len(problems), report)
	}
	checkBolt(t, f.db) // the file itself is sound
	mustNoErr(t, f.db.Close())
}
