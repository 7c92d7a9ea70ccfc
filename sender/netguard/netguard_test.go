package netguard

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
		{"0.0.0.0", Unspecified},
		{"0.1.2.3", Unspecified},
		{"10.0.0.5", Private},
		{"10.255.255.255", Private},
		{"100.64.0.1", SharedCGNAT},
		{"100.127.255.255", SharedCGNAT},
		{"127.0.0.1", Loopback},
		{"127.255.255.254", Loopback},
		{"169.254.169.254", LinkLocal},
		{"172.16.0.1", Private},
		{"172.31.255.255", Private},
		{"192.0.0.8", Reserved},
		{"192.0.2.1", Documentation},
		{"192.88.99.1", Reserved},
		{"192.168.1.1", Private},
		{"198.18.0.1", Benchmarking},
		{"198.19.255.255", Benchmarking},
		{"198.51.100.7", Documentation},
		{"203.0.113.9", Documentation},
		{"224.0.0.1", Multicast},
		{"239.255.255.250", Multicast},
		{"240.0.0.1", Reserved},
		{"255.255.255.255", Broadcast},
		// IPv4-mapped IPv6 takes the class of its IPv4 address.
		{"::ffff:127.0.0.1", Loopback},
		{"::ffff:10.1.2.3", Private},
		{"::ffff:169.254.169.254", LinkLocal},
		{"::ffff:0.0.0.0", Unspecified},
		{"::ffff:93.184.216.34", ""},
		// NAT64 and 6to4 likewise.
		{"64:ff9b::7f00:1", Loopback},     // 127.0.0.1
		{"64:ff9b::a9fe:a9fe", LinkLocal}, // 169.254.169.254
		{"64:ff9b::5db8:d822", ""},        // 93.184.216.34
		{"2002:c0a8:0101::1", Private},    // 192.168.1.1
		{"2002:5db8:d822::1", ""},         // 93.184.216.34
		{"64:ff9b:1::a00:1", Reserved},    // local-use NAT64: outside 2000::/3
		{"::127.0.0.1", Reserved},         // deprecated IPv4-compatible form
		// IPv6.
		{"2606:4700:4700::1111", ""},
		{"2a00:1450:4001:80b::200e", ""},
		{"::", Unspecified},
		{"::1", Loopback},
		{"fe80::1", LinkLocal},
		{"fe80::1%eth0", LinkLocal},
		{"febf:ffff::1", LinkLocal},
		{"fec0::1", Private},
		{"fc00::1", Private},
		{"fd12:3456:789a::1", Private},
		{"ff02::1", Multicast},
		{"ff05::1:3", Multicast},
		{"2001:db8::1", Documentation},
		{"3fff::1", Documentation},
		{"2001:2::1", Benchmarking},
		{"2001::1", Reserved},         // Teredo
		{"2001:10::1", Reserved},      // ORCHID
		{"2001:200::1", ""},           // first address after 2001::/23
		{"100::1", Reserved},          // discard-only 100::/64, outside 2000::/3
		{"4000::1", Reserved},         // outside 2000::/3
		{"::ffff:0:7f00:1", Reserved}, // SIIT ::ffff:0:0/96, not the mapped form
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		class, blocked := Classify(a)
		if blocked != (tt.class != "") || class != tt.class {
			t.Errorf("Classify(%s) = %q, %v; want %q, %v", tt.addr, class, blocked, tt.class, tt.class != "")
		}
	}
	if class, blocked := Classify(netip.Addr{}); !blocked || class != Invalid {
		t.Errorf("Classify(zero Addr) = %q, %v; want %q, true", class, blocked, Invalid)
	}
}

func TestArticle(t *testing.T) {
	for class, want := range map[string]string{
		Unspecified: "an", Loopback: "a", Private: "a", LinkLocal: "a", Invalid: "an",
	} {
		if got := Article(class); got != want {
			t.Errorf("Article(%q) = %q; want %q", class, got, want)
		}
	}
}
