package calls_test

import (
	"context"
	"fmt"
	"time"

	"github.com/greentic/gtc/pkg/calls"
	"github.com/greentic/gtc/pkg/fakes/orderapi"
	"github.com/greentic/gtc/pkg/flow"
)

func ExampleRunner_Run() {
	api := orderapi.New(orderapi.Options{})
	defer api.Close()
	r := &calls.Runner{
		Allow:  func(host string) bool { return true }, // (*bundle.Provider).AllowHost
		OnSlow: func(ctx context.Context, c *flow.Call) { fmt.Println("typing…") },
	}
	c := &flow.Call{Kind: flow.CallHTTP, Flow: "status", Node: "lookup", Step: 2,
		IdempotencyKey: flow.IdempotencyKey("conv1", 2),
		HTTP:           &flow.HTTPRequest{Method: "GET", URL: api.OrdersURL() + "/12345", Timeout: 5 * time.Second, Retries: 2}}
	res, err := r.Run(context.Background(), c)
	if err != nil {
		return // ctx ended: run it again later
	}
	body := res.Body.(map[string]any)
	fmt.Println(res.Status, body["status"], api.Requests()[0].IdempotencyKey)
	// feed back: set.Step(conv, flow.ResultInput(c.Step, res), ctx)

	// Output: 200 shipped gtc-conv1-2
}

func ExampleRunner_Try() {
	api := orderapi.New(orderapi.Options{})
	defer api.Close()
	api.Fail(orderapi.Fault{Status: 503, RetryAfter: "2"})
	r := &calls.Runner{}
	c := &flow.Call{Kind: flow.CallHTTP, IdempotencyKey: "gtc-conv1-2",
		HTTP: &flow.HTTPRequest{Method: "GET", URL: api.OrdersURL() + "/12345", Retries: 2}}
	for attempt := 1; ; attempt++ { // a durable job: one try per run of the job
		a, err := r.Try(context.Background(), c, attempt)
		if err != nil {
			return
		}
		fmt.Println(attempt, a.Outcome, a.Retry, a.Wait)
		if !a.Retry {
			break
		}
		// return river.JobSnooze(a.Wait) or an error whose NextRetry is a.Wait
	}
	// Output:
	// 1 server_error true 2s
	// 2 ok false 0s
}
