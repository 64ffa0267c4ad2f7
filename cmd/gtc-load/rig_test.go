package main

import (
	"context"
	"testing"
	"time"
)

// crashRig is what every crash test starts from: gtc built, graphfake running, a bundle
// pointed at it, and a context that bounds the whole test.
type crashRig struct {
	ctx    context.Context
	dir    string // the test's folder (the bundle, logs and the gtc binary live here)
	gtc    string // the built binary
	graph  *Graph
	bundle string
}

// newCrashRig skips under -short (it builds gtc and runs it as a subprocess).
func newCrashRig(t *testing.T, timeout time.Duration) *crashRig {
	t.Helper()
	if testing.Short() {
		t.Skip("the crash test builds gtc and runs it as a subprocess; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	r := &crashRig{ctx: ctx, dir: t.TempDir()}
	var err error
	if r.gtc, err = BuildGTC(ctx, r.dir); err != nil {
		t.Fatal(err)
	}
	if r.graph, err = StartGraph(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.graph.Close)
	if r.bundle, err = MakeBundle(ctx, r.gtc, r.dir, r.graph.URL); err != nil {
		t.Fatal(err)
	}
	return r
}
