package gateway

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// This file decides a request's client address: what the attempt log shows
// as remote_addr and what every per-address limit counts. Behind a reverse
// proxy the TCP peer is the proxy, the same for every user; the proxy names
// the client in X-Forwarded-For. But any client can send that header, so it
// is read only when the peer is one of Config.TrustedProxies (SPEC §5).

// clientAddr returns the client address of r. With no trusted proxies, or
// a peer that is not one, it is the TCP peer. Otherwise it walks
// X-Forwarded-For from the right (each proxy appends the address it got the
// request from) past the trusted proxies, and answers the first hop that is
// not one: the hops left of it were written by the client, who may lie. A
// header that runs out, or holds a hop that is not an address, leaves the
// last trusted hop.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	peer := peerAddr(r)
	if len(trusted) == 0 {
		return peer
	}
	addr, err := netip.ParseAddr(peer)
	if err != nil || !isTrusted(addr, trusted) {
		return peer
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseHop(hops[i])
		if !ok {
			break
		}
		addr = hop
		if !isTrusted(hop, trusted) {
			break
		}
	}
	return addr.String()
}

// peerAddr is the TCP peer of r without its port.
func peerAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap().WithZone("")
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a
// port or in brackets, as some proxies write it.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return a.Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

// ClientAddr is the client address of r as this server sees it (see
// clientAddr): for handlers mounted beside the echo routes, such as the
// web console's sign-in.
func (s *Server) ClientAddr(r *http.Request) string {
	return clientAddr(r, s.cfg.TrustedProxies)
}

// ParseTrustedProxies reads a comma-separated list of CIDR ranges (a bare
// address is its own range) for Config.TrustedProxies. Its error names the
// entry that is wrong and shows what is expected.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not an address range: write CIDR ranges such as 10.0.0.0/8,192.0.2.7/32,fd00::/8", cut(f, 60))
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
