package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wagate/wagate"
)

// binaryRecords are the records with a binary form, each as a fresh value.
func binaryRecords() []binaryRecord {
	return []binaryRecord{
		&workspaceRecord{}, &accountRecord{}, &chatRecord{}, &messageRecord{},
		&attemptRecord{}, &idempotencyRecord{}, &subscriptionsRecord{},
	}
}

// fill sets every field of the struct v points at to a value that is not
// its zero value and differs from field to field (seed picks the values), so
// a field the binary form forgets reads back as zero and fails the round
// trip.
func fill(t *testing.T, v reflect.Value, seed int) {
	t.Helper()
	for i := range v.NumField() {
		if !v.Type().Field(i).IsExported() {
			continue // bookkeeping of a transaction, never stored
		}
		f := v.Field(i)
		n := seed*100 + i + 1
		switch f.Kind() {
		case reflect.String:
			f.SetString(fmt.Sprintf("%s-%d-ü\x00", v.Type().Field(i).Name, n))
		case reflect.Int64, reflect.Int:
			f.SetInt(int64(-n * 1_000_003))
		case reflect.Float64:
			f.SetFloat(float64(n) + 0.3)
		case reflect.Uint64:
			f.SetUint(uint64(n) << 40)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Map:
			f.Set(reflect.ValueOf(map[string]string{"b": fmt.Sprint(n), "a": "", "": "empty key"}))
		case reflect.Slice:
			if f.Type().Elem().Kind() == reflect.Uint8 {
				f.SetBytes(bytes.Repeat([]byte{byte(n)}, 32))
				break
			}
			if f.Type().Elem().Kind() == reflect.String {
				f.Set(reflect.ValueOf([]string{fmt.Sprintf("%s-%d", v.Type().Field(i).Name, n), "", "ü\x00"}))
				break
			}
			s := reflect.MakeSlice(f.Type(), 3, 3)
			for j := range 3 {
				fill(t, s.Index(j), n+j)
			}
			f.Set(s)
		case reflect.Struct:
			if f.Type() != reflect.TypeFor[time.Time]() {
				fill(t, f, n) // a nested record such as an account's rules
				break
			}
			// Nanoseconds, a zone that is not UTC, and a time before 1970.
			at := time.Date(1950+n%100, time.Month(1+n%12), 3, 4, 5, 6, n*7919, time.FixedZone("X", 5*3600))
			f.Set(reflect.ValueOf(at))
		default:
			t.Fatalf("fill: field %s is a %s; teach fill about it", v.Type().Field(i).Name, f.Kind())
		}
	}
}

// sameRecord compares two records, times by instant.
func sameRecord(a, b any) bool { return reflect.DeepEqual(normalize(a), normalize(b)) }

// normalize returns a copy of the record with every time in UTC, so
// DeepEqual compares instants (the binary form reads times back in UTC).
func normalize(v any) any {
	c := reflect.New(reflect.TypeOf(v).Elem())
	c.Elem().Set(reflect.ValueOf(v).Elem())
	normalizeValue(c.Elem())
	return c.Interface()
}

func normalizeValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if t, ok := v.Interface().(time.Time); ok {
			v.Set(reflect.ValueOf(t.UTC()))
			return
		}
		for i := range v.NumField() {
			normalizeValue(v.Field(i))
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		for i := range c.Len() {
			normalizeValue(c.Index(i))
		}
		v.Set(c)
	}
}

// Every field of every binary record survives the round trip: a field
// added to a record but not to its binary form fails here.
func TestBinaryRecordsRoundTrip(t *testing.T) {
	for _, rec := range binaryRecords() {
		t.Run(reflect.TypeOf(rec).Elem().Name(), func(t *testing.T) {
			fill(t, reflect.ValueOf(rec).Elem(), 1)
			data, err := encodeRecord(rec)
			if err != nil {
				t.Fatal(err)
			}
			if data[0] < binaryFormat1 || data[0] > binaryFormat3 {
				t.Fatalf("first byte %#x, want a binary format byte", data[0])
			}
			back := reflect.New(reflect.TypeOf(rec).Elem()).Interface()
			if err := decodeRecord(data, back); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !sameRecord(rec, back) {
				t.Errorf("round trip changed the record:\n got %+v\nwant %+v", back, rec)
			}

			// The zero record too: zero times stay zero, empty stays empty.
			zero := reflect.New(reflect.TypeOf(rec).Elem()).Interface()
			data, _ = encodeRecord(zero)
			back = reflect.New(reflect.TypeOf(rec).Elem()).Interface()
			if err := decodeRecord(data, back); err != nil || !reflect.DeepEqual(zero, back) {
				t.Errorf("zero record read back as %+v, %v", back, err)
			}
		})
	}
}

// Every cut of a binary record, and any byte after its end, is reported
// as damage rather than read as a shorter record.
func TestBinaryRecordDamageIsAnError(t *testing.T) {
	for _, rec := range binaryRecords() {
		fill(t, reflect.ValueOf(rec).Elem(), 2)
		data, _ := encodeRecord(rec)
		name := reflect.TypeOf(rec).Elem().Name()
		for n := 1; n < len(data); n++ {
			back := reflect.New(reflect.TypeOf(rec).Elem()).Interface()
			if err := decodeRecord(data[:n], back); err == nil {
				t.Fatalf("%s cut to %d of %d bytes decoded without an error", name, n, len(data))
			}
		}
		back := reflect.New(reflect.TypeOf(rec).Elem()).Interface()
		if err := decodeRecord(append(data, 0), back); err != errTrailing {
			t.Errorf("%s with a byte after its end: %v, want %v", name, err, errTrailing)
		}
	}
	// A binary record where a type without a binary form is expected.
	if err := decodeRecord([]byte{binaryFormat1, 0}, &tokenRecord{}); err == nil || !strings.Contains(err.Error(), "no binary form") {
		t.Errorf("binary token record: %v", err)
	}
}

// An attempt's Warnings came with binary format 2. An attempt without
// warnings is written in format 1, the bytes of before; a format 1 attempt
// written before warnings existed reads back without any; one with
// warnings is format 2 and keeps them.
func TestAttemptWarningsFormat(t *testing.T) {
	at := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	plain := &attemptRecord{At: at, RequestID: "r1", Body: `{"a":1}`, Code: "invalid", Message: "m", Credits: 1}
	// The format 1 bytes of plain, as a wagate without warnings wrote them.
	old := []byte{binaryFormat1, 1}
	old = binary.AppendVarint(old, at.Unix())
	old = append(old, 0) // nanoseconds
	for _, s := range []string{"r1", "", "", `{"a":1}`, "invalid", "m", ""} {
		old = appendString(old, s)
	}
	old = binary.AppendVarint(old, 1)

	data, err := encodeRecord(plain)
	mustNoErr(t, err)
	if !bytes.Equal(data, old) {
		t.Errorf("attempt without warnings encodes as %x, want the format 1 bytes %x", data, old)
	}
	var back attemptRecord
	mustNoErr(t, decodeRecord(old, &back))
	if back.Warnings != nil || back.Credits != 1 || back.Body != `{"a":1}` {
		t.Errorf("format 1 attempt read back as %+v", back)
	}

	warned := *plain
	warned.Warnings = []string{`unknown field "fileurl"; did you mean "file_url"?`}
	data, err = encodeRecord(&warned)
	mustNoErr(t, err)
	if data[0] != binaryFormat2 {
		t.Fatalf("attempt with warnings starts with %#x, want format 2", data[0])
	}
	back = attemptRecord{}
	mustNoErr(t, decodeRecord(data, &back))
	if len(back.Warnings) != 1 || back.Warnings[0] != warned.Warnings[0] {
		t.Errorf("warnings read back as %q", back.Warnings)
	}
	// The JSON form of schema 1 stores keep reading too.
	back = attemptRecord{}
	mustNoErr(t, decodeRecord([]byte(`{"at":"2025-03-14T15:09:26Z","request_id":"r1","credits":1}`), &back))
	if back.Warnings != nil || back.RequestID != "r1" {
		t.Errorf("JSON attempt read back as %+v", back)
	}
}

// A schema 1 store (every record JSON) opens as schema 2 without a
// migration: its records read as before, the audit finds it consistent,
// new accepts write binary records next to the old JSON ones, and the
// balance carries on from the JSON workspace record.
func TestSchema1StoreOpensAndReadsJSONRecords(t *testing.T) {
	f := newFixture(t, 10)
	first := f.send("written before the downgrade to JSON")
	keyed := f.request("sent with a key", 1)
	keyed.IdempotencyKey = "order-1"
	keyedID := f.accept(keyed).Message.ID
	before := f.balance()
	attemptsBefore, err := f.db.ListAttempts(f.ctx, f.ws.ID, 0)
	mustNoErr(t, err)

	// Rewrite every binary record as the JSON schema 1 wrote, and stamp 1.
	n := 0
	mustNoErr(t, f.db.bolt.Update(func(tx *bolt.Tx) error {
		if err := rewriteAsJSON(tx, &n); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySchema, u64(1))
	}))
	if n < 5 {
		t.Fatalf("rewrote %d records as JSON; the test needs every kind", n)
	}
	mustNoErr(t, f.db.Close())

	f.db = openTest(t, f.path, f.clock)
	mustNoErr(t, f.db.bolt.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keySchema); !bytes.Equal(v, u64(SchemaVersion)) {
			t.Errorf("schema after Open = %x, want %d", v, SchemaVersion)
		}
		return nil
	}))
	if m := f.message(first); m.Text != "written before the downgrade to JSON" || m.Status != wagate.StatusQueued {
		t.Errorf("JSON message read back as %+v", m)
	}
	if got := f.balance(); got != before {
		t.Errorf("balance from the JSON workspace = %d, want %d", got, before)
	}
	attempts, err := f.db.ListAttempts(f.ctx, f.ws.ID, 0)
	mustNoErr(t, err)
	if len(attempts) != len(attemptsBefore) || attempts[0].MessageID != attemptsBefore[0].MessageID {
		t.Errorf("JSON attempts read back as %d (%+v), want %d", len(attempts), attempts, len(attemptsBefore))
	}
	replay := f.request("sent with a key", 1)
	replay.IdempotencyKey = "order-1"
	if res := f.accept(replay); !res.Replayed || res.Message.ID != keyedID {
		t.Errorf("replay of a key stored as JSON = %+v, want the first message %s", res, keyedID)
	}
	second := f.send("written after")
	if got := f.balance(); got != before-1 {
		t.Errorf("balance after an accept on the JSON workspace = %d, want %d", got, before-1)
	}
	if head := f.head(f.ref()); head != first {
		t.Errorf("queue head %s, want the JSON message %s before %s", head, first, second)
	}
	// The cleanup audits the mixed store.
}

// rewriteAsJSON turns every binary record in the store into its JSON form.
func rewriteAsJSON(tx *bolt.Tx, n *int) error {
	kinds := map[string]func() binaryRecord{
		string(bucketWorkspaces):  func() binaryRecord { return &workspaceRecord{} },
		string(bucketAccounts):    func() binaryRecord { return &accountRecord{} },
		string(bucketMessages):    func() binaryRecord { return &messageRecord{} },
		string(bucketIdempotency): func() binaryRecord { return &idempotencyRecord{} },
		string(bucketChats):       func() binaryRecord { return &chatRecord{} },
		string(bucketAttempts):    func() binaryRecord { return &attemptRecord{} },
	}
	var walk func(b *bolt.Bucket, mk func() binaryRecord) error
	walk = func(b *bolt.Bucket, mk func() binaryRecord) error {
		type kv struct{ k, v []byte }
		var out []kv
		err := b.ForEach(func(k, v []byte) error {
			if v == nil {
				return walk(b.Bucket(k), mk)
			}
			if len(v) == 0 || v[0] != binaryFormat1 {
				return nil
			}
			rec := mk()
			if err := decodeRecord(v, rec); err != nil {
				return err
			}
			j, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			out = append(out, kv{copyBytes(k), j})
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range out {
			if err := b.Put(e.k, e.v); err != nil {
				return err
			}
			*n++
		}
		return nil
	}
	for name, mk := range kinds {
		if err := walk(tx.Bucket([]byte(name)), mk); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// FuzzDecodeRecord: no input makes a decoder panic or allocate beyond its
// input, and whatever decodes encodes back to bytes that decode the same.
func FuzzDecodeRecord(f *testing.F) {
	for i, rec := range binaryRecords() {
		fill(&testing.T{}, reflect.ValueOf(rec).Elem(), i)
		data, _ := encodeRecord(rec)
		f.Add(uint8(i), data)
	}
	f.Add(uint8(3), []byte{binaryFormat1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		recs := binaryRecords()
		rec := recs[int(kind)%len(recs)]
		if err := decodeRecord(data, rec); err != nil || len(data) == 0 || data[0] != binaryFormat1 {
			return
		}
		again, _ := encodeRecord(rec)
		back := reflect.New(reflect.TypeOf(rec).Elem()).Interface()
		if err := decodeRecord(again, back); err != nil || !sameRecord(rec, back) {
			t.Fatalf("re-encoded record differs: %v\n%+v\n%+v", err, rec, back)
		}
	})
}
