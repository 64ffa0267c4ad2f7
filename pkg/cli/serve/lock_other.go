//go:build !unix

package serve

// lockState does not lock where flock is missing (Windows): a second gtc serve of the same
// SQLite bundle is not refused there.
func lockState(string) (func(), error) { return func() {}, nil }
