package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestValueNeverPrints(t *testing.T) {
	v := New("EAAsupersecret")
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "token", v)
	j, _ := json.Marshal(struct{ T Value }{v})
	for _, s := range []string{fmt.Sprint(v), fmt.Sprintf("%v %+v %#v %s %q", v, v, v, v, v), buf.String(), string(j)} {
		if strings.Contains(s, "supersecret") {
			t.Errorf("secret leaked: %s", s)
		}
	}
	if v.Raw() != "EAAsupersecret" {
		t.Error("Raw must return the value")
	}
}

func TestResolve(t *testing.T) {
	env := map[string]string{"WA_TOKEN": "tok"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		raw, want string
		missing   string
	}{
		{"literal", "literal", ""},
		{"${WA_TOKEN}", "tok", ""},
		{"${NOPE}", "", "NOPE"},
		{"${not a ref", "${not a ref", ""},
	}
	for _, tt := range tests {
		got, err := New(tt.raw).Resolve(lookup)
		var me *MissingEnvError
		if tt.missing != "" {
			if !errors.As(err, &me) || me.Name != tt.missing || !strings.Contains(err.Error(), tt.missing) {
				t.Errorf("%s: err = %v, want missing %s", tt.raw, err, tt.missing)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v", tt.raw, got, err)
		}
	}
	if New("${A}").Hint() != "${A}" || New("abc").Hint() != "set (3 characters)" || New("").Hint() != "not set" {
		t.Error("Hint")
	}
}
