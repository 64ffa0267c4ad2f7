package whatsapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/greentic/gtc/pkg/whatsapp"
	"github.com/greentic/gtc/pkg/whatsapp/metaschema"
)

// The body SetWebhookOverride posts has exactly the shape of Meta's
// #/components/schemas/WebhookConfiguration (PhoneNumberStatusUpdateRequest's
// webhook_configuration): its required keys, and no key the schema does not have.
func TestContractWebhookOverrideMatchesMetaSchema(t *testing.T) {
	path, err := metaschema.Find()
	if errors.Is(err, metaschema.ErrNotFound) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Components struct {
			Schemas map[string]struct {
				Required   []string                  `yaml:"required"`
				Properties map[string]map[string]any `yaml:"properties"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	req, ok := spec.Components.Schemas["PhoneNumberStatusUpdateRequest"]
	if !ok || req.Properties["webhook_configuration"]["$ref"] != "#/components/schemas/WebhookConfiguration" {
		t.Fatalf("the spec's PhoneNumberStatusUpdateRequest has no webhook_configuration: %+v", req.Properties["webhook_configuration"])
	}
	wc := spec.Components.Schemas["WebhookConfiguration"]

	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		io.WriteString(w, `{"success":true}`)
	}))
	t.Cleanup(srv.Close)
	c := whatsapp.NewClient(whatsapp.ClientConfig{BaseURL: srv.URL, PhoneNumberID: "1", Token: "t"})
	for _, callback := range []string{"https://bot.example.com/webhook/whatsapp/a/b", ""} {
		if err := c.SetWebhookOverride(context.Background(), callback, "vt"); err != nil {
			t.Fatal(err)
		}
		var sent map[string]map[string]any
		if err := json.Unmarshal(body, &sent); err != nil || len(sent) != 1 || sent["webhook_configuration"] == nil {
			t.Fatalf("body %s: want only webhook_configuration", body)
		}
		for k := range sent["webhook_configuration"] {
			if _, ok := wc.Properties[k]; !ok {
				t.Errorf("%q is not a property of Meta's WebhookConfiguration", k)
			}
		}
		for _, k := range wc.Required {
			if _, ok := sent["webhook_configuration"][k]; !ok {
				t.Errorf("required %q missing from %s", k, body)
			}
		}
		if callback == "" && slices.Contains(keys(sent["webhook_configuration"]), "verify_token") {
			t.Errorf("removing the override sends no verify token: %s", body)
		}
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
