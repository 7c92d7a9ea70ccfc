package sender

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// This file holds the start-up recovery of Run: the messages a stop left
// in sending are settled before any send, with the transports' help when
// they are Confirmers.

// Texts of the tries recorded for a message a stop caught in sending whose
// transport could tell what became of it.
const (
	confirmedSent    = "interrupted: wagate stopped while sending this message; after the restart the transport confirmed that it was delivered"
	confirmedNotSent = "interrupted: wagate stopped before the transport sent this message (the transport confirmed so after the restart); it is sent again"
)

// recover settles, at start and before any send, the messages a stop left
// in sending, where the transport may or may not have delivered them. When
// the account's transport is a Confirmer it is asked: delivered → sent
// (with its provider id); certainly not delivered → back to its place in
// the queue, to be sent once. Every other message (no Confirmer, no
// answer, an account that is gone) is left to Queue.RecoverSending, which
// fails and refunds it as interrupted: wagate never resends silently what
// may have gone out. It returns false when ctx ended first.
func (s *Sender) recover(ctx context.Context) bool {
	if s.anyConfirmer() {
		var msgs []*wagate.Message
		if !retry(ctx, s.log, "list messages left in sending", func() (err error) {
			msgs, err = s.q.Sending(ctx)
			return err
		}) {
			return false
		}
		for _, m := range msgs {
			s.confirm(ctx, m)
			if ctx.Err() != nil {
				return false
			}
		}
	}
	var n int
	if !retry(ctx, s.log, "recover messages left in sending", func() (err error) {
		n, err = s.q.RecoverSending(ctx, time.Now())
		return err
	}) {
		return false
	}
	if n > 0 {
		s.m.recovered.WithLabelValues(recoveredFailed).Add(float64(n))
		s.log.Warn("failed and refunded messages a stop caught while sending; nobody can tell whether they went out",
			zap.Int("messages", n))
	}
	return true
}

// anyConfirmer reports whether a transport can answer for interrupted sends.
func (s *Sender) anyConfirmer() bool {
	for _, t := range s.transports {
		if _, ok := t.(Confirmer); ok {
			return true
		}
	}
	return false
}

// confirm asks m's transport what became of m and records the answer; see
// recover. A message it cannot settle stays in sending for RecoverSending.
func (s *Sender) confirm(ctx context.Context, m *wagate.Message) {
	log := s.log.With(zap.String("workspace", m.WorkspaceID), zap.String("account", m.AccountPhone), zap.String("message_id", m.ID))
	acct, err := s.q.Account(ctx, m.Account())
	if err != nil || acct == nil {
		return
	}
	c, ok := s.transports[acct.Transport].(Confirmer)
	if !ok {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	d, providerID, err := c.Confirm(cctx, acct, m)
	cancel()
	if err != nil {
		log.Warn("the transport cannot tell whether an interrupted message was delivered", zap.Error(err))
		return
	}
	now := time.Now()
	switch d {
	case Delivered:
		log.Info("interrupted message confirmed delivered", zap.String("provider_id", providerID))
		if s.finish(ctx, log, "confirmed sent", func(c context.Context) error {
			return s.q.MarkSent(c, m.ID, wagate.Try{At: now, Result: wagate.TryResultSent, Class: wagate.TryClassInterrupted, Error: confirmedSent, ProviderID: providerID})
		}) {
			s.m.recovered.WithLabelValues(recoveredSent).Inc()
		}
	case NotDelivered:
		log.Info("interrupted message confirmed not delivered; it goes back to its place in the queue")
		if s.finish(ctx, log, "requeued", func(c context.Context) error {
			return s.q.Retry(c, m.ID, wagate.Try{At: now, Result: wagate.TryResultRetry, Class: wagate.TryClassInterrupted, Error: confirmedNotSent}, now)
		}) {
			s.m.recovered.WithLabelValues(recoveredRequeued).Inc()
		}
	}
}
