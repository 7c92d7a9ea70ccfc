package placeholder_test

import (
	"errors"
	"html"
	"reflect"
	"strings"
	"testing"

	"github.com/wagate/wagate/placeholder"
)

func TestRender(t *testing.T) {
	vars := map[string]string{"name": "Jane", "order.id": "A-17", "empty": ""}
	for _, tc := range []struct{ src, want string }{
		{"no placeholders", "no placeholders"},
		{"", ""},
		{"Hello {{name}}!", "Hello Jane!"},
		{"Hello {{ name }}!", "Hello Jane!"},
		{"{{order.id}}/{{name}}", "A-17/Jane"},
		{`{{ missing | default "Member" }}`, "Member"},
		{`{{empty | default "Member"}}`, "Member"}, // seed 004: the default when empty
		{`{{name|default "Member"}}`, "Jane"},
		{"{{empty}}", ""}, // present and empty, no default: empty
		{`{{ x | default "say \"hi\" \\ bye" }}`, `say "hi" \ bye`},
		{`{{ x | default "" }}`, ""},
		{`literal \{{name}} braces`, "literal {{name}} braces"},
		{`a \ backslash and } { braces`, `a \ backslash and } { braces`},
		{"closing }} alone", "closing }} alone"},
		{"ünïcödé {{name}} ✓", "ünïcödé Jane ✓"},
	} {
		tpl, err := placeholder.Parse(tc.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.src, err)
			continue
		}
		got, err := tpl.Render(vars, nil)
		if err != nil || got != tc.want {
			t.Errorf("Render(%q) = %q, %v; want %q", tc.src, got, err, tc.want)
		}
	}
}

func TestNamesInFirstAppearanceOrder(t *testing.T) {
	tpl, err := placeholder.Parse(`{{b}} {{a | default "x"}} {{b}} {{c.d}} \{{e}}`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tpl.Names(), []string{"b", "a", "c.d"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names = %q, want %q", got, want)
	}
	if !tpl.HasDefault("a") || tpl.HasDefault("b") || tpl.HasDefault("zzz") {
		t.Error("HasDefault: want a only")
	}
}

func TestMissingVariableNamesIt(t *testing.T) {
	tpl, err := placeholder.Parse(`Hi {{ name | default "you" }}, order {{order.id}} of {{customer}}`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tpl.Render(map[string]string{}, nil)
	var missing *placeholder.MissingError
	if !errors.As(err, &missing) || missing.Name != "order.id" {
		t.Fatalf("err = %v, want MissingError for order.id", err)
	}
	if !strings.Contains(err.Error(), `"order.id"`) || !strings.Contains(err.Error(), "default") {
		t.Errorf("message %q should name the variable and the fix", err)
	}
}

func TestEscapeAppliesToValuesOnly(t *testing.T) {
	tpl, err := placeholder.Parse(`<b>{{v}}</b><i>{{w | default "<none>"}}</i>`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Render(map[string]string{"v": `</b><script>`}, html.EscapeString)
	if err != nil {
		t.Fatal(err)
	}
	if want := `<b>&lt;/b&gt;&lt;script&gt;</b><i>&lt;none&gt;</i>`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSyntaxErrorsNameTheSpotAndTheFix(t *testing.T) {
	for _, tc := range []struct {
		src    string
		column int
		says   string
	}{
		{"Hi {{name", 4, `end the placeholder with "}}"`},
		{"Hi {{", 4, "not closed"},
		{"Hi {{}}", 6, "variable name"},
		{"{{ 1abc }}", 4, "variable name"},
		{"{{ {{name}} }}", 4, `\{{`},
		{"{{a.}}", 4, `ends with "."`},
		{"{{a..b}}", 4, `ends with "."`},
		{"{{name | upper}}", 10, `only default`},
		{"{{name | default Member}}", 18, "double quotes"},
		{`{{name | default "Member}}`, 18, "no closing"},
		{`{{name | default "a\nb"}}`, 20, `\\`},
		{"{{name extra}}", 8, `unexpected "e"`},
		{"ü{{name", 2, "not closed"},
		{"{{ name() }}", 8, `unexpected "("`},
	} {
		_, err := placeholder.Parse(tc.src)
		var se *placeholder.SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a SyntaxError", tc.src, err)
			continue
		}
		if se.Column != tc.column || !strings.Contains(se.Msg, tc.says) {
			t.Errorf("Parse(%q): column %d %q; want column %d saying %q", tc.src, se.Column, se.Msg, tc.column, tc.says)
		}
	}
}

func TestHostileInputIsBounded(t *testing.T) {
	t.Run("deep nesting fails without recursion", func(t *testing.T) {
		src := strings.Repeat("{{", 20000) + "x" + strings.Repeat("}}", 20000)
		if _, err := placeholder.Parse(src); err == nil {
			t.Fatal("nested placeholders parsed")
		}
	})
	t.Run("too long", func(t *testing.T) {
		_, err := placeholder.Parse(strings.Repeat("a", placeholder.MaxTemplate+1))
		if err == nil || !strings.Contains(err.Error(), "keep it under") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("too many placeholders", func(t *testing.T) {
		_, err := placeholder.Parse(strings.Repeat("{{a}}", placeholder.MaxPlaceholders+1))
		if err == nil || !strings.Contains(err.Error(), "placeholders") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("huge repeats of a large value stop at MaxOutput", func(t *testing.T) {
		tpl, err := placeholder.Parse(strings.Repeat("{{a}}", placeholder.MaxPlaceholders))
		if err != nil {
			t.Fatal(err)
		}
		_, err = tpl.Render(map[string]string{"a": strings.Repeat("x", 4096)}, nil)
		if err == nil || !strings.Contains(err.Error(), "longer than") {
			t.Fatalf("err = %v, want the output limit", err)
		}
	})
	t.Run("long name and default", func(t *testing.T) {
		if _, err := placeholder.Parse("{{" + strings.Repeat("a", placeholder.MaxName+1) + "}}"); err == nil {
			t.Error("a name over MaxName parsed")
		}
		if _, err := placeholder.Parse(`{{a | default "` + strings.Repeat("d", placeholder.MaxDefault+1) + `"}}`); err == nil {
			t.Error("a default over MaxDefault parsed")
		}
	})
	t.Run("invalid UTF-8", func(t *testing.T) {
		if _, err := placeholder.Parse("a\xffb"); err == nil {
			t.Error("invalid UTF-8 parsed")
		}
	})
}

// FuzzParseRender checks that any input either fails to parse with a
// SyntaxError or renders, with a nil map, to text or a MissingError, and
// that a template without placeholders renders to itself.
func FuzzParseRender(f *testing.F) {
	for _, s := range []string{"Hi {{name}}", `{{a | default "b"}}`, `\{{x}}`, "{{", "}}{{a.b.c}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tpl, err := placeholder.Parse(src)
		if err != nil {
			var se *placeholder.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse error %T: %v", err, err)
			}
			return
		}
		out, err := tpl.Render(nil, nil)
		if err != nil {
			var me *placeholder.MissingError
			if !errors.As(err, &me) {
				t.Fatalf("Render error %T: %v", err, err)
			}
			return
		}
		if !strings.Contains(src, "{{") && out != src {
			t.Fatalf("plain text %q rendered as %q", src, out)
		}
	})
}
