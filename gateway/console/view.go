package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/gateway"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// assetVersion changes with the embedded assets, so a browser never keeps
// an old stylesheet or script after an upgrade.
var assetVersion = func() string {
	h := sha256.New()
	_ = fs.WalkDir(staticFS, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}()

// staticHandler serves the embedded assets under /ui/static/, without
// directory listings.
func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embed pattern above guarantees the folder
	}
	files := http.StripPrefix("/ui/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
}

// view is what every page's template gets: the layout's fields and the
// page's own Data.
type view struct {
	Title     string
	Nav       string // the active tab
	Signed    bool
	Role      wagate.Role
	CanWrite  bool
	Operator  bool
	CSRF      string
	Workspace *wagate.Workspace
	Flash     string
	Data      any
}

type errorPage struct {
	Heading    string
	Status     int
	StatusText string
	Message    string
	SignIn     bool
}

func (c *Console) view(q *request, title, nav string) *view {
	v := &view{Title: title, Nav: nav}
	if q != nil {
		v.Signed = true
		v.Role = q.sess.role
		v.CanWrite = q.canWrite()
		v.Operator = q.sess.role == wagate.RoleOperator
		v.CSRF = q.sess.csrf
		v.Workspace = q.ws
	}
	return v
}

// pages holds one template set per page, each the layout plus the page.
type pages struct{ m map[string]*template.Template }

var pageNames = []string{"signin", "picker", "overview", "regenerate", "attempts", "accounts", "account", "messages", "message", "error", "tokens", "revoke", "endpoints", "endpoint", "link"}

// partials are the templates that some pages share, by page.
var partials = map[string][]string{
	"overview":  {"templates/waiting.html"},
	"account":   {"templates/waiting.html"},
	"endpoints": {"templates/endpoint_form.html"},
	"endpoint":  {"templates/endpoint_form.html"},
}

func loadPages(gw *gateway.Server) *pages {
	funcs := template.FuncMap{
		"asset":       func(name string) string { return "/ui/static/" + name + "?v=" + assetVersion },
		"when":        when,
		"statusText":  http.StatusText,
		"statusClass": statusClass,
		"sendClass":   sendClass,
		"roleLabel":   roleLabel,
		"wsPath":      workspacePath,
		"msgPath":     messagePath,
		"acctPath":    accountPath,
		"chatID":      chatID,
		"short":       short,
		"add":         func(a, b int) int { return a + b },
		"sentence":    sentence,
		"has":         slices.Contains[[]string],
		"pretty":      prettyJSON,
		"dict":        dict,
		"templateVars": func(text string) string {
			_, names, _ := gateway.PreviewText(text, nil)
			return strings.Join(names, ", ")
		},
		"waitingText": waitingText, // rules.go
		"linkPath":    linkPath,    // link.go
	}
	p := &pages{m: map[string]*template.Template{}}
	for _, name := range pageNames {
		files := append([]string{"templates/layout.html", "templates/" + name + ".html"}, partials[name]...)
		p.m[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, files...))
	}
	return p
}

// render writes a page. It renders into a buffer first, so a template
// error is a clean 500 and not half a page.
func (c *Console) render(w http.ResponseWriter, status int, name string, v *view) {
	var buf bytes.Buffer
	if err := c.pages.m[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.Error("console template", zap.String("page", name), zap.Error(err))
		http.Error(w, "internal error: the page could not be drawn", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes()) //nolint:errcheck // the client went away; nothing to do
}

// statusFor is the HTTP status an attempt was answered with.
func statusFor(code string) int { return gateway.StatusFor(code) }

// when shows a time for people: UTC, to the second; "—" for none.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

func statusClass(status int) string {
	switch {
	case status < 300:
		return "ok"
	case status == http.StatusTooManyRequests || status >= 500:
		return "bad"
	default:
		return "warn"
	}
}

func sendClass(s wagate.MessageStatus) string {
	switch s {
	case wagate.StatusSent:
		return "ok"
	case wagate.StatusFailed:
		return "bad"
	case wagate.StatusQueued, wagate.StatusSending:
		return "wait"
	}
	return ""
}

func roleLabel(r wagate.Role) string {
	switch r {
	case wagate.RoleOwner:
		return "Owner"
	case wagate.RoleSupport:
		return "Support · read only"
	case wagate.RoleOperator:
		return "Operator"
	}
	return string(r)
}

func chatID(id int64) string {
	if id == 0 {
		return "—"
	}
	return strconv.FormatInt(id, 10)
}

// short cuts s to n characters for a table cell; the full text is on the
// detail page or in the expanded row.
func short(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// sentence starts a domain error message (written lower-case for the API)
// with a capital, for a page.
func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// errorHeading says in words what went wrong, above the message.
func errorHeading(status int) string {
	switch {
	case status == http.StatusForbidden:
		return "Not allowed"
	case status == http.StatusNotFound:
		return "Not found"
	case status == http.StatusUnauthorized:
		return "Please sign in again"
	case status < 500:
		return "That did not work"
	case status == http.StatusServiceUnavailable:
		return "wagate is busy or stopping"
	}
	return "Something went wrong on the server"
}

// dict makes a map from key-value pairs, to hand a shared template
// (endpoint_form.html) the few values it needs.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// prettyJSON indents a JSON body for reading; any other body is shown as
// it came.
func prettyJSON(body string) string {
	var buf bytes.Buffer
	if json.Indent(&buf, []byte(body), "", "  ") != nil {
		return body
	}
	return buf.String()
}

// Recipient says whom an inbound request body asked to send to, as support
// staff read it: "phone +14155552671", "jid …", "chat 77234" or
// "chat name Jane Roe". The fields are read in the order the gateway
// resolves them; "" when the body is not a JSON object or names nobody.
func Recipient(body string) string {
	var in map[string]json.RawMessage
	if json.Unmarshal([]byte(body), &in) != nil {
		return ""
	}
	var parts []string
	for _, f := range []struct{ field, label string }{
		{"chat_id", "chat"}, {"jid", "jid"}, {"phone", "phone"}, {"chat_name", "chat name"},
	} {
		raw, ok := in[f.field]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(raw) // a number (chat_id may be one) or something odd
		}
		if s = strings.TrimSpace(s); s != "" && s != "null" {
			parts = append(parts, f.label+" "+short(s, 60))
		}
	}
	return strings.Join(parts, ", ")
}
