package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"slices"

	"github.com/wagate/wagate"
)

// member is one member of a JSON object: its key, unescaped, and its raw
// value, a slice of the body (or, while canonicalizing, the offsets of its
// canonical form in jsonScan.out).
type member struct {
	key    []byte
	val    []byte
	cs, ce int
}

// smallObject is the number of members up to which a duplicate key is
// looked for pair by pair, without sorting (and without allocating).
const smallObject = 16

// jsonScan walks a body that json.Valid accepted, so it needs no error
// handling of its own. It finds keys given twice in one object, which
// encoding/json silently resolves to the last one (so {"phone":"a",
// "phone":"b"} would send to b while the client's own log shows a), and it
// writes the canonical form of the body that Idempotency-Key compares.
type jsonScan struct {
	b []byte
	i int
	// canon: write the canonical form to out.
	canon bool
	out   []byte
	// dup is the first key found twice; dupIn the top-level field holding
	// the object ("" for the request object itself).
	dup, dupIn string
	found      bool
	// depth counts the objects and arrays open around the current value.
	depth int
}

// scanObject reads the top-level object of body (valid JSON whose first
// non-space byte is '{'), appending its members to dst. The error is a 400
// naming a key given twice.
func scanObject(body []byte, dst []member) ([]member, error) {
	s := jsonScan{b: body}
	s.ws()
	ms := s.object("", dst)
	return ms, s.dupError()
}

// canonicalJSON returns the canonical form of body: object members sorted
// by key (compared as unescaped bytes), no insignificant whitespace,
// strings re-escaped the one way below, numbers as written. Two bodies with
// the same JSON value have the same canonical form, whatever their key
// order and spacing. ok is false when body is not valid JSON or has a key
// given twice (then it has no single value).
func canonicalJSON(body []byte) (out []byte, ok bool) {
	if !json.Valid(body) {
		return nil, false
	}
	s := jsonScan{b: body, canon: true, out: make([]byte, 0, len(body))}
	s.ws()
	s.value("")
	return s.out, !s.found
}

// idempotencyHash is what Idempotency-Key compares: the SHA-256 of the
// canonical form, so a retry that reorders keys or spaces them differently
// is still the same request (SPEC §1). A body with no canonical form (not
// JSON, or a key twice) is hashed as sent: it is refused later anyway,
// and only the exact same bytes can replay it.
//
// Idempotency records written before this held the hash of the raw body.
// A retry of such a request after the upgrade matches only when its raw
// body already was canonical (compact, keys sorted); other retries get the
// 422 of a reused key. That lasts at most the 24 h a key is kept, and it
// never sends twice; we accept it rather than carry two hashes per request.
func idempotencyHash(body []byte) [32]byte {
	if c, ok := canonicalJSON(body); ok {
		return sha256.Sum256(c)
	}
	return sha256.Sum256(body)
}

func (s *jsonScan) dupError() error {
	if !s.found {
		return nil
	}
	if s.dupIn == "" {
		return wagate.Errorf(wagate.EINVALID, "field %q is given twice; send each field once (JSON keeps only one of them, and which one depends on the reader)", cut(s.dup, 40))
	}
	return wagate.Errorf(wagate.EINVALID, "key %q is given twice in an object inside field %q; send each key once", cut(s.dup, 40), cut(s.dupIn, 40))
}

func (s *jsonScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// value reads one value; in is the top-level field it belongs to.
func (s *jsonScan) value(in string) {
	switch c := s.b[s.i]; c {
	case '{':
		s.object(in, nil)
	case '[':
		s.array(in)
	case '"':
		raw := s.str()
		if s.canon {
			if bytes.IndexByte(raw, '\\') < 0 {
				s.out = append(s.out, raw...) // already canonical
			} else {
				s.out = appendCanonString(s.out, unescape(raw))
			}
		}
	default: // number, true, false, null: as written
		start := s.i
		for s.i < len(s.b) {
			c := s.b[s.i]
			if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\r' || c == '\n' {
				break
			}
			s.i++
		}
		if s.canon {
			s.out = append(s.out, s.b[start:s.i]...)
		}
	}
}

// str reads a string and returns it with its quotes, as written.
func (s *jsonScan) str() []byte {
	start := s.i
	s.i++
	for s.b[s.i] != '"' {
		if s.b[s.i] == '\\' {
			s.i++
		}
		s.i++
	}
	s.i++
	return s.b[start:s.i]
}

func (s *jsonScan) array(in string) {
	s.depth++
	defer func() { s.depth-- }()
	s.i++
	if s.canon {
		s.out = append(s.out, '[')
	}
	s.ws()
	if s.b[s.i] == ']' {
		s.i++
	} else {
		for {
			s.ws()
			s.value(in)
			s.ws()
			c := s.b[s.i]
			s.i++
			if c == ']' {
				break
			}
			if s.canon {
				s.out = append(s.out, ',')
			}
		}
	}
	if s.canon {
		s.out = append(s.out, ']')
	}
}

// object reads an object into ms. in is the top-level field holding it,
// "" for the request object itself, whose members' values are its fields.
func (s *jsonScan) object(in string, ms []member) []member {
	top := s.depth == 0
	s.depth++
	defer func() { s.depth-- }()
	s.i++
	start := len(s.out)
	s.ws()
	if s.b[s.i] == '}' {
		s.i++
		if s.canon {
			s.out = append(s.out, '{', '}')
		}
		return ms
	}
	for {
		s.ws()
		key := s.str()
		if bytes.IndexByte(key, '\\') < 0 {
			key = key[1 : len(key)-1]
		} else {
			key = unescape(key)
		}
		s.ws()
		s.i++ // ':'
		s.ws()
		inner := in
		if top {
			inner = string(key)
		}
		vs, cs := s.i, len(s.out)
		s.value(inner)
		ms = append(ms, member{key: key, val: s.b[vs:s.i], cs: cs, ce: len(s.out)})
		s.ws()
		c := s.b[s.i]
		s.i++
		if c == '}' {
			break
		}
	}
	s.checkDup(ms, in)
	if s.canon {
		s.writeSorted(ms, start)
	}
	return ms
}

// checkDup notes the first key of ms given twice.
func (s *jsonScan) checkDup(ms []member, in string) {
	if s.found {
		return
	}
	if len(ms) <= smallObject && !s.canon {
		for i := 1; i < len(ms); i++ {
			for j := range i {
				if bytes.Equal(ms[i].key, ms[j].key) {
					s.dup, s.dupIn, s.found = string(ms[i].key), in, true
					return
				}
			}
		}
		return
	}
	sorted := ms
	if !s.canon { // the canonical form sorts ms anyway
		sorted = slices.Clone(ms)
	}
	slices.SortFunc(sorted, func(a, b member) int { return bytes.Compare(a.key, b.key) })
	for i := 1; i < len(sorted); i++ {
		if bytes.Equal(sorted[i].key, sorted[i-1].key) {
			s.dup, s.dupIn, s.found = string(sorted[i].key), in, true
			return
		}
	}
}

// writeSorted rewrites the members written since start as one object in
// key order (checkDup sorted ms already).
func (s *jsonScan) writeSorted(ms []member, start int) {
	written := slices.Clone(s.out[start:])
	s.out = append(s.out[:start], '{')
	for i, m := range ms {
		if i > 0 {
			s.out = append(s.out, ',')
		}
		s.out = appendCanonString(s.out, m.key)
		s.out = append(s.out, ':')
		s.out = append(s.out, written[m.cs-start:m.ce-start]...)
	}
	s.out = append(s.out, '}')
}

// unescape returns the bytes of a JSON string token with escapes.
func unescape(raw []byte) []byte {
	var v string
	_ = json.Unmarshal(raw, &v) // the body is valid JSON
	return []byte(v)
}

// appendCanonString writes v (valid UTF-8) as a JSON string escaping only
// what JSON requires: the quote, the backslash and control characters
// (as \u00XX). A string written without escapes is already in this form.
func appendCanonString(b, v []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, c := range v {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// firstNonSpace is the offset of the first byte of b that is not JSON
// whitespace, or len(b).
func firstNonSpace(b []byte) int {
	for i, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return i
		}
	}
	return len(b)
}
