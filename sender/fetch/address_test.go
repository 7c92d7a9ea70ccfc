package fetch

import (
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		addr  string
		class string // "" = allowed
	}{
		// IPv4, public.
		{"93.184.216.34", ""},
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"100.63.255.255", ""}, // just below CGNAT
		{"100.128.0.0", ""},    // just above CGNAT
		{"172.15.255.255", ""}, // just below 172.16/12
		{"172.32.0.0", ""},     // just above
		{"198.17.255.255", ""},
		{"198.20.0.0", ""},
		{"223.255.255.255", ""},
		// IPv4, refused.
		{"0.0.0.0", classUnspecified},
		{"0.1.2.3", classUnspecified},
		{"10.0.0.5", classPrivate},
		{"10.255.255.255", classPrivate},
		{"100.64.0.1", classSharedCGNAT},
		{"100.127.255.255", classSharedCGNAT},
		{"127.0.0.1", classLoopback},
		{"127.255.255.254", classLoopback},
		{"169.254.169.254", classLinkLocal},
		{"172.16.0.1", classPrivate},
		{"172.31.255.255", classPrivate},
		{"192.0.0.8", classReserved},
		{"192.0.2.1", classDocumentation},
		{"192.88.99.1", classReserved},
		{"192.168.1.1", classPrivate},
		{"198.18.0.1", classBenchmarking},
		{"198.19.255.255", classBenchmarking},
		{"198.51.100.7", classDocumentation},
		{"203.0.113.9", classDocumentation},
		{"224.0.0.1", classMulticast},
		{"239.255.255.250", classMulticast},
		{"240.0.0.1", classReserved},
		{"255.255.255.255", classBroadcast},
		// IPv4-mapped IPv6 takes the class of its IPv4 address.
		{"::ffff:127.0.0.1", classLoopback},
		{"::ffff:10.1.2.3", classPrivate},
		{"::ffff:169.254.169.254", classLinkLocal},
		{"::ffff:0.0.0.0", classUnspecified},
		{"::ffff:93.184.216.34", ""},
		// NAT64 and 6to4 likewise.
		{"64:ff9b::7f00:1", classLoopback},     // 127.0.0.1
		{"64:ff9b::a9fe:a9fe", classLinkLocal}, // 169.254.169.254
		{"64:ff9b::5db8:d822", ""},             // 93.184.216.34
		{"2002:c0a8:0101::1", classPrivate},    // 192.168.1.1
		{"2002:5db8:d822::1", ""},              // 93.184.216.34
		{"64:ff9b:1::a00:1", classReserved},    // local-use NAT64: outside 2000::/3
		{"::127.0.0.1", classReserved},         // deprecated IPv4-compatible form
		// IPv6.
		{"2606:4700:4700::1111", ""},
		{"2a00:1450:4001:80b::200e", ""},
		{"::", classUnspecified},
		{"::1", classLoopback},
		{"fe80::1", classLinkLocal},
		{"fe80::1%eth0", classLinkLocal},
		{"febf:ffff::1", classLinkLocal},
		{"fec0::1", classPrivate},
		{"fc00::1", classPrivate},
		{"fd12:3456:789a::1", classPrivate},
		{"ff02::1", classMulticast},
		{"ff05::1:3", classMulticast},
		{"2001:db8::1", classDocumentation},
		{"3fff::1", classDocumentation},
		{"2001:2::1", classBenchmarking},
		{"2001::1", classReserved},         // Teredo
		{"2001:10::1", classReserved},      // ORCHID
		{"2001:200::1", ""},                // first address after 2001::/23
		{"100::1", classReserved},          // discard-only 100::/64, outside 2000::/3
		{"4000::1", classReserved},         // outside 2000::/3
		{"::ffff:0:7f00:1", classReserved}, // SIIT ::ffff:0:0/96, not the mapped form
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		class, blocked := classify(a)
		if blocked != (tt.class != "") || class != tt.class {
			t.Errorf("classify(%s) = %q, %v; want %q, %v", tt.addr, class, blocked, tt.class, tt.class != "")
		}
	}
	if class, blocked := classify(netip.Addr{}); !blocked || class != classInvalid {
		t.Errorf("classify(zero Addr) = %q, %v; want %q, true", class, blocked, classInvalid)
	}
}

func TestArticle(t *testing.T) {
	for class, want := range map[string]string{
		classUnspecified: "an", classLoopback: "a", classPrivate: "a", classLinkLocal: "a", classInvalid: "an",
	} {
		if got := article(class); got != want {
			t.Errorf("article(%q) = %q; want %q", class, got, want)
		}
	}
}
