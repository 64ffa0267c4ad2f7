package cmdutil

import "testing"

func TestCommandName(t *testing.T) {
	tests := []struct{ exe, want string }{
		{"/tmp/go-build1234/b001/exe/gtc", "go run ./cmd/gtc"},
		{"/root/go/bin/gtc", "gtc"},
		{"/tmp/go-build1234/b001/gtc.test", "gtc"}, // a test binary (testscript's gtc)
		{"/usr/local/bin/exe/gtc", "gtc"},
		{"/root/.cache/go-build/e4/e453fbb33c6cdd6e812e01255081fc58992fe5dabb87ba0710ac30a27a512eb9-d/gtc", "go run ./cmd/gtc"},
		{"/opt/e453fbb33c6cdd6e812e01255081fc58992fe5dabb87ba0710ac30a27a512eb9/gtc", "gtc"},
	}
	for _, tt := range tests {
		if got := commandName(tt.exe); got != tt.want {
			t.Errorf("commandName(%q) = %q, want %q", tt.exe, got, tt.want)
		}
	}
}
