package wagate

import (
	"strings"
)

// JID servers wagate accepts.
const (
	ServerUser   = "s.whatsapp.net" // a person, by phone number
	ServerGroup  = "g.us"           // a group
	ServerLID    = "lid"            // a person, by WhatsApp's linked id
	serverLegacy = "c.us"           // old form of s.whatsapp.net
)

// JID is a WhatsApp address: user@server.
type JID struct {
	User   string
	Server string
}

// String returns user@server.
func (j JID) String() string { return j.User + "@" + j.Server }

// IsGroup reports whether the JID names a group.
func (j JID) IsGroup() bool { return j.Server == ServerGroup }

// PhoneJID returns the JID of the person with the E.164 number phone.
func PhoneJID(e164 string) JID {
	return JID{User: strings.TrimPrefix(e164, "+"), Server: ServerUser}
}

// ParseJID reads "<digits>@s.whatsapp.net" (a phone number, checked like a
// phone field), "<id>@g.us" (digits, or the legacy "<digits>-<digits>"),
// and "<digits>@lid". "@c.us" is read as "@s.whatsapp.net". Any other form
// is an *Error with code EINVALID whose message says what a JID looks like.
func ParseJID(raw string, check PhoneCheck) (JID, error) {
	s := strings.TrimSpace(raw)
	user, server, ok := strings.Cut(s, "@")
	if !ok || user == "" || server == "" {
		return JID{}, Errorf(EINVALID, "%q is not a JID; write <digits>@s.whatsapp.net, <id>@g.us or <id>@lid", raw)
	}
	server = strings.ToLower(server)
	switch server {
	case ServerUser, serverLegacy:
		if !allDigits(user) {
			return JID{}, Errorf(EINVALID, "%q: the part before @s.whatsapp.net must be the phone number's digits with the country code, e.g. 14155552671@s.whatsapp.net", raw)
		}
		e164, err := NormalizePhone("+"+user, check)
		if err != nil {
			return JID{}, Errorf(EINVALID, "%q: the number %s", raw, ErrorMessage(err))
		}
		return PhoneJID(e164), nil
	case ServerGroup:
		a, b, dash := strings.Cut(user, "-")
		if !allDigits(a) || (dash && !allDigits(b)) {
			return JID{}, Errorf(EINVALID, "%q: a group JID is digits, e.g. 120363025246125486@g.us", raw)
		}
		return JID{User: user, Server: ServerGroup}, nil
	case ServerLID:
		if !allDigits(user) {
			return JID{}, Errorf(EINVALID, "%q: a @lid JID is digits, e.g. 123456789012345@lid", raw)
		}
		return JID{User: user, Server: ServerLID}, nil
	}
	return JID{}, Errorf(EINVALID, "%q has server %q; wagate sends to @s.whatsapp.net, @g.us and @lid (and reads @c.us as @s.whatsapp.net)", raw, server)
}

func allDigits(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
