package serve

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// GTC_CPUPROFILE writes a pprof CPU profile (gzip) that the limit or stop ends, once.
func TestStartCPUProfile(t *testing.T) {
	for _, limit := range []time.Duration{0, 50 * time.Millisecond} {
		path := filepath.Join(t.TempDir(), "cpu.prof")
		stop, err := startCPUProfile(path, limit)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		stop()
		stop() // a second stop (shutdown after the limit) does nothing
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
			t.Errorf("limit %s: %s holds %d bytes that are not a gzip'd profile", limit, path, len(b))
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("limit %s: profile mode %v, %v; want 0600", limit, fi.Mode().Perm(), err)
		}
	}
	if _, err := startCPUProfile(filepath.Join(t.TempDir(), "no", "such", "dir", "cpu.prof"), 0); err == nil {
		t.Error("a profile path in a missing folder: no error")
	}
}
