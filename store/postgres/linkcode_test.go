package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/wagate/wagate"
)

func TestLinkCodeSharedUntilItExpires(t *testing.T) {
	r := newReplicas(t)
	ctx := context.Background()
	ref := wagate.AccountRef{WorkspaceID: "ws", Phone: "+14155550001"}
	if _, err := r.b.FindLinkCode(ctx, ref); wagate.ErrorCode(err) != wagate.ENOTFOUND {
		t.Errorf("FindLinkCode before any: %v, want ENOTFOUND", err)
	}
	expires := r.clock.Now().Add(20 * time.Second)
	if err := r.a.PutLinkCode(ctx, ref, LinkCode{QR: "2@one", ExpiresAt: expires}); err != nil {
		t.Fatal(err)
	}
	// The other replica reads the holder's code; a new one replaces it.
	if c, err := r.b.FindLinkCode(ctx, ref); err != nil || c.QR != "2@one" || !c.ExpiresAt.Equal(expires) {
		t.Errorf("b's FindLinkCode: %+v, %v; want a's QR code and expiry", c, err)
	}
	if err := r.a.PutLinkCode(ctx, ref, LinkCode{Code: "ABCD-EFGH"}); err != nil {
		t.Fatal(err)
	}
	c, err := r.b.FindLinkCode(ctx, ref)
	if err != nil || c.QR != "" || c.Code != "ABCD-EFGH" || !c.ExpiresAt.Equal(r.clock.Now().Add(linkCodeTTL)) {
		t.Errorf("b's FindLinkCode after a pairing code: %+v, %v; want the code, expiring after linkCodeTTL", c, err)
	}
	// Expired, it is never read (a holder that died mid-link), and the
	// next put drops it.
	r.clock.advance(linkCodeTTL)
	if _, err := r.b.FindLinkCode(ctx, ref); wagate.ErrorCode(err) != wagate.ENOTFOUND {
		t.Errorf("FindLinkCode of an expired code: %v, want ENOTFOUND", err)
	}
	other := wagate.AccountRef{WorkspaceID: "ws", Phone: "+14155550002"}
	if err := r.b.PutLinkCode(ctx, other, LinkCode{QR: "2@two", ExpiresAt: r.clock.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := r.a.pool.QueryRow(ctx, `SELECT count(*) FROM link_codes`).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("link_codes holds %d rows (%v), want the live one only", rows, err)
	}
	// Linking ended: deleted.
	if err := r.b.DeleteLinkCode(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := r.a.FindLinkCode(ctx, other); wagate.ErrorCode(err) != wagate.ENOTFOUND {
		t.Errorf("FindLinkCode after DeleteLinkCode: %v, want ENOTFOUND", err)
	}
}
