package outbound_test

import (
	"fmt"

	"github.com/wagate/wagate/sender/outbound"
)

// The webhook-signature of SPEC §9's test vector.
func ExampleSign() {
	sig, err := outbound.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(sig)
	// Output: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
}
