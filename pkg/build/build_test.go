package build

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	withVCS := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-11-24T00:00:00Z"}}}, true
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	tests := []struct {
		name                  string
		version, commit, date string
		read                  func() (*debug.BuildInfo, bool)
		want                  Info
	}{
		{"ldflags win", "1.0.0", "deadbeef", "2026-01-01", withVCS, Info{Version: "1.0.0", Commit: "deadbeef", Date: "2026-01-01"}},
		{"build info fallback", "", "", "", withVCS, Info{Version: "v1.2.3", Commit: "abc123", Date: "2026-11-24T00:00:00Z"}},
		{"nothing known", "", "", "", none, Info{Version: "dev", Commit: "unknown", Date: "unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.version, tt.commit, tt.date, tt.read)
			if got.Version != tt.want.Version || got.Commit != tt.want.Commit || got.Date != tt.want.Date {
				t.Errorf("resolve = %+v, want %+v", got, tt.want)
			}
		})
	}
	if !strings.HasPrefix(UserAgent(), "gtc/") {
		t.Errorf("UserAgent() = %q", UserAgent())
	}
}
