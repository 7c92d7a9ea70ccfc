package cloudapi_test

import (
	"fmt"
	"time"

	"github.com/wagate/wagate/sender/cloudapi"
	"github.com/wagate/wagate/sender/cloudapi/graphfake"
)

// A status webhook as the gateway handles it: check the signature on the
// raw body, read the updates, apply those that move a message forward.
func ExampleParseStatusWebhook() {
	const appSecret = "app-secret"
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	body := graphfake.StatusWebhook("106540352242922",
		graphfake.Status{ID: "wamid.A", Status: "delivered", At: at, RecipientID: "14155552671"},
		graphfake.Status{ID: "wamid.A", Status: "sent", At: at.Add(-time.Second), RecipientID: "14155552671"},
		graphfake.Status{ID: "wamid.B", Status: "failed", At: at, RecipientID: "14155552672", ErrorCode: 131026, ErrorTitle: "Message undeliverable"},
	)
	header := graphfake.Sign(appSecret, body) // what Meta sends in X-Hub-Signature-256

	if !cloudapi.VerifySignature(appSecret, body, header) {
		fmt.Println("bad signature: answer 401")
		return
	}
	updates, err := cloudapi.ParseStatusWebhook(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	current := map[string]string{"wamid.A": "sent", "wamid.B": "sent"}
	for _, u := range updates {
		if cloudapi.Advance(current[u.ProviderID], u.Status) {
			current[u.ProviderID] = u.Status
			fmt.Println(u.ProviderID, u.Status, u.ErrorCode)
		} else {
			fmt.Println(u.ProviderID, u.Status, "ignored")
		}
	}
	// Output:
	// wamid.A delivered 0
	// wamid.A sent ignored
	// wamid.B failed 131026
}

func ExampleVerifyChallenge() {
	// GET /webhook?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…
	echo, ok := cloudapi.VerifyChallenge("subscribe", "my-verify-token", "1158201444", "my-verify-token")
	fmt.Println(echo, ok)
	_, ok = cloudapi.VerifyChallenge("subscribe", "a guess", "1158201444", "my-verify-token")
	fmt.Println(ok)
	// Output:
	// 1158201444 true
	// false
}
