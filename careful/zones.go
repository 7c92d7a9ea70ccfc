package careful

import (
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // the zone database in the binary: quiet hours must not depend on the host's

	"github.com/nyaruka/phonenumbers"

	"github.com/wagate/wagate"
)

// zones caches loaded locations by name: time.LoadLocation parses a file
// each call, and the sender asks for every message.
var zones sync.Map // string -> *time.Location

// Zone loads the IANA time zone name; an unknown one is EINVALID naming
// time_zone and the fix.
func Zone(name string) (*time.Location, error) {
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil || name == "" || name == "Local" {
		return nil, wagate.Errorf(wagate.EINVALID, "time_zone %q is not an IANA time zone; write one such as \"Europe/Berlin\" or \"America/New_York\"", name)
	}
	zones.Store(name, l)
	return l, nil
}

// RecipientZones returns the time zones of the recipient jid for quiet
// hours: a person's number's zones from libphonenumber (a +1 number whose
// area code spans zones has several), else, for groups, @lid ids and
// numbers without zone data, the account's zone accountTZ ("" or unknown:
// UTC).
func RecipientZones(jid, accountTZ string) []*time.Location {
	if user, server, ok := strings.Cut(jid, "@"); ok && server == wagate.ServerUser {
		if num, err := phonenumbers.Parse("+"+user, ""); err == nil {
			if names, err := phonenumbers.GetTimezonesForNumber(num); err == nil {
				var out []*time.Location
				for _, n := range names {
					if n == phonenumbers.UNKNOWN_TIMEZONE {
						continue
					}
					if l, err := Zone(n); err == nil {
						out = append(out, l)
					}
				}
				if len(out) > 0 {
					return out
				}
			}
		}
	}
	if l, err := Zone(accountTZ); err == nil && accountTZ != "" {
		return []*time.Location{l}
	}
	return []*time.Location{time.UTC}
}
