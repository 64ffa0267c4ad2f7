//go:build unix

package bundle

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/greentic/gtc/pkg/problem"
)

func TestFlowFifoRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	_, err := Write(dir, testAnswers(t, "default", "default"), opts())
	must(t, err)
	must(t, syscall.Mkfifo(filepath.Join(dir, "flows", "pipe.ygtc"), 0o644))
	_, err = Load(dir, LoadOptions{})
	if _, ok := problem.As(err); !ok || !strings.Contains(err.Error(), "flows/pipe.ygtc: not a regular file") {
		t.Fatalf("%v", err)
	}
}
