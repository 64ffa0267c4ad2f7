package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// TestCompose runs gtc send's composer hook with keys on stdin against graphfake.
func TestCompose(t *testing.T) {
	fake := graphfake.New(graphfake.Options{})
	t.Cleanup(fake.Close)
	client := whatsapp.NewClient(whatsapp.ClientConfig{BaseURL: fake.URL, PhoneNumberID: graphfake.DefaultPhoneNumberID,
		BusinessAccountID: graphfake.DefaultBusinessAccountID, Token: graphfake.DefaultToken})
	tests := []struct {
		name    string
		keys    string
		wantErr error
		wantOut string
		sent    int
	}{
		{name: "text", keys: "+4915123456789\r\rHello from the composer\ry", wantOut: "wamid.", sent: 1},
		{name: "ctrl+c", keys: "+4915123456789\r\x03", wantErr: cmdutil.ErrCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(fake.Messages())
			var out, screen bytes.Buffer
			io := &cmdutil.IOStreams{In: strings.NewReader(tt.keys), Out: &out, ErrOut: &screen, NoColor: true}
			err := Compose(context.Background(), io, cmdutil.ComposeRequest{Client: client})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v\n%s", err, tt.wantErr, screen.String())
			}
			if !strings.HasPrefix(out.String(), tt.wantOut) {
				t.Errorf("stdout %q", out.String())
			}
			if got := len(fake.Messages()) - before; got != tt.sent {
				t.Errorf("sent %d messages, want %d", got, tt.sent)
			}
		})
	}
}

// TestFactoryHasComposer: gtc send gets the TUI composer from the Factory Run builds.
func TestFactoryHasComposer(t *testing.T) {
	if f := newFactory(&cmdutil.IOStreams{}); f.Composer == nil {
		t.Fatal("the Factory has no composer: gtc send would not open it on a terminal")
	}
}
