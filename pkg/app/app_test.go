package app

import (
	"errors"
	"strings"
	"testing"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/secret"
)

func TestSelectProvider(t *testing.T) {
	a := &bundle.Provider{Tenant: "acme", Team: "support", Enabled: true}
	off := &bundle.Provider{Tenant: "acme", Team: "sales"}
	b := &bundle.Bundle{Dir: "bot", Providers: []*bundle.Provider{a, off}}
	tests := []struct {
		name, tenant, team string
		enabled            bool
		want               *bundle.Provider
		wantErr            string
	}{
		{name: "the only enabled one", want: a},
		{name: "named", tenant: "acme", team: "support", enabled: true, want: a},
		{name: "disabled, any state", tenant: "acme", team: "sales", want: off},
		{name: "disabled refused", tenant: "acme", team: "sales", enabled: true, wantErr: "the provider is disabled"},
		{name: "half a name", tenant: "acme", wantErr: "--tenant and --team go together"},
		{name: "unknown", tenant: "x", team: "y", wantErr: "no such provider in bot (it has acme/support, acme/sales)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pick := SelectProvider
			if tt.enabled {
				pick = EnabledProvider
			}
			got, err := pick(b, tt.tenant, tt.team)
			if tt.wantErr != "" {
				var pe *ProviderError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a *ProviderError containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestNewClientToken(t *testing.T) {
	p := &bundle.Provider{Tenant: "acme", Team: "support", PhoneNumberID: "1"}
	if _, err := NewClient(p, nil, ClientOptions{}); err == nil || !strings.Contains(err.Error(), "has no access_token") {
		t.Fatalf("a command's client without a token: err = %v, want the missing token named", err)
	}
	p.AccessToken = secret.New("tok")
	for _, o := range []ClientOptions{{}, {Pooled: true}} {
		if c, err := NewClient(p, nil, o); err != nil || c == nil {
			t.Fatalf("NewClient(%+v) = %v, %v", o, c, err)
		}
	}
}
