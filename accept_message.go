package wagate

import "time"

// QueuedMessage is the message an accept stores for the request's message
// in, one copy for every backend: a copy of in (a batch may run an accept
// twice, so in is never changed) that belongs to the workspace, is queued,
// and carries nothing of a life it has not had yet (no error, tries, send
// or delivery time, retry or waiting reason; WaitingFor is worked out when
// a message is read). CreatedAt is now unless the request set it.
//
// A SendAt that is not after now is due already: the message is an
// ordinary one, sent in its turn (SPEC §2), and its SendAt is cleared. A
// later SendAt makes it a scheduled message, which shows
// WaitingScheduled with NextTryAt at its SendAt until it is due.
func QueuedMessage(in *Message, workspaceID string, now time.Time) Message {
	m := *in
	m.WorkspaceID, m.Status = workspaceID, StatusQueued
	m.Error, m.Tries, m.SentAt = "", nil, time.Time{}
	m.NextTryAt, m.WaitingReason, m.WaitingFor = time.Time{}, "", ""
	m.Delivery, m.DeliveryAt = "", time.Time{}
	m.CreatedAt = orNow(m.CreatedAt, now)
	if !m.SendAt.After(now) {
		m.SendAt = time.Time{}
	} else {
		m.WaitingReason, m.NextTryAt = WaitingScheduled, m.SendAt
	}
	return m
}

// AcceptAttempt is the attempt an accept, or a Replay, records for the
// request's attempt in (nil: none given), one copy for every backend: a
// refusal (outcome) records its code and message; an accepted message
// (res) its id and the credits charged, none for a replay, which pays
// nothing. With neither (a Replay whose record expired meanwhile) it names
// nothing. At is now unless the gateway set it.
func AcceptAttempt(in *Attempt, res *AcceptResult, outcome error, now time.Time) Attempt {
	var att Attempt
	if in != nil {
		att = *in
	}
	att.Code, att.Message = ErrorCode(outcome), ErrorMessage(outcome)
	att.MessageID, att.Credits = "", 0
	if outcome == nil && res != nil {
		att.MessageID = res.Message.ID
		if !res.Replayed {
			att.Credits = res.Message.Credits
		}
	}
	att.At = orNow(att.At, now)
	return att
}
