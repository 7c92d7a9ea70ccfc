package gateway_test

import (
	"fmt"

	"github.com/wagate/wagate/gateway"
)

func ExampleServer_InboundURL() {
	s := gateway.New(gateway.Config{PublicURL: "https://wagate.example.com/"}, gateway.Services{})
	fmt.Println(s.InboundURL("4tS1vG0pXo3yQ3l1Vb4nV0oKZb1l6cY2m8lJkq7d0aE"))
	// Output: https://wagate.example.com/inbound/4tS1vG0pXo3yQ3l1Vb4nV0oKZb1l6cY2m8lJkq7d0aE
}
