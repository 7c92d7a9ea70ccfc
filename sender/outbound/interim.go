package outbound

// INTERIM: a stand-in for package placeholder until the lead lands it on
// main; replaced by placeholder.Parse at the merge. Same syntax and
// contract: {{name}}, {{ name | default "x" }}, \{{ for a literal {{.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

type interimPart struct {
	lit      string
	name     string
	def      string
	hasDef   bool
	isSubstr bool
}

type interimTemplate struct{ parts []interimPart }

func interimParse(src string) (*interimTemplate, error) {
	t := &interimTemplate{}
	var lit strings.Builder
	for i := 0; i < len(src); {
		switch {
		case strings.HasPrefix(src[i:], `\{{`):
			lit.WriteString("{{")
			i += 3
		case strings.HasPrefix(src[i:], "{{"):
			end := strings.Index(src[i:], "}}")
			if end < 0 {
				return nil, fmt.Errorf("offset %d: {{ is not closed; close it with }} or write \\{{ for a literal {{", i)
			}
			inner := strings.TrimSpace(src[i+2 : i+end])
			p := interimPart{isSubstr: true}
			name, rest, piped := strings.Cut(inner, "|")
			p.name = strings.TrimSpace(name)
			if piped {
				rest = strings.TrimSpace(rest)
				if !strings.HasPrefix(rest, "default ") {
					return nil, fmt.Errorf("offset %d: only | default \"…\" may follow a name", i)
				}
				d, err := strconv.Unquote(strings.TrimSpace(strings.TrimPrefix(rest, "default ")))
				if err != nil {
					return nil, fmt.Errorf("offset %d: the default must be a quoted string", i)
				}
				p.def, p.hasDef = d, true
			}
			if p.name == "" || strings.ContainsAny(p.name, " {}\"") {
				return nil, fmt.Errorf("offset %d: %q is not a variable name", i, p.name)
			}
			t.parts = append(t.parts, interimPart{lit: lit.String()}, p)
			lit.Reset()
			i += end + 2
		default:
			lit.WriteByte(src[i])
			i++
		}
	}
	t.parts = append(t.parts, interimPart{lit: lit.String()})
	return t, nil
}

func (t *interimTemplate) Names() []string {
	var names []string
	seen := map[string]bool{}
	for _, p := range t.parts {
		if p.isSubstr && !seen[p.name] {
			seen[p.name] = true
			names = append(names, p.name)
		}
	}
	return names
}

var errInterimMissing = errors.New("missing variable")

func (t *interimTemplate) Render(vars map[string]string, escape func(string) string) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		if !p.isSubstr {
			b.WriteString(p.lit)
			continue
		}
		v, ok := vars[p.name]
		if !ok && !p.hasDef {
			return "", fmt.Errorf("%w %s", errInterimMissing, p.name)
		}
		if v == "" {
			v = p.def
		}
		if escape != nil {
			v = escape(v)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

func init() {
	parseTemplate = func(src string) (template, error) {
		t, err := interimParse(src)
		if err != nil {
			return nil, err
		}
		return t, nil
	}
}
