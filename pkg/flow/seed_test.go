package flow

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/greentic/gtc/pkg/flow/starter"
	"github.com/greentic/gtc/pkg/whatsapp/metaschema"
)

const seedDir = "../../testdata/flows/seed"

func seedFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(seedDir, "*.ygtc"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no seed flows in %s: %v", seedDir, err)
	}
	sort.Strings(files)
	return files
}

// The starter flows gtc setup copies are exactly the seed flows under testdata.
func TestStarterIsSeed(t *testing.T) {
	names, err := fs.Glob(starter.FS, "*.ygtc")
	if err != nil {
		t.Fatal(err)
	}
	var seed []string
	for _, f := range seedFiles(t) {
		seed = append(seed, filepath.Base(f))
	}
	if len(names) != len(seed) {
		t.Fatalf("starter has %v, testdata/flows/seed has %v", names, seed)
	}
	for _, n := range names {
		a, _ := fs.ReadFile(starter.FS, n)
		b, err := os.ReadFile(filepath.Join(seedDir, n))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between pkg/flow/starter and testdata/flows/seed (copy it over): %v", n, err)
		}
	}
}

// Every seed flow validates without errors or warnings.
func TestSeedFlowsValidate(t *testing.T) {
	set, probs, err := CheckFiles(seedFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probs.All() {
		t.Errorf("%s", p)
	}
	want := []string{"appointment_reminder", "check_status", "feedback", "follow_up", "greeting", "handle_button", "location", "media", "menu", "order_confirmation"}
	if got := set.sortedNames(); !equal(got, want) {
		t.Errorf("flows = %v, want %v", got, want)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// seedVars fill every template variable the seed flows use.
var seedVars = map[string]any{"order_id": "A-1001", "order": map[string]any{"ok": true, "status": 200, "body": map[string]any{"status": "shipped"}}, "customer_name": "Ada", "appointment_time": "Tue 10:00"}

// Every reply of every seed flow renders to a body that passes gtc's own limits check and
// validates against #/components/schemas/Message in Meta's OpenAPI description.
func TestSeedRepliesMatchMetaSchema(t *testing.T) {
	v := metaschema.Require(t)
	set, err := LoadFiles(seedFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	env := NewEnv(nil, Context{To: "15550001234", Vars: seedVars})
	kinds := map[string]bool{}
	for _, f := range set.Flows {
		for _, n := range f.Nodes {
			if n.Type != NodeReply {
				continue
			}
			t.Run(f.Name+"/"+n.ID, func(t *testing.T) {
				m, err := n.Render(env)
				if err != nil {
					t.Fatal(err)
				}
				m.To = "15550001234"
				kinds[m.Type] = true
				if err := m.Validate(); err != nil {
					t.Errorf("whatsapp limits: %v", err)
				}
				body, _ := json.Marshal(m)
				if err := v.ValidateMessage(body); err != nil {
					t.Errorf("Meta schema: %v\n%s", err, body)
				}
			})
		}
	}
	for _, k := range []string{"text", "template", "interactive", "image", "document", "location"} {
		if !kinds[k] {
			t.Errorf("no seed reply of type %s", k)
		}
	}
}

// The reply kinds beyond the seed's (cta_url, reaction, contacts, audio, sticker, media
// headers, footers, currency and date_time parameters, url buttons) also give bodies that
// Meta's schema accepts.
func TestOtherKindsMatchMetaSchema(t *testing.T) {
	v := metaschema.Require(t)
	s, err := LoadFiles([]string{"../../testdata/flows/kinds/kinds.ygtc"})
	if err != nil {
		t.Fatal(err)
	}
	ev := Event{Type: "image", MediaType: "image", MessageID: "wamid.in", ContactName: "Ada", From: "4915112345678"}
	replies, err := s.Handle(ev, Context{To: "4915112345678", Vars: map[string]any{"ref": "spring"}})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, r := range replies {
		types = append(types, r.Message.Type)
		if err := r.Message.Validate(); err != nil {
			t.Errorf("%s: whatsapp limits: %v", r.Node, err)
		}
		body, _ := json.Marshal(r.Message)
		if err := v.ValidateMessage(body); err != nil {
			t.Errorf("%s: Meta schema: %v\n%s", r.Node, err, body)
		}
	}
	want := []string{"interactive", "reaction", "contacts", "audio", "sticker", "interactive", "template"}
	if !equal(types, want) {
		t.Errorf("types = %v, want %v", types, want)
	}
	if r := replies[1].Message.Reaction; r.MessageID != "wamid.in" {
		t.Errorf("reaction = %+v, want the inbound message id", r)
	}
	if u := replies[0].Message.Interactive.Action.Parameters.URL; u != "https://example.com/shop?ref=spring" {
		t.Errorf("cta url = %q", u)
	}
}

// The starter's Check Status asks for the order number and, with order_api_url set, looks
// it up: GET {order_api_url}/{number}; without the setting it says lookups are not
// configured. Every answer of the order API ends the conversation politely.
func TestStarterCheckStatus(t *testing.T) {
	set, err := LoadFiles(seedFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	const api = "https://shop.example.com/api/orders/"
	tests := []struct {
		name     string
		settings map[string]string
		result   *CallResult // nil: no call expected
		url      string
		reply    string
	}{
		{"not configured", nil, nil, "", "Order lookup is not configured yet, sorry. We have noted order 12345: write \"menu\" for other options."},
		{"empty setting", map[string]string{"order_api_url": ""}, nil, "", "Order lookup is not configured yet"},
		{"found", map[string]string{"order_api_url": api}, &CallResult{Status: 200, Body: map[string]any{"id": "12345", "status": "shipped"}},
			"https://shop.example.com/api/orders/12345", "Order 12345 is shipped."},
		// An answer gtc cannot read is no answer.
		{"found without a status", map[string]string{"order_api_url": api}, &CallResult{Status: 200, Body: "ok"},
			"https://shop.example.com/api/orders/12345", "Sorry, our order system is not answering, please try later."},
		{"found with an empty status", map[string]string{"order_api_url": api}, &CallResult{Status: 200, Body: map[string]any{"id": "12345"}},
			"https://shop.example.com/api/orders/12345", "Sorry, our order system is not answering, please try later."},
		{"not found", map[string]string{"order_api_url": api}, &CallResult{Status: 404, Body: map[string]any{"error": "order not found"}},
			"https://shop.example.com/api/orders/12345", "There is no order with the number 12345."},
		{"refused", map[string]string{"order_api_url": api}, &CallResult{Status: 401},
			"https://shop.example.com/api/orders/12345", "Sorry, our order system is not answering, please try later."},
		{"down", map[string]string{"order_api_url": api}, &CallResult{Status: 503},
			"https://shop.example.com/api/orders/12345", "Sorry, our order system is not answering, please try later."},
		{"unreachable", map[string]string{"order_api_url": api}, &CallResult{Err: "connection refused"},
			"https://shop.example.com/api/orders/12345", "Sorry, our order system is not answering, please try later."},
		// A setting that is no http(s) URL fails the call when the node renders: on_error.
		{"bad setting", map[string]string{"order_api_url": "shop.example.com/orders"}, nil, "", "Sorry, our order system is not answering, please try later."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Context{To: "4915112345678", Now: 1_800_000_000, Settings: tt.settings, NewID: func() string { return "c1" }}
			out, err := set.Step(nil, MessageInput(textEv("status")), c)
			if err != nil || out.Next == nil {
				t.Fatalf("status: %v, %+v", err, out)
			}
			out, err = set.Step(out.Next, MessageInput(textEv("12345")), c)
			if err != nil {
				t.Fatal(err)
			}
			if out.UserUpdates["last_order"] != "12345" {
				t.Errorf("user updates = %v", out.UserUpdates)
			}
			if tt.result != nil {
				if out.Call == nil || out.Call.HTTP == nil {
					t.Fatalf("no call: %+v", out)
				}
				if h := out.Call.HTTP; h.Method != "GET" || h.URL != tt.url || h.Body != nil {
					t.Errorf("request %s %s %q, want GET %s", h.Method, h.URL, h.Body, tt.url)
				}
				out, err = set.Step(out.Next, ResultInput(out.Call.Step, *tt.result), c)
				if err != nil {
					t.Fatal(err)
				}
			} else if out.Call != nil {
				t.Fatalf("unexpected call %+v", out.Call.HTTP)
			}
			got := texts(out)
			if len(got) != 1 || !strings.HasPrefix(got[0], tt.reply) {
				t.Fatalf("replies = %q, want %q", got, tt.reply)
			}
			if out.Next != nil {
				t.Errorf("the conversation goes on at %s/%s", out.Next.Flow, out.Next.Node)
			}
		})
	}
}

// settings.NAME reads Context.Settings; names it does not know are ignored, names missing
// read as "".
func TestSettingsEnv(t *testing.T) {
	env := NewEnv(nil, Context{Settings: map[string]string{"order_api_url": "https://x.example.com", "other": "y"}})
	if env.Settings.OrderAPIURL != "https://x.example.com" {
		t.Errorf("settings = %+v", env.Settings)
	}
	if env := NewEnv(nil, Context{}); env.Settings != (SettingsEnv{}) {
		t.Errorf("settings without Context.Settings = %+v", env.Settings)
	}
	got := SettingsFromVars(map[string]any{"settings": map[string]any{"order_api_url": "https://x.example.com", "n": 1.0}})
	if len(got) != 1 || got["order_api_url"] != "https://x.example.com" {
		t.Errorf("SettingsFromVars = %v", got)
	}
	if got := SettingsFromVars(map[string]any{"settings": "x"}); got != nil {
		t.Errorf("SettingsFromVars of a string = %v", got)
	}
	if !equal(SettingNames, []string{"order_api_url"}) {
		t.Errorf("SettingNames = %v", SettingNames)
	}
}
