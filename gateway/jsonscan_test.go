package gateway

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestCanonicalJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"b":1,"a":2}`, `{"a":2,"b":1}`},
		{" {\n\t\"b\" : [ 1 , {\"y\":true, \"x\":null} ] ,\"a\":\"s\" } ", `{"a":"s","b":[1,{"x":null,"y":true}]}`},
		{`{"a":1.0,"b":1e3,"c":-0}`, `{"a":1.0,"b":1e3,"c":-0}`}, // numbers as written
		{`{"\u0061":"\u00e9\n\"\\\/<"}`, "{\"a\":\"é\\u000a\\\"\\\\/<\"}"},
		{`{"é":1,"z":2,"a":3}`, `{"a":3,"z":2,"é":1}`}, // byte order of the keys
		{`[]`, `[]`},
		{`{}`, `{}`},
		{`"x"`, `"x"`},
		{`{"a":{},"b":[]}`, `{"a":{},"b":[]}`},
	} {
		got, ok := canonicalJSON([]byte(tc.in))
		if !ok || string(got) != tc.want {
			t.Errorf("canonicalJSON(%s) = %s, %v; want %s", tc.in, got, ok, tc.want)
		}
	}
	for _, bad := range []string{`{"a":1,"a":1}`, `{"x":{"a":1,"\u0061":2}}`, `{"a":`, ``, `{} x`} {
		if got, ok := canonicalJSON([]byte(bad)); ok {
			t.Errorf("canonicalJSON(%s) = %s, true; want no canonical form", bad, got)
		}
	}
}

// FuzzCanonicalJSON: the canonical form is valid JSON with the same value
// as the input, and canonical already.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[1,{"d":"\u00e9","c":null}]}`, `{"a":1,"a":2}`, `[1,2]`, `"\ud800"`, `{"":{"":""}}`, `{"a" : 1.50e-3}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, ok := canonicalJSON(body)
		if !ok {
			return
		}
		var v1, v2 any
		if err := json.Unmarshal(body, &v1); err != nil {
			t.Fatalf("canonicalJSON accepted %q, which encoding/json refuses: %v", body, err)
		}
		if err := json.Unmarshal(c, &v2); err != nil {
			t.Fatalf("canonical form %q of %q is not JSON: %v", c, body, err)
		}
		if !reflect.DeepEqual(v1, v2) {
			t.Fatalf("canonical form %q of %q has another value", c, body)
		}
		if again, ok := canonicalJSON(c); !ok || string(again) != string(c) {
			t.Fatalf("canonical form %q of %q is not canonical: %q", c, body, again)
		}
	})
}
