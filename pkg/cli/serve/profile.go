package serve

import (
	"fmt"
	"os"
	"runtime/pprof"
	"sync"
	"time"
)

// startCPUProfile writes a CPU profile of gtc serve to path until the returned stop is
// called (at shutdown) or, when limit is set, for limit from now. GTC_CPUPROFILE and
// GTC_CPUPROFILE_FOR set them (docs/benchmarks.md); the profile holds code addresses and
// timings, never a message or a secret.
func startCPUProfile(path string, limit time.Duration) (stop func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("GTC_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("GTC_CPUPROFILE: %w", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}
	if limit > 0 {
		time.AfterFunc(limit, stop)
	}
	return stop, nil
}
