package cloudapi

import (
	"strings"
	"testing"

	"github.com/wagate/wagate"
)

const secretToken = "EAAGm0PX4ZCpsBAKSecretToken7Zx9Qq"

func goodSettings() map[string]string {
	return map[string]string{SettingPhoneNumberID: "106540352242922", SettingAccessToken: secretToken}
}

func TestValidateSettings(t *testing.T) {
	with := func(kv ...string) map[string]string {
		m := goodSettings()
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "<delete>" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	tests := []struct {
		name     string
		settings map[string]string
		want     []string // substrings of the message; none means valid
	}{
		{"minimal", goodSettings(), nil},
		{"all", with(SettingAPIVersion, "v21.0", SettingBaseURL, "https://graph.example.com/"), nil},
		{"Meta's host, written out", with(SettingBaseURL, DefaultBaseURL), nil},
		{"loopback http fake", with(SettingBaseURL, "http://127.0.0.1:8123"), nil},
		{"localhost http fake", with(SettingBaseURL, "http://localhost:8123/prefix"), nil},
		{"an unknown key is refused", with("verify_token", "x"), []string{`"verify_token"`, "not a setting of this transport", "remove it", `"phone_number_id"`}},
		{"unknown keys listed in order", with("b", "x", "a", "y"), []string{`"a", "b": not a setting`}},
		{"a long unknown key is cut", with(strings.Repeat("k", 100), "x"), []string{strings.Repeat("k", 40) + "…"}},
		{"no phone number id", with(SettingPhoneNumberID, "<delete>"), []string{"phone_number_id is missing", "Phone number ID"}},
		{"typo names the unknown key", with(SettingPhoneNumberID, "<delete>", "phone_number", "1"), []string{"phone_number_id is missing", `"phone_number"`, "typo"}},
		{"phone number instead of id", with(SettingPhoneNumberID, "+1 555 078 3881"), []string{"phone_number_id", "digits only", "not the phone number"}},
		{"no token", with(SettingAccessToken, "<delete>"), []string{"access_token is missing"}},
		{"token with a space", with(SettingAccessToken, secretToken+" x"), []string{"access_token", "copy it again"}},
		{"token with a newline", with(SettingAccessToken, secretToken+"\n"), []string{"access_token"}},
		{"token too long", with(SettingAccessToken, strings.Repeat("A", maxTokenLen+1)), []string{"access_token"}},
		{"bad version", with(SettingAPIVersion, "23"), []string{"api_version", `"v23.0"`}},
		{"relative base", with(SettingBaseURL, "graph.facebook.com"), []string{"base_url", "absolute"}},
		{"http to a remote host", with(SettingBaseURL, "http://graph.facebook.com"), []string{"base_url", "https", "in clear"}},
		{"ftp", with(SettingBaseURL, "ftp://graph.facebook.com"), []string{"base_url", "https"}},
		{"credentials in base", with(SettingBaseURL, "https://user:pw-secret@graph.facebook.com"), []string{"base_url", "user name or password"}},
		{"query in base", with(SettingBaseURL, "https://graph.facebook.com/?access_token=x"), []string{"base_url", "query"}},
		{"a host the operator did not allow", with(SettingBaseURL, "https://10.0.0.5"), []string{"base_url", "not allowed on this server", "--cloudapi-base-url"}},
		{"a loopback port the operator did not allow", with(SettingBaseURL, "http://127.0.0.1:6379"), []string{"base_url", "not allowed"}},
	}
	allowing := New(Config{BaseURLs: []string{"https://graph.example.com", "http://127.0.0.1:8123", "http://localhost:8123/prefix/"}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := allowing.ValidateSettings(tt.settings)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ValidateSettings = %v, want nil", err)
				}
				return
			}
			if wagate.ErrorCode(err) != wagate.EINVALID {
				t.Fatalf("ValidateSettings = %v, want an EINVALID *wagate.Error", err)
			}
			msg := wagate.ErrorMessage(err)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			for _, secret := range []string{secretToken, "pw-secret"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows a secret: %q", err.Error())
				}
			}
		})
	}
}

func TestParseSettingsDefaults(t *testing.T) {
	s, err := parseSettings(map[string]string{SettingPhoneNumberID: " 106540352242922 ", SettingAccessToken: secretToken, SettingBaseURL: "http://127.0.0.1:9/base/"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.endpoint("messages"), "http://127.0.0.1:9/base/v23.0/106540352242922/messages"; got != want {
		t.Errorf("endpoint = %q, want %q", got, want)
	}
	s, err = parseSettings(goodSettings())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.endpoint("media"), "https://graph.facebook.com/v23.0/106540352242922/media"; got != want {
		t.Errorf("endpoint = %q, want %q", got, want)
	}
}

func TestCheckRecipient(t *testing.T) {
	tests := []struct {
		jid  string
		to   string // "" means refused
		want string // substring of the refusal
	}{
		{"14155552671@s.whatsapp.net", "14155552671", ""},
		{"14155552671@c.us", "14155552671", ""},
		{"14155552671@S.WhatsApp.Net", "14155552671", ""},
		{"120363025246125486@g.us", "", "the cloudapi transport cannot send to groups (@g.us); use a WhatsApp Web transport"},
		{"123456789012345@lid", "", "the cloudapi transport cannot send to @lid addresses"},
		{"+14155552671@s.whatsapp.net", "", "is not <digits>@s.whatsapp.net"},
		{"14155552671", "", "is not <digits>@s.whatsapp.net"},
		{"", "", "by phone number"},
		{"x@broadcast", "", "by phone number"},
	}
	for _, tt := range tests {
		to, err := recipient(tt.jid)
		if to != tt.to {
			t.Errorf("recipient(%q) = %q, want %q", tt.jid, to, tt.to)
		}
		cerr := CheckRecipient(tt.jid)
		if tt.want == "" {
			if err != nil || cerr != nil {
				t.Errorf("recipient(%q): %v / %v, want nil", tt.jid, err, cerr)
			}
			continue
		}
		if wagate.ErrorCode(cerr) != wagate.EINVALID || !strings.Contains(wagate.ErrorMessage(cerr), tt.want) {
			t.Errorf("CheckRecipient(%q) = %v, want EINVALID with %q", tt.jid, cerr, tt.want)
		}
	}
}
