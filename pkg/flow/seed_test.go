package flow

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
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
var seedVars = map[string]any{"order_id": "A-1001", "customer_name": "Ada", "appointment_time": "Tue 10:00"}

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
