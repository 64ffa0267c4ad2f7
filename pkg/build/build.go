// Package build holds gtc's version information. Version, Commit and Date are set by the
// linker (see .goreleaser.yaml); a plain `go build` or `go install` falls back to what the Go
// toolchain recorded in the binary.
package build

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
)

// Set with -ldflags "-X github.com/greentic/gtc/pkg/build.Version=..." and friends.
var (
	Version = ""
	Commit  = ""
	Date    = ""
)

// Info is gtc's version information, resolved once.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

var (
	once sync.Once
	info Info
)

// Get returns the version information: ldflags first, then the build info the Go toolchain
// embedded, then "dev".
func Get() Info {
	once.Do(func() { info = resolve(Version, Commit, Date, debug.ReadBuildInfo) })
	return info
}

func resolve(version, commit, date string, read func() (*debug.BuildInfo, bool)) Info {
	i := Info{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := read(); ok {
		if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if i.Commit == "" {
					i.Commit = s.Value
				}
			case "vcs.time":
				if i.Date == "" {
					i.Date = s.Value
				}
			}
		}
	}
	if i.Version == "" {
		i.Version = "dev"
	}
	if i.Commit == "" {
		i.Commit = "unknown"
	}
	if i.Date == "" {
		i.Date = "unknown"
	}
	return i
}

// UserAgent is the User-Agent gtc sends to the Graph API.
func UserAgent() string {
	return fmt.Sprintf("gtc/%s (+https://github.com/greentic/gtc)", Get().Version)
}
