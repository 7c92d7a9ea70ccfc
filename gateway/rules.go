package gateway

import (
	"time"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/careful"
	"github.com/wagate/wagate/gateway/api"
)

// setAccountFields are the fields PATCH …/accounts/{phone} reads, for its
// error messages.
var setAccountFields = []string{"active", "daily_limit", "warmup", "quiet_hours", "time_zone", "send_interval", "send_jitter"}

// applySetAccount changes a by the fields in is present, then validates
// the rules as a whole (a warm-up needs a daily limit, say), so an owner
// may change one rule at a time. Errors name the field and the fix.
func applySetAccount(a *wagate.Account, in *api.SetAccount) error {
	r := a.Rules
	if in.DailyLimit != nil {
		r.DailyLimit = *in.DailyLimit
	}
	if in.Warmup != nil {
		r.Warmup = wagate.Warmup{Start: in.Warmup.Start, Growth: in.Warmup.Growth}
	}
	if in.QuietHours != nil {
		q, err := careful.ParseQuietHours(*in.QuietHours)
		if err != nil {
			return err
		}
		r.QuietHours = q
	}
	if in.TimeZone != nil {
		r.TimeZone = *in.TimeZone
	}
	for _, d := range []struct {
		field string
		in    *string
		out   *time.Duration
	}{{"send_interval", in.SendInterval, &r.SendInterval}, {"send_jitter", in.SendJitter, &r.SendJitter}} {
		if d.in == nil {
			continue
		}
		v, err := careful.ParseDuration(d.field, *d.in)
		if err != nil {
			return err
		}
		*d.out = v
	}
	if err := careful.Validate(r); err != nil {
		return err
	}
	a.Rules = r
	if in.Active != nil {
		a.Active = *in.Active
	}
	return nil
}

// renderRules shows an account's careful-sending rules in out.
func renderRules(out *api.Account, r wagate.SendRules) {
	out.DailyLimit = r.DailyLimit
	if r.Warmup.Start > 0 {
		out.Warmup = &api.WarmupRule{Start: r.Warmup.Start, Growth: r.Warmup.Growth}
	}
	out.QuietHours = careful.FormatQuietHours(r.QuietHours)
	out.TimeZone = r.TimeZone
	if r.SendInterval > 0 {
		out.SendInterval = r.SendInterval.String()
		out.SendJitter = r.SendJitter.String()
	}
}
