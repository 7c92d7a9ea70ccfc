package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Record encoding.
//
// Schema 1 stored every record as JSON. Schema 2 stores the records an
// accept reads and writes (workspace, account, chat, message, attempt,
// idempotency) in a compact binary form: a version byte, then the fields
// in a fixed order, integers as varints, strings and bytes with a length,
// times as Unix seconds and nanoseconds. JSON cost an accept about 12 % of
// the server's CPU, most of it inside the single writer goroutine, and
// its allocations fed the garbage collector; the binary form is read and
// written without reflection and with one allocation per string.
//
// A binary record starts with binaryFormat1 or 2; a JSON record starts with
// '{'. get and decode read both, so a schema 1 store opens without a
// migration and its records turn binary one by one as they are rewritten.
// Records no hot path touches (admin tokens) stay JSON.

// binaryFormat1 is the first byte of every binary record: JSON never
// starts with it, and a later layout takes the next number.
const binaryFormat1 = 0x01

// binaryFormat2 is format 1 with fields added at the end of some records
// (so far: an attempt's Warnings). A record type that has such fields says
// which format each value needs (formatPicker); readFields reads the added
// fields only when fieldReader.format says they were written, so every
// format 1 record reads as before.
const binaryFormat2 = 0x02

// binaryFormat3 is format 2 with more fields at the end (so far: an
// account's link state after its rules).
const binaryFormat3 = 0x03

// formatPicker is a binaryRecord whose layout depends on its value.
type formatPicker interface {
	binaryFormat() byte
}

// binaryRecord is a record with a binary form. appendFields writes the
// fields after the version byte; readFields reads them back in the same
// order.
type binaryRecord interface {
	appendFields(b []byte) []byte
	readFields(r *fieldReader)
}

// errTruncated and errTrailing say how a binary record is damaged.
var (
	errTruncated = errors.New("binary record is truncated")
	errTrailing  = errors.New("binary record has bytes after its last field")
)

// encodeRecord returns v's stored form: binary when v has one, else JSON.
func encodeRecord(v any) ([]byte, error) {
	if r, ok := v.(binaryRecord); ok {
		format := byte(binaryFormat1)
		if p, ok := v.(formatPicker); ok {
			format = p.binaryFormat()
		}
		return r.appendFields(append(make([]byte, 0, 128), format)), nil
	}
	return json.Marshal(v)
}

// decodeRecord reads data, binary or JSON, into v.
func decodeRecord(data []byte, v any) error {
	if len(data) > 0 && data[0] >= binaryFormat1 && data[0] <= binaryFormat3 {
		r, ok := v.(binaryRecord)
		if !ok {
			return fmt.Errorf("binary record for a %T, which has no binary form", v)
		}
		fr := fieldReader{b: data[1:], format: data[0]}
		r.readFields(&fr)
		if fr.err == nil && len(fr.b) > 0 {
			fr.err = errTrailing
		}
		return fr.err
	}
	return json.Unmarshal(data, v)
}

// get decodes the record at key into v and reports whether it exists.
func get(b *bolt.Bucket, key []byte, v any) (bool, error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	if err := decodeRecord(data, v); err != nil {
		return true, fmt.Errorf("decode %q: %w", key, err)
	}
	return true, nil
}

// decode decodes a record read by a cursor.
func decode(k, v []byte, rec any) error {
	if err := decodeRecord(v, rec); err != nil {
		return fmt.Errorf("decode %q: %w", k, err)
	}
	return nil
}

// put stores v at key.
func put(b *bolt.Bucket, key []byte, v any) error {
	data, err := encodeRecord(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", key, err)
	}
	return b.Put(key, data)
}

// Field writers. Each appends one field to b.

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendInt(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

func appendUint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendTime writes 0 for the zero time, else 1, the Unix seconds and the
// nanoseconds: every time.Time fits, and it reads back in UTC.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// appendStrings writes a count, then the strings.
func appendStrings(b []byte, v []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	for _, s := range v {
		b = appendString(b, s)
	}
	return b
}

// appendStringMap writes the pairs sorted by key, so one map always
// encodes to the same bytes.
func appendStringMap(b []byte, m map[string]string) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, m[k])
	}
	return b
}

// fieldReader reads the fields of a binary record in order. The first
// error sticks: later reads return zero values, and the caller checks err
// once at the end.
type fieldReader struct {
	b   []byte
	err error
	// format is the record's first byte: which fields it has.
	format byte
}

func (r *fieldReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *fieldReader) uint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errTruncated)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *fieldReader) int() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(errTruncated)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *fieldReader) byte() byte {
	if len(r.b) == 0 {
		r.fail(errTruncated)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fieldReader) bool() bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail(errors.New("binary record has a bool that is neither 0 nor 1"))
	return false
}

// raw returns the next length-prefixed field, still in the record's memory.
func (r *fieldReader) raw() []byte {
	n := r.uint()
	if n > uint64(len(r.b)) {
		r.fail(errTruncated)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// string copies: the record's memory belongs to the transaction.
func (r *fieldReader) string() string { return string(r.raw()) }

func (r *fieldReader) bytes() []byte {
	v := r.raw()
	if v == nil {
		return nil
	}
	return copyBytes(v)
}

func (r *fieldReader) time() time.Time {
	switch r.byte() {
	case 0:
		return time.Time{}
	case 1:
	default:
		r.fail(errors.New("binary record has a time with an unknown tag"))
		return time.Time{}
	}
	sec := r.int()
	nsec := r.uint()
	if nsec >= uint64(time.Second) {
		r.fail(errors.New("binary record has a time with nanoseconds beyond a second"))
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// strings reads what appendStrings wrote; an empty list reads as nil.
func (r *fieldReader) strings() []string {
	n := r.uint()
	if n == 0 {
		return nil
	}
	// Each string takes at least one byte: a damaged count cannot make a
	// huge slice.
	if n > uint64(len(r.b)) {
		r.fail(errTruncated)
		return nil
	}
	v := make([]string, n)
	for i := range v {
		v[i] = r.string()
	}
	return v
}

func (r *fieldReader) stringMap() map[string]string {
	n := r.uint()
	if n == 0 {
		return nil
	}
	// Each pair takes at least two bytes: a damaged count cannot make a
	// huge map.
	if n > uint64(len(r.b))/2 || n > math.MaxInt32 {
		r.fail(errTruncated)
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := r.string()
		m[k] = r.string()
	}
	return m
}
