package postgres

import (
	"bytes"
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wagate/wagate"
)

// What bbolt kept that PostgreSQL cannot: a NUL character (U+0000) or
// bytes that are not UTF-8 in a text column, and "\u0000" inside a jsonb
// value. The gateway refuses a NUL today (gateway/nul.go), but a store
// from an older wagate may hold one: an inbound text, an attempt's raw
// body, a provider's error. Rather than refuse the whole copy for it,
// Import stores each such value with U+FFFD in place of each NUL and each
// bad byte, and counts them (ImportOptions.Replaced), so the operator is
// told; every other value is copied byte for byte.

// cleanText is s as a text column holds it, and whether it changed.
func cleanText(s string) (string, bool) {
	c := wagate.StorableText(s)
	return c, c != s
}

// cleanJSON is the JSON text s (encoding/json's: valid UTF-8, a NUL only
// as "\u0000") as a jsonb column holds it, and whether it changed. A
// backslash appears only inside strings, so walking escapes is enough.
func cleanJSON(s string) (string, bool) {
	if !strings.Contains(s, `\u0000`) {
		return s, false
	}
	var out bytes.Buffer
	out.Grow(len(s))
	changed := false
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			out.WriteByte(s[i])
			continue
		}
		if s[i+1] == 'u' && strings.HasPrefix(s[i+2:], "0000") {
			out.WriteString(`\ufffd`)
			i += 5
			changed = true
			continue
		}
		out.WriteByte(s[i])
		out.WriteByte(s[i+1])
		i++
	}
	return out.String(), changed
}

// clean cleans the string values of row in place: the columns jsonb marks
// as JSON, the others as text ([]byte goes to bytea, which holds
// anything). It returns how many values changed.
func clean(row []any, jsonb []bool) int64 {
	var n int64
	for i, v := range row {
		isJSON := i < len(jsonb) && jsonb[i]
		fix := cleanText
		if isJSON {
			fix = cleanJSON
		}
		switch x := v.(type) {
		case string:
			if s, changed := fix(x); changed {
				row[i], n = s, n+1
			}
		case *string:
			if x == nil {
				continue
			}
			if s, changed := fix(*x); changed {
				row[i], n = &s, n+1
			}
		}
	}
	return n
}

// cleanTx is the import's transaction for the small tables' INSERTs: their
// string arguments are cleaned as text. A jsonb argument is encoding/json's
// output, always valid UTF-8 without a raw NUL, so it passes unchanged (a
// "\u0000" inside it still fails the copy, naming the record's kind).
type cleanTx struct {
	pgx.Tx
	replaced *int64
}

func (t cleanTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	*t.replaced += clean(args, nil)
	return t.Tx.Exec(ctx, sql, args...)
}
