package graphfake

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/whatsapp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// TestStatusPayloadGolden pins the status webhooks to Meta's shape (golden files, -update to
// rewrite) and checks that gtc's own webhook parser and signature check accept them.
func TestStatusPayloadGolden(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	s := NewUnstarted(Options{Clock: func() time.Time { return at }})
	defer s.Close()
	const id = "wamid.HBgNNDkxNTExMjM0NTY3OBUCABEYFDAwMDFBQkNERUYwMTIzNDU2Nzg5AA=="
	tests := []struct {
		status string
		fault  *Fault
	}{
		{"sent", nil},
		{"delivered", nil},
		{"read", nil},
		{"failed", &Fault{Code: 131026}},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			body := s.statusPayload(hookJob{id: id, to: "+4915112345678", fault: tt.fault}, tt.status, at)
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, body, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			golden := filepath.Join("testdata", "status_"+tt.status+".golden.json")
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Fatalf("status webhook differs from %s:\n%s", golden, pretty.Bytes())
			}

			if err := whatsapp.VerifySignature(body, Sign(body, "secret"), "secret"); err != nil {
				t.Fatalf("signature: %v", err)
			}
			evs, err := whatsapp.ParseWebhook(body)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 || evs[0].Status == nil {
				t.Fatalf("events %+v", evs)
			}
			ev := evs[0]
			if ev.PhoneNumberID != DefaultPhoneNumberID || ev.WABAID != DefaultBusinessAccountID ||
				ev.Status.ID != id || ev.Status.Status != tt.status || ev.Status.Timestamp != at.Unix() ||
				ev.Status.RecipientID != "4915112345678" {
				t.Fatalf("parsed %+v / %+v", ev, *ev.Status)
			}
			if tt.fault != nil && (len(ev.Status.Errors) != 1 || ev.Status.Errors[0].Code != tt.fault.Code) {
				t.Fatalf("errors %+v", ev.Status.Errors)
			}
		})
	}
}
