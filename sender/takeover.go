package sender

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/wagate/wagate"
)

// This file holds the recovery of an account taken over from another
// replica (a Leaser): the messages its previous holder left in sending are
// settled before any send, with the transport's help when its Confirmer
// can answer for a send made on another replica.

// SharedConfirmer is an optional interface of a Confirmer that says
// whether its answers hold across replicas: whether what Confirm reads (a
// send ledger, an outbox) is shared by every replica of the Queue, so that
// it can tell what a transport on ANOTHER replica did with a message. A
// Confirmer that reads only what its own process wrote must answer false:
// its NotDelivered about another replica's send would send a message
// twice. The sender asks a Confirmer at a takeover only when
// ConfirmsAcrossReplicas is true; otherwise the new holder fails and
// refunds the message (RecoverAccount), as nobody can tell.
type SharedConfirmer interface {
	Confirmer
	ConfirmsAcrossReplicas() bool
}

// Texts of the tries recorded for a message a takeover found in sending
// whose transport could tell what became of it.
const (
	confirmedSentAtTakeover    = "interrupted: the replica sending this message stopped; the replica that took the account over confirmed with the transport that it was delivered"
	confirmedNotSentAtTakeover = "interrupted: the replica sending this message stopped before its transport sent it (the replica that took the account over confirmed so); it is sent again"
)

// takeOver settles the messages l's account's previous holder left in
// sending, before this replica's first send of it, and returns how many it
// settled; done is false when it must wait and ask again at a later lease
// round (the account is not started meanwhile).
//
// With a SharedConfirmer for the account's transport, each message is
// asked about: Delivered → sent, NotDelivered → back to its place in the
// queue (sent once), anything else (DeliveryUnknown, an error, no answer
// within a lease round, which must not hold up the renewals) → failed and
// refunded as interrupted. Without one, every message fails and is
// refunded (RecoverAccount).
//
// A NotDelivered is taken only once the previous holder's send cannot be
// under way any more: that replica may be cut off rather than dead, and
// its transport call, bounded by SendTimeout from the start it wrote with
// the mark (l.LastSendAt), may still hand the message over after this
// answer. Before that the account waits. Without a recorded start, the
// message is failed as unknown instead.
func (s *Sender) takeOver(ctx context.Context, l wagate.AccountLease) (n int, done bool, err error) {
	log := s.accountLog(l.Account)
	acct, c, err := s.sharedConfirmer(ctx, l.Account)
	if err != nil {
		return 0, false, err
	}
	if c == nil {
		n, err := s.leaser.RecoverAccount(ctx, l.Account, time.Now())
		if err != nil {
			return 0, false, err
		}
		if n > 0 {
			s.m.recovered.WithLabelValues(recoveredFailed).Add(float64(n))
			log.Warn("failed and refunded messages the account's previous replica left in sending; nobody can tell whether they went out",
				zap.Int("messages", n))
		}
		return n, true, nil
	}
	msgs, err := s.leaser.SendingOf(ctx, l.Account)
	if err != nil {
		return 0, false, err
	}
	now := time.Now()
	answers := make(map[string]wagate.Try, len(msgs))
	for _, m := range msgs {
		mlog := log.With(zap.String("message_id", m.ID))
		cctx, cancel := context.WithTimeout(ctx, min(s.cfg.SendTimeout, s.cfg.LeaseEvery))
		d, providerID, err := c.Confirm(cctx, acct, m)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return 0, false, ctx.Err()
			}
			mlog.Warn("the transport cannot tell whether a message the account's previous replica was sending was delivered", zap.Error(err))
			continue
		}
		switch d {
		case Delivered:
			answers[m.ID] = wagate.Try{At: now, Result: wagate.TryResultSent, Class: wagate.TryClassInterrupted, Error: confirmedSentAtTakeover, ProviderID: providerID}
		case NotDelivered:
			if l.LastSendAt.IsZero() {
				mlog.Warn("the transport has no record of a message the account's previous replica was sending, but that send's start is unknown, so it may still be under way; it fails as interrupted")
				continue
			}
			if over := l.LastSendAt.Add(s.cfg.SendTimeout); now.Before(over) {
				mlog.Info("the transport has no record of a message the account's previous replica was sending; the account waits until that replica's send cannot be under way any more, then sends it",
					zap.Time("until", over))
				return 0, false, nil
			}
			answers[m.ID] = wagate.Try{At: now, Result: wagate.TryResultRetry, Class: wagate.TryClassInterrupted, Error: confirmedNotSentAtTakeover}
		}
	}
	settled, err := s.leaser.SettleAccount(ctx, l.Account, now, answers)
	if err != nil {
		return 0, false, err
	}
	counts := map[wagate.MessageStatus]int{}
	for _, st := range settled {
		counts[st]++
	}
	if k := counts[wagate.StatusSent]; k > 0 {
		s.m.recovered.WithLabelValues(recoveredSent).Add(float64(k))
	}
	if k := counts[wagate.StatusQueued]; k > 0 {
		s.m.recovered.WithLabelValues(recoveredRequeued).Add(float64(k))
	}
	if k := counts[wagate.StatusFailed]; k > 0 {
		s.m.recovered.WithLabelValues(recoveredFailed).Add(float64(k))
	}
	if len(settled) > 0 {
		log.Info("settled the messages the account's previous replica left in sending, with its transport's answers",
			zap.Int("confirmed_sent", counts[wagate.StatusSent]), zap.Int("requeued", counts[wagate.StatusQueued]),
			zap.Int("failed_refunded", counts[wagate.StatusFailed]))
	}
	return len(settled), true, nil
}

// sharedConfirmer returns the account and its transport's Confirmer when
// that one answers across replicas; a nil Confirmer when the account is
// gone (its messages are then failed: RecoverAccount) or its transport
// cannot answer for another replica's send.
func (s *Sender) sharedConfirmer(ctx context.Context, ref wagate.AccountRef) (*wagate.Account, Confirmer, error) {
	acct, err := s.q.Account(ctx, ref)
	if wagate.ErrorCode(err) == wagate.ENOTFOUND || (err == nil && acct == nil) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	c, ok := s.transports[acct.Transport].(SharedConfirmer)
	if !ok || !c.ConfirmsAcrossReplicas() {
		return nil, nil, nil
	}
	return acct, c, nil
}
