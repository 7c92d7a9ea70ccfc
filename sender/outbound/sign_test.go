package outbound_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/sender/outbound"
)

// The two Standard Webhooks test vectors: SPEC §9's and the Rust library's.
var vectors = []struct {
	secret, id string
	ts         int64
	body, want string
}{
	{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
		`{"test": 2432232314}`, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
	{"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553,
		`{"email":"test@example.com","username":"test_user"}`, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="},
}

func TestSignVectors(t *testing.T) {
	for _, v := range vectors {
		got, err := outbound.Sign(v.secret, v.id, v.ts, []byte(v.body))
		if err != nil {
			t.Fatalf("Sign(%s): %v", v.id, err)
		}
		if got != v.want {
			t.Errorf("Sign(%s) = %s; want %s", v.id, got, v.want)
		}
		// The independent verifier agrees on the same vector.
		h := http.Header{}
		h.Set("webhook-id", v.id)
		h.Set("webhook-timestamp", strconv.FormatInt(v.ts, 10))
		h.Set("webhook-signature", got)
		if err := verify(v.secret, h, []byte(v.body), time.Unix(v.ts, 0), time.Minute); err != nil {
			t.Errorf("verify(%s): %v", v.id, err)
		}
	}
}

func TestVerifierRefuses(t *testing.T) {
	v := vectors[0]
	at := time.Unix(v.ts, 0)
	header := func(sig string) http.Header {
		h := http.Header{}
		h.Set("webhook-id", v.id)
		h.Set("webhook-timestamp", "1614265330")
		h.Set("webhook-signature", sig)
		return h
	}
	if err := verify(v.secret, header(v.want), []byte(v.body+" "), at, time.Minute); err == nil {
		t.Error("verify accepted a changed body")
	}
	if err := verify(v.secret, header(v.want), []byte(v.body), at.Add(6*time.Minute), 5*time.Minute); err == nil {
		t.Error("verify accepted a timestamp beyond the tolerance")
	}
	if err := verify(vectors[1].secret, header(v.want), []byte(v.body), at, time.Minute); err == nil {
		t.Error("verify accepted the signature of another secret")
	}
}

func TestNewSecret(t *testing.T) {
	s, err := outbound.NewSecret(bytes.NewReader(make([]byte, 24)))
	if err != nil {
		t.Fatal(err)
	}
	if s != "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" {
		t.Errorf("NewSecret(zeros) = %s", s)
	}
	a, _ := outbound.NewSecret(nil)
	b, _ := outbound.NewSecret(nil)
	if a == b || !strings.HasPrefix(a, "whsec_") || len(a) != len("whsec_")+32 {
		t.Errorf("NewSecret(nil) = %s, %s; want two different whsec_ + 32 base64 characters", a, b)
	}
}

func TestSignatureDuringRotation(t *testing.T) {
	now := time.Unix(1614265330, 0)
	e := &wagate.Endpoint{Secret: vectors[1].secret, PreviousSecret: vectors[0].secret, PreviousUntil: now.Add(time.Hour)}
	body := []byte(vectors[0].body)
	sig, err := outbound.Signature(e, now, vectors[0].id, vectors[0].ts, body)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(sig, " ")
	if len(parts) != 2 || parts[1] != vectors[0].want {
		t.Fatalf("signature during the overlap = %q; want the new one, a space, then %s", sig, vectors[0].want)
	}
	h := http.Header{}
	h.Set("webhook-id", vectors[0].id)
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", sig)
	for _, secret := range []string{e.Secret, e.PreviousSecret} {
		if err := verify(secret, h, body, now, time.Minute); err != nil {
			t.Errorf("a receiver holding %s…: %v", secret[:10], err)
		}
	}
	after, _ := outbound.Signature(e, now.Add(time.Hour), vectors[0].id, vectors[0].ts, body)
	if strings.Contains(after, " ") {
		t.Errorf("signature after the overlap = %q; want the new secret's only", after)
	}
}

func TestSignBadSecretHidesIt(t *testing.T) {
	_, err := outbound.Sign("whsec_not*base64!", "id", 1, nil)
	if err == nil || strings.Contains(err.Error(), "not*base64") || !strings.Contains(err.Error(), "rotate") {
		t.Errorf("Sign with a bad secret: %v; want an error that does not quote it and says to rotate", err)
	}
}
