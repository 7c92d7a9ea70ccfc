package cloudapi

import (
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/wagate/wagate"
)

// The account settings the transport reads (wagate.Account.Settings).
// ValidateSettings refuses other keys when an account is connected (SPEC
// §4: a setting the transport does not know is a 400), so an owner learns
// of a typo at once and cannot park kilobytes of anything in the store; a
// send ignores them, so an account stored before that check still sends.
// A missing required key is reported together with the unknown keys,
// since those are usually its typo.
const (
	// SettingPhoneNumberID is the id Meta gives the business phone number
	// (WhatsApp Manager, API Setup: "Phone number ID"), digits only. It is
	// not the phone number itself.
	SettingPhoneNumberID = "phone_number_id"
	// SettingAccessToken is a system-user or temporary access token with the
	// whatsapp_business_messaging permission. It is a secret: never logged,
	// never in an error text, never echoed by the admin API.
	SettingAccessToken = "access_token"
	// SettingAPIVersion is the Graph API version, "v23.0" when absent.
	SettingAPIVersion = "api_version"
	// SettingBaseURL is the Graph API's root, Meta's when absent. Tests
	// point it at a local fake (sender/cloudapi/graphfake).
	SettingBaseURL = "base_url"
	// SettingWABAID is the WhatsApp Business Account id (WhatsApp Manager,
	// API Setup), digits only; optional. With it wagate reads the
	// account's message templates (SPEC §8).
	SettingWABAID = "waba_id"
)

// Defaults of the optional settings.
const (
	DefaultAPIVersion = "v23.0"
	DefaultBaseURL    = "https://graph.facebook.com"
)

// maxTokenLen bounds the access token: Meta's are a few hundred characters;
// anything far longer is a paste gone wrong.
const maxTokenLen = 4096

var (
	reDigits     = regexp.MustCompile(`^[0-9]{1,32}$`)
	reAPIVersion = regexp.MustCompile(`^v[0-9]{1,3}\.[0-9]{1,3}$`)
)

// settings is an account's parsed configuration.
type settings struct {
	phoneNumberID string
	token         string
	version       string
	base          string // no trailing slash
	wabaID        string // "" when not set
}

// endpoint returns the URL of one of the phone number's edges ("messages",
// "media"). Every part was validated, so no escaping is needed.
func (s settings) endpoint(edge string) string {
	return s.base + "/" + s.version + "/" + s.phoneNumberID + "/" + edge
}

// ValidateSettings checks an account's cloudapi settings; the gateway calls it
// when an account is connected, so a wrong setting is a 400 then rather than
// a failed send later. The error is a *wagate.Error with code EINVALID that
// names the setting and the fix; it never contains the access token.
func (t *Transport) ValidateSettings(m map[string]string) error {
	if _, err := t.settings(m); err != nil {
		return err
	}
	if unknown := unknownKeys(m); len(unknown) > 0 {
		return wagate.Errorf(wagate.EINVALID, "cloudapi settings %s: not a setting of this transport; remove it (the settings are %q, %q, %q, %q and %q)",
			quoteList(unknown), SettingPhoneNumberID, SettingAccessToken, SettingAPIVersion, SettingBaseURL, SettingWABAID)
	}
	return nil
}

// unknownKeys lists the keys of m that are not settings of this transport,
// sorted, each cut to a readable length.
func unknownKeys(m map[string]string) []string {
	var unknown []string
	for k := range m {
		switch k {
		case SettingPhoneNumberID, SettingAccessToken, SettingAPIVersion, SettingBaseURL, SettingWABAID:
		default:
			if len(k) > 40 {
				k = strings.ToValidUTF8(k[:40], "") + "…"
			}
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	return unknown
}

// settings parses an account's settings and checks its base_url against the
// transport's allow-list: the access token, and every request body, go to
// that host. An owner must not be able to aim them (and read the answers in
// the message's error) at an internal address, so only Meta's host and the
// operator's Config.BaseURLs are allowed.
func (t *Transport) settings(m map[string]string) (settings, error) {
	s, err := parseSettings(m)
	if err != nil {
		return s, err
	}
	if !t.baseURLs[s.base] {
		return s, wagate.Errorf(wagate.EINVALID, "cloudapi setting %s %q is not allowed on this server; leave it out to use %s (the operator can allow another with --cloudapi-base-url)", SettingBaseURL, s.base, DefaultBaseURL)
	}
	return s, nil
}

func parseSettings(m map[string]string) (settings, error) {
	s := settings{
		phoneNumberID: strings.TrimSpace(m[SettingPhoneNumberID]),
		token:         m[SettingAccessToken],
		version:       strings.TrimSpace(m[SettingAPIVersion]),
		base:          strings.TrimSpace(m[SettingBaseURL]),
		wabaID:        strings.TrimSpace(m[SettingWABAID]),
	}
	switch {
	case s.phoneNumberID == "":
		return s, missing(m, SettingPhoneNumberID, "the Phone number ID from WhatsApp Manager's API Setup page (digits, not the phone number)")
	case !reDigits.MatchString(s.phoneNumberID):
		return s, wagate.Errorf(wagate.EINVALID, "cloudapi setting %s must be the Phone number ID from WhatsApp Manager's API Setup page: digits only, e.g. \"106540352242922\" (it is not the phone number)", SettingPhoneNumberID)
	case s.token == "":
		return s, missing(m, SettingAccessToken, "a system user access token with the whatsapp_business_messaging permission")
	case len(s.token) > maxTokenLen || !visibleASCII(s.token):
		// Never echo the token, not even a part of it.
		return s, wagate.Errorf(wagate.EINVALID, "cloudapi setting %s is not a token as Meta issues it (printable ASCII without spaces, at most %d characters); copy it again from Meta's Business Settings", SettingAccessToken, maxTokenLen)
	}
	if s.wabaID != "" && !reDigits.MatchString(s.wabaID) {
		return s, wagate.Errorf(wagate.EINVALID, "cloudapi setting %s must be the WhatsApp Business Account ID from WhatsApp Manager's API Setup page: digits only, e.g. \"102290129340398\"", SettingWABAID)
	}
	if s.version == "" {
		s.version = DefaultAPIVersion
	} else if !reAPIVersion.MatchString(s.version) {
		return s, wagate.Errorf(wagate.EINVALID, "cloudapi setting %s %q is not a Graph API version; write it like %q, or leave it out for %s", SettingAPIVersion, s.version, DefaultAPIVersion, DefaultAPIVersion)
	}
	if s.base == "" {
		s.base = DefaultBaseURL
	} else {
		base, err := CheckBaseURL(s.base)
		if err != nil {
			return s, err
		}
		s.base = base
	}
	return s, nil
}

// missing reports a required setting that is absent, and the keys that are
// not settings of this transport, which are usually its misspelling.
func missing(m map[string]string, key, what string) error {
	unknown := unknownKeys(m)
	hint := ""
	if len(unknown) > 0 {
		hint = "; the settings also have " + quoteList(unknown) + ", which this transport does not read: a typo?"
	}
	return wagate.Errorf(wagate.EINVALID, "cloudapi setting %s is missing: set it to %s%s", key, what, hint)
}

func quoteList(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = `"` + k + `"`
	}
	return strings.Join(q, ", ")
}

// CheckBaseURL accepts an absolute https URL without credentials, query or
// fragment (plain http only for a loopback host: a local fake), and returns
// it without a trailing slash. The bearer token goes to this host, so it
// must not travel in clear over a network. Which hosts are allowed at all
// is Config.BaseURLs' matter.
func CheckBaseURL(raw string) (string, error) {
	bad := func(why string) error {
		return wagate.Errorf(wagate.EINVALID, "cloudapi setting %s %q %s; leave it out to use %s", SettingBaseURL, redactURL(raw), why, DefaultBaseURL)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", bad("is not an absolute URL like https://graph.facebook.com")
	}
	if u.User != nil {
		return "", bad("must not hold a user name or password (the access token is the only credential)")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", bad("must not have a query or a fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback(u.Hostname()) {
			return "", bad("must use https: the access token would travel in clear (http is allowed only for a loopback test server)")
		}
	default:
		return "", bad("must be an https URL")
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// redactURL drops the userinfo of a URL that is about to be quoted in an
// error, in case a password was written there.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	return raw
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// Recipient errors: the Cloud API addresses people by phone number only.
const (
	msgGroup = "the cloudapi transport cannot send to groups (@g.us); use a WhatsApp Web transport"
	msgLID   = "the cloudapi transport cannot send to @lid addresses; send to the person's phone number (phone, or <digits>@s.whatsapp.net), or use a WhatsApp Web transport"
)

// CheckRecipient says whether the transport can send to jid: only people by
// phone number, "<digits>@s.whatsapp.net" (or the legacy "@c.us"). Groups
// (@g.us) and @lid addresses are not Cloud API concepts. The gateway calls it
// when it accepts a send for a cloudapi account, so such a request is a 400
// at once rather than a failed message later; Send checks it again. The
// error is a *wagate.Error with code EINVALID that names the transport.
func CheckRecipient(jid string) error {
	_, err := recipient(jid)
	return err
}

// recipient returns the digits Meta wants in "to".
func recipient(jid string) (string, error) {
	user, server, ok := strings.Cut(strings.TrimSpace(jid), "@")
	server = strings.ToLower(server)
	switch {
	case !ok || user == "":
	case server == wagate.ServerGroup:
		return "", wagate.Errorf(wagate.EINVALID, "%s", msgGroup)
	case server == wagate.ServerLID:
		return "", wagate.Errorf(wagate.EINVALID, "%s", msgLID)
	case (server == wagate.ServerUser || server == "c.us") && reDigits.MatchString(user):
		return user, nil
	}
	return "", wagate.Errorf(wagate.EINVALID, "the cloudapi transport sends to people by phone number; %q is not <digits>@s.whatsapp.net", jid)
}
