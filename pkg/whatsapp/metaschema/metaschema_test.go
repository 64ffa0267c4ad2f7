package metaschema_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/greentic/gtc/pkg/whatsapp/metaschema"
)

// Meta's request examples that its own v23.0 schema does not describe. Each is a gap in the
// spec (not one of the documented relaxations), so the validator keeps rejecting them.
var specGaps = map[string]string{
	"Send Catalog Template Message":          "sub_type CATALOG is upper case, the enum is lower case",
	"Send Multi-Product Message":             "header type is not in the enum",
	"Send Order Details Message":             "order_details is not in InteractiveObject",
	"Send Order Status Message":              "order_status is not in InteractiveObject",
	"Send Reply to List Message":             "the example has no type",
	"Send Text Message with Preview URL":     "the example has no type",
	"Send typing indicator and read receipt": "a read receipt is not a Message",
}

func TestRequestExamplesValidate(t *testing.T) {
	v := metaschema.Require(t)
	ex := v.RequestExamples()
	if len(ex) < 40 {
		t.Fatalf("spec has %d message request examples, want at least 40", len(ex))
	}
	names := make([]string, 0, len(ex))
	for n := range ex {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			err := v.ValidateMessage(ex[name])
			if reason, gap := specGaps[name]; gap {
				if err == nil {
					t.Fatalf("expected the schema to reject it (%s); the spec changed, update specGaps", reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("Meta's own example is rejected: %v", err)
			}
		})
	}
	for name := range specGaps {
		if _, ok := ex[name]; !ok {
			t.Errorf("specGaps names %q, which is not an example in the spec", name)
		}
	}
}

func TestWebhookExamples(t *testing.T) {
	v := metaschema.Require(t)
	ex := v.WebhookExamples()
	if len(ex) != 16 {
		t.Fatalf("got %d webhook examples, want 16", len(ex))
	}
	for name, body := range ex {
		var p struct {
			Object string            `json:"object"`
			Entry  []json.RawMessage `json:"entry"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if p.Object != "whatsapp_business_account" || len(p.Entry) == 0 {
			t.Errorf("%s: object %q with %d entries", name, p.Object, len(p.Entry))
		}
	}
	if _, ok := ex["Interactive Button Reply Message"]; !ok {
		t.Errorf("missing the button reply example")
	}
}

func TestValidateMessage(t *testing.T) {
	v := metaschema.Require(t)
	btn := func(n int) string {
		var b []string
		for i := 0; i < n; i++ {
			b = append(b, `{"type":"reply","reply":{"id":"b`+string(rune('0'+i))+`","title":"T`+string(rune('0'+i))+`"}}`)
		}
		return `{"messaging_product":"whatsapp","to":"4915112345678","type":"interactive","interactive":{"type":"button","body":{"text":"Pick"},"action":{"buttons":[` + strings.Join(b, ",") + `]}}}`
	}
	tests := []struct {
		name     string
		body     string
		wantPath string // "" means valid
		wantMsg  string
	}{
		{"text", `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+4915112345678","type":"text","text":{"body":"hi","preview_url":false}}`, "", ""},
		{"text without recipient_type", `{"messaging_product":"whatsapp","to":"4915112345678","type":"text","text":{"body":"hi"}}`, "", ""},
		{"template language code only", `{"messaging_product":"whatsapp","to":"1","type":"template","template":{"name":"hello_world","language":{"code":"en_US"}}}`, "", ""},
		{"template button index integer", `{"messaging_product":"whatsapp","to":"1","type":"template","template":{"name":"t","language":{"code":"en"},"components":[{"type":"button","sub_type":"quick_reply","index":0,"parameters":[{"type":"payload","payload":"p"}]}]}}`, "", ""},
		{"template button index string", `{"messaging_product":"whatsapp","to":"1","type":"template","template":{"name":"t","language":{"code":"en"},"components":[{"type":"button","sub_type":"quick_reply","index":"9","parameters":[{"type":"payload","payload":"p"}]}]}}`, "", ""},
		{"template button index 10", `{"messaging_product":"whatsapp","to":"1","type":"template","template":{"name":"t","language":{"code":"en"},"components":[{"type":"button","sub_type":"quick_reply","index":10}]}}`, "template.components[0].index", ""},
		{"template language policy wrong", `{"messaging_product":"whatsapp","to":"1","type":"template","template":{"name":"t","language":{"code":"en","policy":"fallback"}}}`, "template.language.policy", ""},
		{"template without language", `{"messaging_product":"whatsapp","to":"1","type":"template","template":{"name":"t"}}`, "template", "language"},
		{"location numbers", `{"messaging_product":"whatsapp","to":"1","type":"location","location":{"latitude":52.5,"longitude":13.4,"name":"Berlin"}}`, "", ""},
		{"location bool", `{"messaging_product":"whatsapp","to":"1","type":"location","location":{"latitude":true,"longitude":13.4}}`, "location.latitude", ""},
		{"three buttons", btn(3), "", ""},
		{"four buttons", btn(4), "interactive.action.buttons", "maxItems"},
		{"unknown top-level key", `{"messaging_product":"whatsapp","to":"1","type":"text","text":{"body":"hi"},"colour":"red"}`, "$", "colour"},
		{"unknown text key", `{"messaging_product":"whatsapp","to":"1","type":"text","text":{"body":"hi","bold":true}}`, "text", "bold"},
		{"wrong nesting", `{"messaging_product":"whatsapp","to":"1","type":"text","body":"hi"}`, "$", "body"},
		{"text as string", `{"messaging_product":"whatsapp","to":"1","type":"text","text":"hi"}`, "text", "object"},
		{"missing to", `{"messaging_product":"whatsapp","type":"text","text":{"body":"hi"}}`, "$", "to"},
		{"unknown type", `{"messaging_product":"whatsapp","to":"1","type":"carousel"}`, "type", "carousel"},
		{"missing type", `{"messaging_product":"whatsapp","to":"1","text":{"body":"hi"}}`, "type", "missing"},
		{"not json", `{"messaging_product":`, "$", "JSON"},
		{"array", `[]`, "$", "object"},
		{"image by link", `{"messaging_product":"whatsapp","to":"1","type":"image","image":{"link":"https://x/y.jpg","caption":"c"}}`, "", ""},
		{"image with id and link", `{"messaging_product":"whatsapp","to":"1","type":"image","image":{"id":"1","link":"https://x/y.jpg"}}`, "image", ""},
		{"image with neither", `{"messaging_product":"whatsapp","to":"1","type":"image","image":{"caption":"c"}}`, "image", ""},
		{"cta_url", `{"messaging_product":"whatsapp","to":"1","type":"interactive","interactive":{"type":"cta_url","body":{"text":"Go"},"action":{"name":"cta_url","parameters":{"display_text":"Open","url":"https://example.com"}}}}`, "", ""},
		{"cta_url long text", `{"messaging_product":"whatsapp","to":"1","type":"interactive","interactive":{"type":"cta_url","body":{"text":"Go"},"action":{"name":"cta_url","parameters":{"display_text":"This display text is too long","url":"https://example.com"}}}}`, "interactive.action.parameters.display_text", ""},
		{"list", `{"messaging_product":"whatsapp","to":"1","type":"interactive","interactive":{"type":"list","body":{"text":"Pick"},"action":{"button":"Menu","sections":[{"title":"S","rows":[{"id":"r1","title":"Row"}]}]}}}`, "", ""},
		{"reaction", `{"messaging_product":"whatsapp","to":"1","type":"reaction","reaction":{"message_id":"wamid.X","emoji":"👍"}}`, "", ""},
		{"reply context", `{"messaging_product":"whatsapp","to":"1","type":"text","context":{"message_id":"wamid.X"},"text":{"body":"hi"}}`, "", ""},
		{"template FLOW button", `{"messaging_product":"whatsapp","to":"1","type":"template","template":{"name":"t","language":{"code":"en"},"components":[{"type":"button","sub_type":"flow","index":"0","parameters":[{"type":"action","action":{"flow_token":"tok","flow_action_data":{"a":1}}}]}]}}`, "", ""},
		{"flow by id", `{"messaging_product":"whatsapp","to":"1","type":"interactive","interactive":{"type":"flow","body":{"text":"Book"},"action":{"name":"flow","parameters":{"flow_message_version":"3","flow_id":"1","flow_cta":"Book"}}}}`, "", ""},
		{"flow cta too long", `{"messaging_product":"whatsapp","to":"1","type":"interactive","interactive":{"type":"flow","body":{"text":"Book"},"action":{"name":"flow","parameters":{"flow_message_version":"3","flow_id":"1","flow_cta":"` + strings.Repeat("x", 31) + `"}}}}`, "interactive.action.parameters.flow_cta", ""},
		{"callback data", `{"messaging_product":"whatsapp","to":"1","type":"text","text":{"body":"hi"},"biz_opaque_callback_data":"gtc:42:1"}`, "", ""},
		{"callback data too long", `{"messaging_product":"whatsapp","to":"1","type":"text","text":{"body":"hi"},"biz_opaque_callback_data":"` + strings.Repeat("x", 513) + `"}`, "biz_opaque_callback_data", ""},
		{"BSUID recipient", `{"messaging_product":"whatsapp","recipient":"US.13491208655302741918","type":"text","text":{"body":"hi"}}`, "", ""},
		{"parent BSUID recipient", `{"messaging_product":"whatsapp","recipient":"US.ENT.11815799212886844830","type":"template","template":{"name":"t","language":{"code":"en"}}}`, "", ""},
		{"recipient not a BSUID", `{"messaging_product":"whatsapp","recipient":"+4915112345678","type":"text","text":{"body":"hi"}}`, "recipient", ""},
		{"recipient_type wrong", `{"messaging_product":"whatsapp","recipient_type":"everyone","to":"1","type":"text","text":{"body":"hi"}}`, "recipient_type", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.ValidateMessage([]byte(tt.body))
			if tt.wantPath == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var e *metaschema.Error
			if !errors.As(err, &e) {
				t.Fatalf("want *metaschema.Error, got %v", err)
			}
			found := false
			for _, x := range e.Violations {
				if x.Path == tt.wantPath && strings.Contains(x.Msg, tt.wantMsg) {
					found = true
				}
			}
			if !found {
				t.Fatalf("no violation at %s mentioning %q in: %v", tt.wantPath, tt.wantMsg, err)
			}
			if !strings.Contains(err.Error(), tt.wantPath) {
				t.Errorf("error text does not name the path %s: %v", tt.wantPath, err)
			}
		})
	}
}

func TestFind(t *testing.T) {
	real, err := metaschema.Find()
	if errors.Is(err, metaschema.ErrNotFound) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Run("env file", func(t *testing.T) {
		t.Setenv(metaschema.EnvVar, real)
		if got, err := metaschema.Find(); err != nil || got != real {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("env dir", func(t *testing.T) {
		t.Setenv(metaschema.EnvVar, filepath.Dir(real))
		if got, err := metaschema.Find(); err != nil || got != real {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("env missing", func(t *testing.T) {
		t.Setenv(metaschema.EnvVar, filepath.Join(t.TempDir(), "nope.yaml"))
		if _, err := metaschema.Find(); !errors.Is(err, metaschema.ErrNotFound) {
			t.Fatalf("want ErrNotFound, got %v", err)
		}
	})
	t.Run("sibling shared dir", func(t *testing.T) {
		root := t.TempDir()
		spec := filepath.Join(root, "shared", "meta-openapi", metaschema.SpecFile)
		if err := os.MkdirAll(filepath.Dir(spec), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(spec, []byte("x: 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		deep := filepath.Join(root, "main", "pkg", "x")
		if err := os.MkdirAll(deep, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Chdir(deep)
		t.Setenv(metaschema.EnvVar, "")
		got, err := metaschema.Find()
		if err != nil {
			t.Fatal(err)
		}
		if g, _ := filepath.EvalSymlinks(got); g != mustEval(t, spec) {
			t.Fatalf("got %s, want %s", got, spec)
		}
		if _, err := metaschema.Load(got); err == nil {
			t.Fatalf("a spec without components.schemas must not load")
		}
	})
}

func mustEval(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func BenchmarkValidateMessage(b *testing.B) {
	v, err := metaschema.Default()
	if err != nil {
		b.Skipf("skipping: %v", err)
	}
	body := []byte(`{"messaging_product":"whatsapp","to":"1","type":"interactive","interactive":{"type":"button","body":{"text":"Pick"},"action":{"buttons":[{"type":"reply","reply":{"id":"a","title":"A"}}]}}}`)
	for b.Loop() {
		if err := v.ValidateMessage(body); err != nil {
			b.Fatal(err)
		}
	}
}

// The Marketing Messages API's bodies: Meta's three examples validate; what gtc sends (no
// recipient_type, biz_opaque_callback_data, a BSUID in recipient) validates; anything but
// a template, an unknown key, or no recipient at all does not.
func TestValidateMarketingMessage(t *testing.T) {
	v := metaschema.Require(t)
	ex := v.MarketingRequestExamples()
	if len(ex) < 3 {
		t.Fatalf("spec has %d marketing_messages examples, want 3", len(ex))
	}
	for name, body := range ex {
		if err := v.ValidateMarketingMessage(body); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	tmpl := `"template":{"name":"spring_sale","language":{"code":"en_US"}}`
	for _, tt := range []struct {
		name, body, path string // path "" means valid
	}{
		{"gtc's body", `{"messaging_product":"whatsapp","to":"4915112345678","type":"template",` + tmpl + `,"biz_opaque_callback_data":"gtc:1:1"}`, ""},
		{"bsuid", `{"messaging_product":"whatsapp","recipient":"US.13491208655302741918","type":"template",` + tmpl + `}`, ""},
		{"policy", `{"messaging_product":"whatsapp","to":"4915112345678","type":"template",` + tmpl + `,"product_policy":"STRICT"}`, ""},
		{"text", `{"messaging_product":"whatsapp","to":"4915112345678","type":"text","text":{"body":"hi"}}`, "type"},
		{"unknown key", `{"messaging_product":"whatsapp","to":"4915112345678","type":"template",` + tmpl + `,"preview_url":true}`, "$"},
		{"no recipient", `{"messaging_product":"whatsapp","type":"template",` + tmpl + `}`, "$"},
		{"bad policy", `{"messaging_product":"whatsapp","to":"4915112345678","type":"template",` + tmpl + `,"product_policy":"LOOSE"}`, "product_policy"},
		{"long callback", `{"messaging_product":"whatsapp","to":"1","type":"template",` + tmpl + `,"biz_opaque_callback_data":"` + strings.Repeat("x", 513) + `"}`, "biz_opaque_callback_data"},
		{"array", `[]`, "$"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := v.ValidateMarketingMessage([]byte(tt.body))
			if tt.path == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var me *metaschema.Error
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want a *metaschema.Error at %s", err, tt.path)
			}
			for _, x := range me.Violations {
				if x.Path == tt.path {
					return
				}
			}
			t.Fatalf("no violation at %s: %v", tt.path, err)
		})
	}
}
