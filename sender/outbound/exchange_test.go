package outbound_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/outbound"
)

// open is a Deliverer that may reach the loopback receivers of these tests.
func open(cfg outbound.Config) *outbound.Deliverer {
	cfg.AllowPrivate = true
	return outbound.New(cfg, nil)
}

func TestTestSendReachesAVerifyingReceiver(t *testing.T) {
	rc := newReceiver(t, vectors[0].secret)
	rc.answer = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Crm", "ok")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"received":true}`))
	}
	e := endpoint(wagate.EndpointBody{Type: wagate.BodyForm, Template: `phone={{message.phone}}&reason={{message.error | default "unknown"}}`})
	e.URL = rc.srv.URL + "/hooks"
	e.Path = "/wa"
	e.Auth = wagate.EndpointAuth{Type: wagate.AuthBasic, Username: "crm", Password: "pw-s3cret"}
	ev := sampleEvent("hi")

	d, err := open(outbound.Config{}).Test(context.Background(), e, ev)
	if err != nil {
		t.Fatal(err)
	}
	got := rc.last()
	if got.Method != "POST" || got.URL != "/hooks/wa" {
		t.Errorf("the receiver got %s %s; want POST /hooks/wa", got.Method, got.URL)
	}
	if id := got.Header.Get("webhook-id"); id != ev.ID {
		t.Errorf("webhook-id = %q; want the event id %s", id, ev.ID)
	}
	if u, p, _ := (&http.Request{Header: got.Header}).BasicAuth(); u != "crm" || p != "pw-s3cret" {
		t.Errorf("basic auth = %q, %q", u, p)
	}
	if ae := got.Header.Get("Accept-Encoding"); ae != "identity" {
		t.Errorf("Accept-Encoding = %q; want identity (no compressed answers)", ae)
	}
	if string(got.Body) != "phone=%2B14155552671&reason=number+not+on+WhatsApp" {
		t.Errorf("body %q", got.Body)
	}
	if d.Status != wagate.DeliverySucceeded || d.Attempt != 1 || d.Error != "" || d.EventID != ev.ID || d.EndpointID != e.ID {
		t.Errorf("delivery = %s attempt %d %q (event %s, endpoint %s); want succeeded, 1, no error", d.Status, d.Attempt, d.Error, d.EventID, d.EndpointID)
	}
	if d.Response.Status != 200 || d.Response.Body != `{"received":true}` || !hasField(d.Response.Headers, "X-Crm", "ok") {
		t.Errorf("history response = %+v", d.Response)
	}
	if d.Request.URL != e.URL+"/wa" || d.Request.Body != string(got.Body) || !hasField(d.Request.Headers, "webhook-id", ev.ID) {
		t.Errorf("history request = %+v", d.Request)
	}
	for _, h := range d.Request.Headers {
		if strings.Contains(h.Value, "s3cret") || strings.Contains(h.Value, "Y3JtOnB3") {
			t.Errorf("history shows the auth: %s: %s", h.Key, h.Value)
		}
	}
}

func hasField(fs []wagate.Field, key, value string) bool {
	for _, f := range fs {
		if strings.EqualFold(f.Key, key) && f.Value == value {
			return true
		}
	}
	return false
}

// Every body type reaches a receiver that parses it with a hostile text
// intact, signed.
func TestBodyTypesOverHTTP(t *testing.T) {
	const text = "</text><credits>9</credits> \": 1, \"credits\": 9\nphone: evil & more"
	rc := newReceiver(t, vectors[0].secret)
	fields := []wagate.Field{{Key: "text", Value: "{{message.text}}"}}
	for _, bt := range []string{"json", "form", "multipart", "xml", "yaml"} {
		e := endpoint(wagate.EndpointBody{Type: bt, Fields: fields})
		e.URL = rc.srv.URL
		d, err := open(outbound.Config{}).Test(context.Background(), e, sampleEvent(text))
		if err != nil || d.Status != wagate.DeliverySucceeded {
			t.Fatalf("%s: %v %+v", bt, err, d)
		}
		got := rc.last()
		req := &http.Request{Method: "POST", Header: got.Header, Body: http.NoBody}
		var m map[string]string
		switch bt {
		case "json":
			err = json.Unmarshal(got.Body, &m)
		case "yaml":
			err = yaml.Unmarshal(got.Body, &m)
		case "xml":
			var doc struct {
				Text    string   `xml:"text"`
				Credits []string `xml:"credits"`
			}
			err = xml.Unmarshal(got.Body, &doc)
			m = map[string]string{"text": doc.Text}
			if len(doc.Credits) > 0 {
				m["credits"] = doc.Credits[0]
			}
		case "form", "multipart":
			req.Body = readCloser(got.Body)
			req.ContentLength = int64(len(got.Body))
			if bt == "form" {
				err = req.ParseForm()
			} else {
				err = req.ParseMultipartForm(1 << 20)
			}
			m = map[string]string{}
			for k, v := range req.PostForm {
				m[k] = strings.Join(v, "|")
			}
		}
		if err != nil || len(m) != 1 || m["text"] != text {
			t.Errorf("%s: the receiver parsed %q (%v) from %q; want only text", bt, m, err, got.Body)
		}
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	rc := newReceiver(t, vectors[0].secret)
	rc.answer = func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}
	e := endpoint(wagate.EndpointBody{})
	e.URL = rc.srv.URL
	d, _ := open(outbound.Config{}).Test(context.Background(), e, sampleEvent("x"))
	if n := len(rc.requests()); n != 1 {
		t.Errorf("the receiver got %d requests; want 1 (the redirect not followed)", n)
	}
	if d.Status != wagate.DeliveryFailed || d.Response.Status != 302 || !strings.Contains(d.Error, "302 Found") || !strings.Contains(d.Error, "redirects are not followed") {
		t.Errorf("delivery %s %d %q; want failed on the 302, saying redirects are not followed", d.Status, d.Response.Status, d.Error)
	}
}

func TestResponseIsCapped(t *testing.T) {
	rc := newReceiver(t, vectors[0].secret)
	rc.answer = func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(strings.Repeat("x", 64<<10)))
	}
	e := endpoint(wagate.EndpointBody{})
	e.URL = rc.srv.URL
	d, _ := open(outbound.Config{}).Test(context.Background(), e, sampleEvent("x"))
	if len(d.Response.Body) != wagate.DeliveryBodyLimit || d.Error != "endpoint answered 500 Internal Server Error" {
		t.Errorf("response body kept %d bytes, error %q; want %d and the status", len(d.Response.Body), d.Error, wagate.DeliveryBodyLimit)
	}
}

func TestGoneIsReported(t *testing.T) {
	rc := newReceiver(t, vectors[0].secret)
	rc.answer = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) }
	e := endpoint(wagate.EndpointBody{})
	e.URL = rc.srv.URL
	d, _ := open(outbound.Config{}).Test(context.Background(), e, sampleEvent("x"))
	if d.Status != wagate.DeliveryFailed || d.Error != outbound.ReasonGone {
		t.Errorf("delivery %s %q; want failed, %q", d.Status, d.Error, outbound.ReasonGone)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, vectors[0].secret)
	rc.answer = func(w http.ResponseWriter, r *http.Request) { <-release }
	defer close(release)
	e := endpoint(wagate.EndpointBody{})
	e.URL = rc.srv.URL
	d, _ := open(outbound.Config{Timeout: 50 * time.Millisecond}).Test(context.Background(), e, sampleEvent("x"))
	if d.Status != wagate.DeliveryFailed || d.Error != "the endpoint did not answer within 50ms" {
		t.Errorf("delivery %s %q; want failed on the timeout", d.Status, d.Error)
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e := endpoint(wagate.EndpointBody{})
	e.URL = "http://" + addr + "/x?key=query-s3cret"
	d, _ := open(outbound.Config{}).Test(context.Background(), e, sampleEvent("x"))
	if d.Status != wagate.DeliveryFailed || d.Error != "the endpoint refused the connection" {
		t.Errorf("delivery %s %q; want failed, connection refused", d.Status, d.Error)
	}
}

// Internal addresses are refused unless AllowPrivate: loopback here, and
// the rest of netguard's table by the same hook (sender/netguard tests it).
func TestInternalAddressRefused(t *testing.T) {
	rc := newReceiver(t, vectors[0].secret)
	for _, host := range []string{rc.srv.URL, "http://169.254.169.254", "http://10.0.0.1:9", "http://[::1]:9"} {
		e := endpoint(wagate.EndpointBody{})
		e.URL = host
		d, _ := outbound.New(outbound.Config{}, nil).Test(context.Background(), e, sampleEvent("x"))
		if d.Status != wagate.DeliveryFailed || !strings.Contains(d.Error, "--allow-private-endpoints") || strings.Contains(d.Error, strings.TrimPrefix(host, "http://")) {
			t.Errorf("%s: delivery %s %q; want refused naming the flag, not the address", host, d.Status, d.Error)
		}
	}
	if n := len(rc.requests()); n != 0 {
		t.Errorf("the loopback receiver got %d requests", n)
	}
}

func TestBuildErrorFailsAtOnce(t *testing.T) {
	e := endpoint(wagate.EndpointBody{Type: "csv"})
	d, _ := open(outbound.Config{}).Test(context.Background(), e, sampleEvent("x"))
	if d.Status != wagate.DeliveryFailed || !strings.Contains(d.Error, "body.type") {
		t.Errorf("delivery %s %q; want failed naming body.type", d.Status, d.Error)
	}
}

// The whole loop over the network: queued deliveries reach a real
// receiver, each signed (the receiver's verifier checks every one), and
// are recorded as succeeded.
func TestRunDeliversToARealReceiver(t *testing.T) {
	rc := newReceiver(t, vectors[0].secret)
	q := newFakeQueue()
	e := endpoint(wagate.EndpointBody{})
	e.URL = rc.srv.URL + "/hooks"
	ref := q.addEndpoint(e)
	const n = 6
	var ids []string
	for i := range n {
		ids = append(ids, q.add(ref, event(i), time.Now()))
	}
	all := make(chan struct{})
	done := 0
	q.onFinish = func(d *wagate.EndpointDelivery) {
		if done++; done == n {
			close(all)
		}
	}
	d := outbound.New(outbound.Config{AllowPrivate: true}, q)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { d.Run(ctx); close(stopped) }()
	<-all
	cancel()
	<-stopped
	for _, id := range ids {
		if got := q.delivery(id); got.Status != wagate.DeliverySucceeded || got.Response.Status != 204 {
			t.Errorf("%s: %s, %d %q; want succeeded with 204", id, got.Status, got.Response.Status, got.Error)
		}
	}
	reqs := rc.requests()
	if len(reqs) != n {
		t.Fatalf("the receiver got %d requests; want %d", len(reqs), n)
	}
	for _, r := range reqs {
		if r.Err != nil {
			t.Errorf("the receiver refused %s: %v", r.Header.Get("webhook-id"), r.Err)
		}
	}
}
