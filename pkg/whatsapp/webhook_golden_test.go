package whatsapp

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// webhookFixtures returns the webhook bodies the parser is pinned on: the shared fixtures
// in ../../testdata/webhooks and this package's testdata/webhooks.
func webhookFixtures(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, dir := range []string{"../../testdata/webhooks", "testdata/webhooks"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no webhook fixtures in %s: %v", dir, err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.Base(f)] = b
		}
	}
	return out
}

// TestParseWebhookGolden pins every event the parser makes of the fixtures, with its
// dedupe key and its raw JSON byte for byte: the stores dedupe Meta's retries on
// DedupeKey, so a key that changes makes an already stored event new again.
func TestParseWebhookGolden(t *testing.T) {
	for name, body := range webhookFixtures(t) {
		t.Run(name, func(t *testing.T) {
			evs, err := ParseWebhook(body)
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			var got bytes.Buffer
			for _, e := range evs {
				line, err := json.Marshal(struct {
					DedupeKey string `json:"dedupe_key"`
					RawBytes  string `json:"raw_bytes"` // as received, not compacted
					Event     Event  `json:"event"`
				}{e.DedupeKey(), string(e.Raw), e})
				if err != nil {
					t.Fatal(err)
				}
				got.Write(line)
				got.WriteByte('\n')
			}
			golden := filepath.Join("testdata/golden", strings.TrimSuffix(name, ".json")+".events.jsonl")
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("events of %s differ from %s:\n got: %s\nwant: %s", name, golden, got.Bytes(), want)
			}
		})
	}
}

// TestDedupeKeysPinned: dedupe keys are stored; these are the values databases hold today.
func TestDedupeKeysPinned(t *testing.T) {
	const head = `{"object":"whatsapp_business_account","entry":[{"id":"WABA1","time":1750000000,"changes":[`
	tests := []struct {
		name, changes, want string
	}{
		{"message", `{"field":"messages","value":{"metadata":{"phone_number_id":"111"},"messages":[{"from":"1","id":"wamid.A","timestamp":"1","type":"text","text":{"body":"hi"}}]}}`,
			"msg:wamid.A"},
		{"status", `{"field":"messages","value":{"statuses":[{"id":"wamid.B","status":"read","timestamp":"2"}]}}`,
			"status:wamid.B:read"},
		{"standby message", `{"field":"standby","value":{"messages":[{"from":"1","id":"wamid.C","type":"text"}]}}`,
			"standby:msg:wamid.C"},
		{"standby status", `{"field":"standby","value":{"statuses":[{"id":"wamid.D","status":"sent"}]}}`,
			"standby:status:wamid.D:sent"},
		{"value error", `{"field":"messages","value":{"metadata":{"phone_number_id":"111"},"errors":[{"code":131000,"title":"x"}]}}`,
			"error:3bb4598b21dfb6aaa476efb78e28b28f"},
		{"preference", `{"field":"user_preferences","value":{"user_preferences":[{"wa_id":"1","category":"marketing_messages","value":"stop","timestamp":3}]}}`,
			"user_preferences:6184dce052874988cd0ab43ef28e704d"},
		{"template status", `{"field":"message_template_status_update","value":{"event":"APPROVED","message_template_id":594425479261596,"message_template_name":"order_ready"}}`,
			"template_status:d37466fb7e8b8db80ea1d3a13fb34d2c"},
		{"unknown field", `{"field":"group_lifecycle_update","value":{"groups":[{"id":"G"}]}}`,
			"unknown:d6d3de895509ef55b8452887e0cd824e"},
		{"odd message", `{"field":"messages","value":{"metadata":{"phone_number_id":"111"},"messages":[{"from":"1","type":"text"}]}}`,
			"unknown:8c16eca363b5798b72217a01fc659e24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := ParseWebhook([]byte(head + tt.changes + `]}]}`))
			if err != nil || len(evs) != 1 {
				t.Fatalf("ParseWebhook: %v, %d events", err, len(evs))
			}
			if got := evs[0].DedupeKey(); got != tt.want {
				t.Errorf("DedupeKey = %s, want %s", got, tt.want)
			}
		})
	}
}
