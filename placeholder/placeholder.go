// Package placeholder is the small text language shared by message
// templates (SPEC §11) and outbound webhook requests (SPEC §9): literal text
// with variables, and a default for a variable that is empty.
//
//	Hello {{name}}, your order {{ order.id }} has shipped.
//	Dear {{ name | default "Member" }}
//
// That is the whole language: no loops, no calls, no expressions, so a
// template can be checked completely when it is saved and rendered in time
// linear in its output. A literal "{{" is written `\{{`.
//
// Values are plain strings. Where the rendered text lands decides how a
// value must be escaped (JSON string content, XML, a URL path segment), so
// Render takes the escaping from its caller and applies it to every
// substituted value, never to the template's own text.
package placeholder

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits that keep a hostile template cheap to parse and render.
const (
	MaxTemplate     = 64 << 10 // bytes of template text
	MaxPlaceholders = 1000     // placeholders in one template
	MaxName         = 64       // bytes of one variable name
	MaxDefault      = 1024     // bytes of one default value
	MaxOutput       = 1 << 20  // bytes of rendered text
)

// Template is a parsed template. It is immutable and safe for concurrent use.
type Template struct {
	parts []part
	names []string
}

// part is literal text, or a placeholder when name is set.
type part struct {
	text       string
	name       string
	def        string
	hasDefault bool
}

// SyntaxError is a template that does not parse. Column counts characters
// from 1, so a person can find the spot in an editor.
type SyntaxError struct {
	Column int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("at character %d: %s", e.Column, e.Msg)
}

// MissingError is a variable that has neither a value nor a default.
type MissingError struct {
	Name string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("variable %q has no value: give it one, or write {{%s | default \"…\"}} in the template", e.Name, e.Name)
}

// Parse reads src. Every error is a *SyntaxError that names the spot and
// the fix.
func Parse(src string) (*Template, error) {
	if len(src) > MaxTemplate {
		return nil, &SyntaxError{Column: 1, Msg: fmt.Sprintf("the template is %d bytes long: keep it under %d", len(src), MaxTemplate)}
	}
	if !utf8.ValidString(src) {
		return nil, &SyntaxError{Column: 1, Msg: "the template is not valid UTF-8"}
	}
	p := parser{src: src}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return &Template{parts: p.parts, names: p.names}, nil
}

// Names lists the variables the template uses, in the order they first
// appear, each once.
func (t *Template) Names() []string {
	return append([]string(nil), t.names...)
}

// HasDefault reports whether every use of name carries a default, so the
// template renders without a value for it.
func (t *Template) HasDefault(name string) bool {
	used := false
	for _, p := range t.parts {
		if p.name == name {
			used = true
			if !p.hasDefault {
				return false
			}
		}
	}
	return used
}

// Render substitutes vars into the template. A variable that is present but
// empty takes its default (or stays empty); one that is absent and has no
// default is a *MissingError, the first in template order. escape, when not
// nil, is applied to every substituted value, defaults included.
func (t *Template) Render(vars map[string]string, escape func(string) string) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		s := p.text
		if p.name != "" {
			v, ok := vars[p.name]
			switch {
			case v != "":
				s = v
			case p.hasDefault:
				s = p.def
			case !ok:
				return "", &MissingError{Name: p.name}
			}
			if escape != nil {
				s = escape(s)
			}
		}
		if b.Len()+len(s) > MaxOutput {
			return "", fmt.Errorf("the rendered text is longer than %d bytes: shorten the template or its values", MaxOutput)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// parser is a single pass over the template, with no recursion: nesting
// cannot make it deeper, only fail.
type parser struct {
	src   string
	pos   int
	parts []part
	names []string
	text  strings.Builder
}

func (p *parser) fail(at int, format string, args ...any) error {
	return &SyntaxError{Column: utf8.RuneCountInString(p.src[:at]) + 1, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) parse() error {
	placeholders := 0
	for p.pos < len(p.src) {
		rest := p.src[p.pos:]
		switch {
		case strings.HasPrefix(rest, `\{{`):
			p.text.WriteString("{{")
			p.pos += 3
		case strings.HasPrefix(rest, "{{"):
			placeholders++
			if placeholders > MaxPlaceholders {
				return p.fail(p.pos, "more than %d placeholders: use fewer", MaxPlaceholders)
			}
			if err := p.placeholder(); err != nil {
				return err
			}
		default:
			next := strings.IndexAny(rest[1:], `{\`)
			if next < 0 {
				next = len(rest) - 1
			}
			p.text.WriteString(rest[:next+1])
			p.pos += next + 1
		}
	}
	p.flush()
	return nil
}

// flush ends the current run of literal text.
func (p *parser) flush() {
	if p.text.Len() > 0 {
		p.parts = append(p.parts, part{text: p.text.String()})
		p.text.Reset()
	}
}

// placeholder reads `{{ name [| default "…"] }}` at p.pos.
func (p *parser) placeholder() error {
	start := p.pos
	p.pos += 2
	p.space()
	name, err := p.name(start)
	if err != nil {
		return err
	}
	ph := part{name: name}
	p.space()
	if p.peek() == '|' {
		p.pos++
		p.space()
		if !strings.HasPrefix(p.src[p.pos:], "default") {
			return p.fail(p.pos, `after "|" only default "…" is allowed, as in {{%s | default "…"}}`, name)
		}
		p.pos += len("default")
		p.space()
		if ph.def, err = p.quoted(name); err != nil {
			return err
		}
		ph.hasDefault = true
		p.space()
	}
	if !strings.HasPrefix(p.src[p.pos:], "}}") {
		if p.pos >= len(p.src) {
			return p.fail(start, `"{{" is not closed: end the placeholder with "}}", or write \{{ for literal braces`)
		}
		return p.fail(p.pos, `unexpected %q in the placeholder {{%s…: end it with "}}"`, p.runeAt(), name)
	}
	p.pos += 2
	p.flush()
	p.parts = append(p.parts, ph)
	for _, n := range p.names {
		if n == name {
			return nil
		}
	}
	p.names = append(p.names, name)
	return nil
}

// name reads a dotted identifier: letters, digits and "_", not starting
// with a digit, parts joined by ".".
func (p *parser) name(start int) (string, error) {
	from := p.pos
	atPartStart := true
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && !atPartStart:
		case c == '.' && !atPartStart:
			atPartStart = true
			p.pos++
			continue
		default:
			goto done
		}
		atPartStart = false
		p.pos++
	}
done:
	name := p.src[from:p.pos]
	switch {
	case name == "":
		if p.pos >= len(p.src) {
			return "", p.fail(start, `"{{" is not closed: end the placeholder with "}}", or write \{{ for literal braces`)
		}
		return "", p.fail(p.pos, `a placeholder starts with a variable name (letters, digits, "_" and "."), not %q; write \{{ for literal braces`, p.runeAt())
	case atPartStart:
		return "", p.fail(p.pos-1, "the variable name %q ends with \".\": name a field after it", name)
	case len(name) > MaxName:
		return "", p.fail(from, "the variable name %.20q… is longer than %d characters", name, MaxName)
	}
	return name, nil
}

// quoted reads a double-quoted default value; \" and \\ are its escapes.
func (p *parser) quoted(name string) (string, error) {
	if p.peek() != '"' {
		return "", p.fail(p.pos, `default takes a value in double quotes, as in {{%s | default "…"}}`, name)
	}
	open := p.pos
	p.pos++
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch c {
		case '"':
			p.pos++
			if b.Len() > MaxDefault {
				return "", p.fail(open, "the default of %q is longer than %d bytes", name, MaxDefault)
			}
			return b.String(), nil
		case '\\':
			if p.pos+1 < len(p.src) && (p.src[p.pos+1] == '"' || p.src[p.pos+1] == '\\') {
				b.WriteByte(p.src[p.pos+1])
				p.pos += 2
				continue
			}
			return "", p.fail(p.pos, `in a default only \" and \\ are escapes: write \\ for a backslash`)
		}
		b.WriteByte(c)
		p.pos++
	}
	return "", p.fail(open, `the default of %q has no closing '"'`, name)
}

func (p *parser) space() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

func (p *parser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *parser) runeAt() string {
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	return string(r)
}
