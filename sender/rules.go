package sender

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
	"github.com/wagate/wagate/careful"
)

// Careful sending (SPEC §2): before a message goes, the account's rules
// may hold it. The decisions are careful's pure functions; this file only
// feeds them (the account's rules, its send history, the recipient's
// zones) and records a hold in the queue, where it is durable and visible:
// a held message stays queued with its reason and next_try_at, spends no
// retry, and Next skips it until then. So nothing waits in memory: no
// goroutine or timer per held message, and a restart keeps every hold.

// accountPace is an account's own send_interval and send_jitter; zero
// interval: the server's.
type accountPace struct {
	interval, jitter time.Duration
}

// or returns the pace to draw a gap from: the account's, else the server's.
func (p accountPace) or(interval, jitter time.Duration) (time.Duration, time.Duration) {
	if p.interval > 0 {
		return p.interval, p.jitter
	}
	return interval, jitter
}

// historyRetry is how long a message waits when the send history cannot
// be read: a daily limit that cannot be checked is not risked.
const historyRetry = 5 * time.Second

// holdByRules asks acct's careful-sending rules whether m may go at at.
// It returns true when m must not go now: it was held (Queue.Hold), it
// left the queue meanwhile, or the store could not answer (after a short
// wait); the caller then reads the queue again. It also takes the
// account's own pace for the next gap.
func (s *Sender) holdByRules(ctx context.Context, log *zap.Logger, a *account, acct *wagate.Account, m *wagate.Message, at time.Time) bool {
	r := acct.Rules
	s.mu.Lock()
	a.pace = accountPace{interval: r.SendInterval, jitter: r.SendJitter}
	s.mu.Unlock()
	if r.DailyLimit <= 0 && !r.QuietHours.Set {
		return false
	}
	var h careful.History
	if r.DailyLimit > 0 {
		sends, first, err := s.q.SendHistory(ctx, a.ref, at.Add(-careful.Window))
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("cannot read the send history for the daily limit; trying again", zap.Error(err), zap.Duration("in", historyRetry))
			}
			pause(ctx, historyRetry)
			return true
		}
		h = careful.History{Sends: sends, FirstSend: first}
	}
	hold := careful.Decide(r, h, careful.RecipientZones(m.JID, r.TimeZone), at)
	if !hold.Holds() {
		return false
	}
	s.dropFile(a, m.ID) // it may wait for hours: free the memory
	if err := s.q.Hold(ctx, m.ID, hold.Reason, hold.Until); err != nil {
		if code := wagate.ErrorCode(err); code == wagate.ECONFLICT || code == wagate.ENOTFOUND {
			return true // cancelled or gone meanwhile: Next no longer shows it
		}
		if ctx.Err() == nil {
			log.Warn("cannot hold the message; trying again", zap.String("message_id", m.ID), zap.Error(err), zap.Duration("in", historyRetry))
		}
		pause(ctx, historyRetry)
		return true
	}
	log.Info("message held by a careful-sending rule", zap.String("message_id", m.ID),
		zap.String("reason", hold.Reason), zap.Time("until", hold.Until))
	return true
}

// pause waits d or until ctx is done.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
