// Package netguard says which IP addresses wagate must not connect to on a
// client's behalf: loopback, private, link-local, carrier-grade NAT,
// multicast, unspecified, broadcast and the other special-purpose ranges
// of IANA's registries, in IPv4 and IPv6 (IPv4 written as IPv6 included).
//
// It is one table for every place that decides it: the file fetcher
// (sender/fetch) and the webhook deliverer (sender/outbound) check each
// resolved address just before they connect, through Control, and the
// inbound URL refuses a file_url whose host is such an address literally
// (gateway), so they always agree. It depends on the standard library
// only, so any package may use it.
package netguard

import (
	"net/netip"
)

// Address classes, as they appear in error messages ("resolves to a
// loopback address"). They name the kind of address, never the address: a
// host name that resolves inside the server's network must not turn the
// error text into a way to map that network.
const (
	Loopback      = "loopback"
	Private       = "private"
	LinkLocal     = "link-local"
	SharedCGNAT   = "carrier-grade NAT"
	Multicast     = "multicast"
	Unspecified   = "unspecified"
	Broadcast     = "broadcast"
	Reserved      = "reserved"
	Documentation = "documentation"
	Benchmarking  = "benchmarking"
	Invalid       = "invalid"
)

type addrRange struct {
	prefix netip.Prefix
	class  string
}

// blockedV4 lists the IPv4 ranges of IANA's special-purpose registry that no
// public file host uses. The first match wins, so 255.255.255.255 is named
// broadcast before 240.0.0.0/4 calls it reserved.
var blockedV4 = []addrRange{
	{netip.MustParsePrefix("0.0.0.0/8"), Unspecified}, // "this network"; 0.0.0.0 reaches the local host on Linux
	{netip.MustParsePrefix("10.0.0.0/8"), Private},
	{netip.MustParsePrefix("100.64.0.0/10"), SharedCGNAT},
	{netip.MustParsePrefix("127.0.0.0/8"), Loopback},
	{netip.MustParsePrefix("169.254.0.0/16"), LinkLocal}, // cloud metadata lives at 169.254.169.254
	{netip.MustParsePrefix("172.16.0.0/12"), Private},
	{netip.MustParsePrefix("192.0.0.0/24"), Reserved}, // IETF protocol assignments
	{netip.MustParsePrefix("192.0.2.0/24"), Documentation},
	{netip.MustParsePrefix("192.88.99.0/24"), Reserved}, // deprecated 6to4 relay anycast
	{netip.MustParsePrefix("192.168.0.0/16"), Private},
	{netip.MustParsePrefix("198.18.0.0/15"), Benchmarking},
	{netip.MustParsePrefix("198.51.100.0/24"), Documentation},
	{netip.MustParsePrefix("203.0.113.0/24"), Documentation},
	{netip.MustParsePrefix("224.0.0.0/4"), Multicast},
	{netip.MustParsePrefix("255.255.255.255/32"), Broadcast},
	{netip.MustParsePrefix("240.0.0.0/4"), Reserved},
}

// IPv6 is decided by an allow-list: only global unicast (2000::/3) can be a
// public file host, so everything outside it is refused, and blockedV6 then
// refuses the non-public parts inside it. The ranges outside 2000::/3 are
// listed too, only so the error names them better than "reserved".
var (
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	nat64          = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052 well-known prefix
	sixToFour      = netip.MustParsePrefix("2002::/16")    // RFC 3056
)

var blockedV6 = []addrRange{
	{netip.MustParsePrefix("::/128"), Unspecified},
	{netip.MustParsePrefix("::1/128"), Loopback},
	{netip.MustParsePrefix("fe80::/10"), LinkLocal},
	{netip.MustParsePrefix("fec0::/10"), Private}, // deprecated site-local
	{netip.MustParsePrefix("fc00::/7"), Private},  // unique local addresses
	{netip.MustParsePrefix("ff00::/8"), Multicast},
	{netip.MustParsePrefix("2001:2::/48"), Benchmarking},
	// The rest of 2001::/23 is protocol machinery (Teredo tunnels whose
	// far end is an obfuscated IPv4 address, ORCHID, AMT…), no file host.
	{netip.MustParsePrefix("2001::/23"), Reserved},
	{netip.MustParsePrefix("2001:db8::/32"), Documentation},
	{netip.MustParsePrefix("3fff::/20"), Documentation}, // RFC 9637
}

// Classify decides whether wagate may connect to a: it returns the
// address's class and true when a is not a public unicast address. IPv4 in
// any IPv6 form (IPv4-mapped, NAT64, 6to4) is judged by its IPv4 address,
// so ::ffff:127.0.0.1 is loopback; a NAT64 or 6to4 form of a public IPv4
// address is allowed, so IPv6-only servers behind DNS64 still fetch from
// IPv4-only hosts.
func Classify(a netip.Addr) (class string, blocked bool) {
	if !a.IsValid() {
		return Invalid, true
	}
	a = a.WithZone("")
	if a.Is4In6() {
		a = a.Unmap()
	}
	if a.Is4() {
		for _, r := range blockedV4 {
			if r.prefix.Contains(a) {
				return r.class, true
			}
		}
		return "", false
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return Classify(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return Classify(netip.AddrFrom4([4]byte(b[2:6])))
	}
	for _, r := range blockedV6 {
		if r.prefix.Contains(a) {
			return r.class, true
		}
	}
	if !globalUnicast6.Contains(a) {
		return Reserved, true
	}
	return "", false
}

// Article returns "an" before a class that starts with a vowel, so messages
// read "an unspecified address" and "a private address".
func Article(class string) string {
	if class != "" && (class[0] == 'a' || class[0] == 'e' || class[0] == 'i' || class[0] == 'o' || class[0] == 'u') {
		return "an"
	}
	return "a"
}
