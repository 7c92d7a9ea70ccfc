package fetch

import (
	"net/netip"
)

// Address classes, as they appear in error messages ("resolves to a
// loopback address"). They name the kind of address, never the address: a
// host name that resolves inside the server's network must not turn the
// error text into a way to map that network.
const (
	classLoopback      = "loopback"
	classPrivate       = "private"
	classLinkLocal     = "link-local"
	classSharedCGNAT   = "carrier-grade NAT"
	classMulticast     = "multicast"
	classUnspecified   = "unspecified"
	classBroadcast     = "broadcast"
	classReserved      = "reserved"
	classDocumentation = "documentation"
	classBenchmarking  = "benchmarking"
	classInvalid       = "invalid"
)

type addrRange struct {
	prefix netip.Prefix
	class  string
}

// blockedV4 lists the IPv4 ranges of IANA's special-purpose registry that no
// public file host uses. The first match wins, so 255.255.255.255 is named
// broadcast before 240.0.0.0/4 calls it reserved.
var blockedV4 = []addrRange{
	{netip.MustParsePrefix("0.0.0.0/8"), classUnspecified}, // "this network"; 0.0.0.0 reaches the local host on Linux
	{netip.MustParsePrefix("10.0.0.0/8"), classPrivate},
	{netip.MustParsePrefix("100.64.0.0/10"), classSharedCGNAT},
	{netip.MustParsePrefix("127.0.0.0/8"), classLoopback},
	{netip.MustParsePrefix("169.254.0.0/16"), classLinkLocal}, // cloud metadata lives at 169.254.169.254
	{netip.MustParsePrefix("172.16.0.0/12"), classPrivate},
	{netip.MustParsePrefix("192.0.0.0/24"), classReserved}, // IETF protocol assignments
	{netip.MustParsePrefix("192.0.2.0/24"), classDocumentation},
	{netip.MustParsePrefix("192.88.99.0/24"), classReserved}, // deprecated 6to4 relay anycast
	{netip.MustParsePrefix("192.168.0.0/16"), classPrivate},
	{netip.MustParsePrefix("198.18.0.0/15"), classBenchmarking},
	{netip.MustParsePrefix("198.51.100.0/24"), classDocumentation},
	{netip.MustParsePrefix("203.0.113.0/24"), classDocumentation},
	{netip.MustParsePrefix("224.0.0.0/4"), classMulticast},
	{netip.MustParsePrefix("255.255.255.255/32"), classBroadcast},
	{netip.MustParsePrefix("240.0.0.0/4"), classReserved},
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
	{netip.MustParsePrefix("::/128"), classUnspecified},
	{netip.MustParsePrefix("::1/128"), classLoopback},
	{netip.MustParsePrefix("fe80::/10"), classLinkLocal},
	{netip.MustParsePrefix("fec0::/10"), classPrivate}, // deprecated site-local
	{netip.MustParsePrefix("fc00::/7"), classPrivate},  // unique local addresses
	{netip.MustParsePrefix("ff00::/8"), classMulticast},
	{netip.MustParsePrefix("2001:2::/48"), classBenchmarking},
	// The rest of 2001::/23 is protocol machinery (Teredo tunnels whose
	// far end is an obfuscated IPv4 address, ORCHID, AMT…), no file host.
	{netip.MustParsePrefix("2001::/23"), classReserved},
	{netip.MustParsePrefix("2001:db8::/32"), classDocumentation},
	{netip.MustParsePrefix("3fff::/20"), classDocumentation}, // RFC 9637
}

// classify decides whether the fetcher may connect to a: it returns the
// address's class and true when a is not a public unicast address. IPv4 in
// any IPv6 form (IPv4-mapped, NAT64, 6to4) is judged by its IPv4 address,
// so ::ffff:127.0.0.1 is loopback; a NAT64 or 6to4 form of a public IPv4
// address is allowed, so IPv6-only servers behind DNS64 still fetch from
// IPv4-only hosts.
func classify(a netip.Addr) (class string, blocked bool) {
	if !a.IsValid() {
		return classInvalid, true
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
		return classify(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return classify(netip.AddrFrom4([4]byte(b[2:6])))
	}
	for _, r := range blockedV6 {
		if r.prefix.Contains(a) {
			return r.class, true
		}
	}
	if !globalUnicast6.Contains(a) {
		return classReserved, true
	}
	return "", false
}

// article returns "an" before a class that starts with a vowel, so messages
// read "an unspecified address" and "a private address".
func article(class string) string {
	if class != "" && (class[0] == 'a' || class[0] == 'e' || class[0] == 'i' || class[0] == 'o' || class[0] == 'u') {
		return "an"
	}
	return "a"
}
