package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

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
		fail    bool
		// then is typed once the screen shows after (the send's outcome arrives later).
		then, after string
	}{
		{name: "text", keys: "+4915123456789\r\rHello from the composer\ry", wantOut: "wamid.", sent: 1},
		{name: "ctrl+c", keys: "+4915123456789\r\x03", wantErr: cmdutil.ErrCancelled},
		// A failed send was shown on the screen with its advice: the command prints nothing
		// more (ErrSilent), so the error appears once.
		{name: "send fails, quit", keys: "+4915123456789\r\rHello\ry", fail: true, wantErr: cmdutil.ErrSilent,
			then: "n", after: "try again?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(fake.Messages())
			if tt.fail {
				fake.FailNext(1, 131026)
			}
			var out bytes.Buffer
			screen := &lockedBuffer{}
			var in io.Reader = strings.NewReader(tt.keys)
			if tt.then != "" {
				in = io.MultiReader(in, &gatedReader{r: strings.NewReader(tt.then), ready: func() bool { return strings.Contains(screen.String(), tt.after) }})
			}
			streams := &cmdutil.IOStreams{In: in, Out: &out, ErrOut: screen, NoColor: true}
			err := Compose(context.Background(), streams, cmdutil.ComposeRequest{Client: client})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v\n%s", err, tt.wantErr, screen.String())
			}
			if !strings.HasPrefix(out.String(), tt.wantOut) {
				t.Errorf("stdout %q", out.String())
			}
			if got := len(fake.Messages()) - before; got != tt.sent {
				t.Errorf("sent %d messages, want %d", got, tt.sent)
			}
			if tt.fail && strings.Count(screen.String(), "131026") != 1 {
				t.Errorf("the error shows %d times on the screen, want once:\n%s", strings.Count(screen.String(), "131026"), screen.String())
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

// lockedBuffer is a bytes.Buffer the screen writes to while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// gatedReader holds its keys back until ready reports true (at most 10 s).
type gatedReader struct {
	r     io.Reader
	ready func() bool
	open  bool
}

func (g *gatedReader) Read(p []byte) (int, error) {
	for deadline := time.Now().Add(10 * time.Second); !g.open && time.Now().Before(deadline); {
		if g.ready() {
			g.open = true
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return g.r.Read(p)
}
