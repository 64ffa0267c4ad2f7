package whatsapp

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// textWebhook is a webhook POST as Meta sends it for n text messages from n contacts of
// one phone number, in one entry and one change.
func textWebhook(n int) []byte {
	var contacts, messages []string
	for i := range n {
		from := fmt.Sprintf("1650555%04d", i)
		contacts = append(contacts, fmt.Sprintf(`{"profile":{"name":"Customer %d"},"wa_id":%q}`, i, from))
		messages = append(messages, fmt.Sprintf(`{"from":%q,"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA%04d","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color? (%d)"}}`, from, i, i))
	}
	return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},` +
		`"contacts":[` + strings.Join(contacts, ",") + `],"messages":[` + strings.Join(messages, ",") + `]},"field":"messages"}]}]}`)
}

// statusWebhook is one delivered status with pricing, the other common webhook.
func statusWebhook() []byte {
	return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},` +
		`"statuses":[{"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA","status":"delivered","timestamp":"1750263773","recipient_id":"16505551234",` +
		`"pricing":{"billable":true,"pricing_model":"PMP","category":"utility","type":"regular"}}]},"field":"messages"}]}]}`)
}

// BenchmarkParseWebhook: the parse on the ack path, per POST.
func BenchmarkParseWebhook(b *testing.B) {
	mixed, err := os.ReadFile("../../testdata/webhooks/batch_mixed.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		body []byte
	}{
		{"text-1", textWebhook(1)},
		{"text-100", textWebhook(100)},
		{"status-1", statusWebhook()},
		{"mixed", mixed},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				if _, err := ParseWebhook(bc.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifySignature: the HMAC check on the ack path, per POST.
func BenchmarkVerifySignature(b *testing.B) {
	for _, bc := range []struct {
		name string
		body []byte
	}{
		{"text-1", textWebhook(1)},
		{"text-100", textWebhook(100)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			sig := Sign(bc.body, "app-secret")
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				if err := VerifySignature(bc.body, sig, "app-secret"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestBenchWebhooksParse(t *testing.T) {
	for _, n := range []int{1, 100} {
		evs, err := ParseWebhook(textWebhook(n))
		if err != nil || len(evs) != n || evs[n-1].Kind != EventMessage || evs[n-1].Message.ContactName != fmt.Sprintf("Customer %d", n-1) {
			t.Fatalf("textWebhook(%d): %v, %d events", n, err, len(evs))
		}
	}
	evs, err := ParseWebhook(statusWebhook())
	if err != nil || len(evs) != 1 || evs[0].Status == nil || evs[0].Status.Pricing == nil {
		t.Fatalf("statusWebhook: %v, %+v", err, evs)
	}
}
