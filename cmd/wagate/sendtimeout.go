package main

import (
	"fmt"
	"os"
	"time"
)

// EnvTestSendTimeout names the variable that sets the sender's bound on
// one transport call (sender.Config.SendTimeout, 2 minutes by default),
// for crash tests only. With replicas, a replica taking an account over
// sends again a message its transport confirms was not delivered only
// once the dead replica's send cannot be under way any more, SendTimeout
// after it started: the replica crash harness, whose dryrun sends take
// milliseconds, shortens that wait with it. It is not a flag and not in
// --help: a send slower than it is cut off.
const EnvTestSendTimeout = "WAGATE_TEST_SEND_TIMEOUT"

// testSendTimeout reads EnvTestSendTimeout: 0 (the sender's default) when
// it is not set.
func testSendTimeout() (time.Duration, error) {
	v := os.Getenv(EnvTestSendTimeout)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 5s", EnvTestSendTimeout, v)
	}
	return d, nil
}
