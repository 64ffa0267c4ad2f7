package answers

import (
	"testing"
	"time"
)

func TestGraphVersions(t *testing.T) {
	if GraphVersions[0].Version != DefaultAPIVersion {
		t.Fatalf("the default %s is not the newest known version %s", DefaultAPIVersion, GraphVersions[0].Version)
	}
	for i := 1; i < len(GraphVersions); i++ {
		prev, g := GraphVersions[i-1], GraphVersions[i]
		if CompareGraphVersions(g.Version, prev.Version) >= 0 || !g.Released.Before(prev.Released) {
			t.Errorf("%s is not older than %s", g.Version, prev.Version)
		}
		if g.Expires.IsZero() || !g.Expires.After(g.Released) {
			t.Errorf("%s expires %v", g.Version, g.Expires)
		}
	}
	g, ok := LookupGraphVersion("v18.0")
	if !ok || !g.Expires.Equal(time.Date(2026, 1, 26, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("v18.0: %+v %v", g, ok)
	}
	if _, ok := LookupGraphVersion("v99.0"); ok {
		t.Fatal("v99.0 known")
	}
	for _, c := range []struct {
		a, b string
		want int
	}{{"v9.0", "v18.0", -1}, {"v18.0", "v18.0", 0}, {"v26.0", "v25.1", 1}, {"latest", "v1.0", -1}, {"v1.0", "x", 1}, {"x", "y", 0}} {
		if got := CompareGraphVersions(c.a, c.b); got != c.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
