package wagate

import "time"

// ErrorRelinkGrace is the error of the queued messages the relink grace's
// sweep fails (serve --relink-grace).
const ErrorRelinkGrace = "the whatsapp account was not linked again within the relink grace; link it and send again"

// LinkExpired reports whether an account of transport with link state l
// has needed linking (unlinked or logged out, SPEC §10) since before
// before, so the relink sweep fails its queue. Accounts that never had a
// link state, and those of other transports, never expire.
func LinkExpired(transport string, l AccountLink, before time.Time) bool {
	return transport == TransportWhatsApp && l.State != "" && l.NeedsLinking() && !l.Since.IsZero() && l.Since.Before(before)
}

// RelinkGraceTry is the try of a queued message the relink sweep failed.
func RelinkGraceTry(at time.Time) Try {
	return Try{At: at, Result: TryResultFailed, Class: TryClassPermanent, Error: ErrorRelinkGrace}
}

// FailUnlinked is the relink sweep over accts: fail (one account's
// transaction, which checks LinkExpired again under its lock) runs for
// each account whose link expired before before, in order, and the counts
// it returns are summed. It stops at the first error, with the count so
// far.
func FailUnlinked(accts []*Account, before time.Time, fail func(AccountRef) (int, error)) (int, error) {
	total := 0
	for _, a := range accts {
		if !LinkExpired(a.Transport, a.Link, before) {
			continue
		}
		n, err := fail(a.Ref())
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
