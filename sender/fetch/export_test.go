package fetch

import (
	"io"
	"net/netip"
)

// SetAllowAddr lets tests connect to one loopback server while the fetcher
// still refuses every other internal address, so a redirect from an allowed
// server to a refused one can be tested on 127.0.0.1.
func SetAllowAddr(f *Fetcher, allow func(netip.AddrPort) bool) { f.allowAddr = allow }

// SetWrapBody lets tests count the body bytes the fetcher reads.
func SetWrapBody(f *Fetcher, wrap func(io.Reader) io.Reader) { f.wrapBody = wrap }
