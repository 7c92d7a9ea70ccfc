package sender

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// This file holds outcome handling: one call of the transport and what
// becomes of the message after it (sent, retried, failed, deferred), and
// the writes of those outcomes, retried while the store is failing.

// sendOutcome is what the worker needs to know of one send once its
// outcome is stored.
type sendOutcome struct {
	// notTried: the transport did not try (Defer, Unavailable), so nothing
	// went out and the account's turn is given back.
	notTried bool
	// unavailable: the account cannot send now (Unavailable); its worker
	// waits for the transport to report it ready.
	unavailable bool
	// posted is when the transport handed the message over
	// (Result.PostedAt); zero when it did not say.
	posted time.Time
}

// send hands m to its transport and stores the outcome. The transport's
// context is cut loose from ctx: shutdown waits for the send under way
// instead of aborting it half done, and only SendTimeout bounds it.
func (s *Sender) send(ctx context.Context, log *zap.Logger, tr Transport, acct *wagate.Account, m *wagate.Message, file *wagate.Attachment) sendOutcome {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.SendTimeout)
	t0 := time.Now()
	res, err := tr.Send(sctx, acct, m, file)
	cancel()
	done := time.Now()
	dur := done.Sub(t0)
	s.m.sendDuration.Observe(dur.Seconds())
	log = log.With(zap.String("message_id", m.ID), zap.Duration("duration", dur))

	// What the transport says is the provider's text (Meta's error
	// message, WhatsApp's reason, an id): kept as every backend can store
	// it (wagate.StorableText), or a NUL in it would make the outcome's
	// write fail on PostgreSQL again and again.
	res.ProviderID = wagate.StorableText(res.ProviderID)
	if err == nil {
		s.m.sends.WithLabelValues(resultSent).Inc()
		log.Info("message sent", zap.String("result", resultSent), zap.String("provider_id", res.ProviderID))
		s.finish(ctx, log, "sent", func(c context.Context) error {
			return s.q.MarkSent(c, m.ID, wagate.Try{At: done, Result: wagate.TryResultSent, ProviderID: res.ProviderID})
		})
		return sendOutcome{posted: res.PostedAt}
	}
	s.settle(ctx, log, m, done, err)
	unavailable := IsUnavailable(err)
	return sendOutcome{notTried: unavailable || IsDeferred(err), unavailable: unavailable, posted: res.PostedAt}
}

// settle stores the outcome of a try of m that failed at at with err (the
// transport's, or the file download's): another try when err is not
// permanent and the schedule has a retry left (Queue.Retry puts m back at
// its place, due after the backoff), else the message fails and is
// refunded (Queue.MarkFailed), with the error text of its last try.
func (s *Sender) settle(ctx context.Context, log *zap.Logger, m *wagate.Message, at time.Time, err error) {
	class := errorClass(err)
	retries := retriesOf(m)
	errText := wagate.StorableText(err.Error())
	s.mu.Lock()
	delay, again := retryDelay(s.rnd, s.cfg.RetryDelays, retries, err)
	s.mu.Unlock()

	if again {
		due := at.Add(delay)
		switch {
		case IsDeferred(err):
			s.m.sends.WithLabelValues(resultDeferred).Inc()
			log.Debug("transport deferred the send", zap.String("result", resultDeferred), zap.Duration("in", delay), zap.Error(err))
		case IsUnavailable(err):
			s.m.sends.WithLabelValues(resultUnavailable).Inc()
			log.Info("the account cannot send now; its messages wait until the transport reports it ready",
				zap.String("result", resultUnavailable), zap.Error(err))
		default:
			s.m.sends.WithLabelValues(resultRetry).Inc()
			log.Warn("try failed; retrying later", zap.String("result", resultRetry), zap.String("class", class),
				zap.Int("retry", retries+1), zap.Duration("in", delay), zap.Error(err))
		}
		s.finish(ctx, log, "retry", func(c context.Context) error {
			return s.q.Retry(c, m.ID, wagate.Try{At: at, Result: wagate.TryResultRetry, Class: class, Error: errText}, due)
		})
		return
	}

	result, text := resultFailedPermanent, errText
	if class != wagate.TryClassPermanent {
		result = resultFailedTransient
		text = fmt.Sprintf("%s (gave up after %d tries)", text, retries+1)
	}
	s.m.sends.WithLabelValues(result).Inc()
	log.Warn("message failed", zap.String("result", result), zap.String("class", class), zap.Error(err))
	s.finish(ctx, log, "failed", func(c context.Context) error {
		return s.q.MarkFailed(c, m.ID, wagate.Try{At: at, Result: wagate.TryResultFailed, Class: class, Error: text})
	})
}

// failUnsent fails a queued message that cannot reach any transport (its
// account was deleted, or uses a transport this server lacks), with a
// refund. MarkFailed takes it straight from the queue; a message failed
// already (an account deletion fails its queued messages itself) is left
// as it is, so the refund happens once.
func (s *Sender) failUnsent(ctx context.Context, log *zap.Logger, m *wagate.Message, reason string) {
	log = log.With(zap.String("message_id", m.ID))
	now := time.Now()
	s.m.sends.WithLabelValues(resultFailedAccount).Inc()
	log.Warn("message failed", zap.String("result", resultFailedAccount), zap.String("class", wagate.TryClassPermanent), zap.String("error", reason))
	s.finish(ctx, log, "failed", func(c context.Context) error {
		return s.q.MarkFailed(c, m.ID, wagate.Try{At: now, Result: wagate.TryResultFailed, Class: wagate.TryClassPermanent, Error: reason})
	})
}

// finish stores the outcome of a try (or of a recovery). Once a message
// is out of its queue (sending), giving up would leave it there: the write
// is tried on a context that shutdown does not cancel, and a storage
// failure (EUNAVAILABLE, EINTERNAL) is retried with backoff while the
// sender runs. Only a stop during a storage outage leaves the message as it
// was, for the next start (RecoverSending for a message in sending). It
// reports whether the outcome was stored.
func (s *Sender) finish(ctx context.Context, log *zap.Logger, what string, write func(context.Context) error) bool {
	b := backoff{}
	for {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
		err := write(wctx)
		cancel()
		if err == nil {
			return true
		}
		if code := wagate.ErrorCode(err); code != wagate.EUNAVAILABLE && code != wagate.EINTERNAL {
			// The store refused (the message is gone, or already final):
			// asking again would get the same answer and hold up the
			// account's queue for nothing.
			log.Error("the store refused the outcome of a try", zap.String("outcome", what), zap.Error(err))
			return false
		}
		if ctx.Err() != nil {
			log.Error("cannot store the outcome of a try before stopping; the message stays as it is until the next start",
				zap.String("outcome", what), zap.Error(err))
			return false
		}
		log.Warn("cannot store the outcome of a try; trying again",
			zap.String("outcome", what), zap.Error(err), zap.Duration("in", b.next()))
		b.wait(ctx)
	}
}
