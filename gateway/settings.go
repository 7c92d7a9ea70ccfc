package gateway

import (
	"slices"
	"strconv"
	"strings"

	"github.com/wagate/wagate"
)

// validateSettings checks the settings of an account connected on
// transport name. A transport without ValidateSettings takes no settings:
// any key is a 400 naming it, rather than kilobytes kept for nothing (and
// an owner's typo for a setting it meant for another transport, silently
// ignored).
func (r TransportRules) validateSettings(name string, settings map[string]string) error {
	if r.ValidateSettings != nil {
		return r.ValidateSettings(settings)
	}
	if len(settings) == 0 {
		return nil
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, strconv.Quote(cut(k, 40)))
	}
	slices.Sort(keys)
	return wagate.Errorf(wagate.EINVALID, `field "settings": the %s transport takes no settings; remove %s`, name, strings.Join(keys, ", "))
}
