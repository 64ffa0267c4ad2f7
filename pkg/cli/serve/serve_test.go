package serve

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/cli/cmdutil"
)

func TestNewCmdServeFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    ServeOptions
		wantErr string
	}{
		{"defaults", []string{"./b"}, ServeOptions{Dir: "./b", DrainTimeout: 20 * time.Second, FakeGraphAddr: DefaultFakeGraphAddr, DeadAfter: 15 * time.Second}, ""},
		{"fake graph address", []string{"--fake-graph", "--fake-graph-addr", "127.0.0.1:9089", "b"},
			ServeOptions{Dir: "b", FakeGraph: true, FakeGraphAddr: "127.0.0.1:9089", DrainTimeout: 20 * time.Second, DeadAfter: 15 * time.Second}, ""},
		{"fake graph address alone", []string{"--fake-graph-addr", "127.0.0.1:9089", "b"}, ServeOptions{}, "--fake-graph-addr goes with --fake-graph"},
		{"bad fake graph address", []string{"--fake-graph", "--fake-graph-addr", "9089", "b"}, ServeOptions{}, `invalid --fake-graph-addr "9089"`},
		{"all flags", []string{"--addr", "127.0.0.1:0", "--insecure-skip-signature", "--fake-graph", "--ready-file", "r", "--drain-timeout", "3s", "--database", "x.db", "--dead-after", "4s", "b"},
			ServeOptions{Dir: "b", Addr: "127.0.0.1:0", InsecureSkipSignature: true, FakeGraph: true, ReadyFile: "r", DrainTimeout: 3 * time.Second, Database: "x.db", FakeGraphAddr: DefaultFakeGraphAddr, DeadAfter: 4 * time.Second}, ""},
		{"no dir", nil, ServeOptions{}, "expected the bundle directory"},
		{"two dirs", []string{"a", "b"}, ServeOptions{}, "expected the bundle directory"},
		{"bad addr", []string{"--addr", "8080", "b"}, ServeOptions{}, `invalid --addr "8080"`},
		{"bad drain", []string{"--drain-timeout", "0s", "b"}, ServeOptions{}, "--drain-timeout must be positive"},
		{"bad dead-after", []string{"--dead-after", "500ms", "b"}, ServeOptions{}, "--dead-after must be at least 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io := &cmdutil.IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}
			f := cmdutil.NewFactory(io)
			var got *ServeOptions
			cmd := NewCmdServe(f, func(_ context.Context, o *ServeOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(io.Out)
			cmd.SetErr(io.ErrOut)
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			err := cmd.Execute()
			if tt.wantErr != "" {
				var fe *cmdutil.FlagError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &fe) {
					t.Fatalf("err = %v, want a FlagError containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := tt.want
			if got.Dir != w.Dir || got.Addr != w.Addr || got.InsecureSkipSignature != w.InsecureSkipSignature || got.FakeGraph != w.FakeGraph ||
				got.ReadyFile != w.ReadyFile || got.DrainTimeout != w.DrainTimeout || got.Database != w.Database || got.FakeGraphAddr != w.FakeGraphAddr || got.DeadAfter != w.DeadAfter {
				t.Errorf("opts = %+v, want %+v", *got, w)
			}
		})
	}
}
