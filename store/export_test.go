package store

import (
	"context"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// Export yields every message of the store, each once; a message that no
// workspace lists (which the walk by workspace would leave behind) makes
// it fail, naming the repair, instead of a copy that silently lacks it.
func TestExportRefusesUnlistedMessages(t *testing.T) {
	f := newFixture(t, 100)
	ids := []string{f.send("one"), f.send("two")}
	var got []string
	counts := wagate.ExportCounts{}
	err := f.db.Export(context.Background(), func(rec any) error {
		if counts.Count(rec) == "" {
			t.Errorf("Export yielded a %T, which ExportCounts does not know", rec)
		}
		if m, ok := rec.(*wagate.ExportedMessage); ok {
			got = append(got, m.Message.ID)
			if m.QueuePos == 0 {
				t.Errorf("message %s has no queue position", m.Message.ID)
			}
		}
		return nil
	})
	mustNoErr(t, err)
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Errorf("Export yielded messages %v, want %v in the order accepted", got, ids)
	}
	if counts.Held != 2*f.message(ids[0]).Credits || counts.Records["workspace"] != 1 {
		t.Errorf("counts %+v, want one workspace and both messages' credits held", counts)
	}

	mustNoErr(t, f.db.bolt.Update(func(tx *bolt.Tx) error {
		list := tx.Bucket(bucketWsMessages).Bucket([]byte(f.ws.ID))
		k, _ := list.Cursor().First()
		return list.Delete(k)
	}))
	err = f.db.Export(context.Background(), func(any) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "the store has 2 messages but its workspaces list 1") || !strings.Contains(err.Error(), "wagate check") {
		t.Errorf("Export of a store with an unlisted message: %v, want a refusal naming the counts and wagate check", err)
	}
}
