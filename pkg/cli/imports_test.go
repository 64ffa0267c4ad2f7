package cli

import (
	"go/build"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/greentic/gtc/"

// helperPackages are the packages under pkg/cli that commands may share; every other
// directory is a command and stands alone.
var helperPackages = []string{"cmdutil"}

// TestCommandsStandAlone fails when a command package imports another command package, or
// when a lower layer imports an upper one (pkg/delivery importing pkg/bundle, for one).
// See docs/design.md.
func TestCommandsStandAlone(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	commands := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() && e.Name() != "testdata" && !slices.Contains(helperPackages, e.Name()) {
			commands[module+"pkg/cli/"+e.Name()] = true
		}
	}
	if len(commands) < 5 {
		t.Fatalf("found only %d command packages under pkg/cli: is the test in the right place?", len(commands))
	}
	for pkg := range commands {
		for _, imp := range imports(t, filepath.Join(".", strings.TrimPrefix(pkg, module+"pkg/cli/"))) {
			if commands[imp] && imp != pkg {
				t.Errorf("%s imports the command package %s: share it through cmdutil.Factory or a helper package instead", pkg, imp)
			}
		}
	}
	// Lower layers never import upper ones (data flows one way); delivery takes plain values
	// rather than a bundle.
	for dir, banned := range map[string][]string{
		"../delivery": {"pkg/bundle", "pkg/app", "pkg/server", "pkg/cli"},
		"../server":   {"pkg/bundle", "pkg/app", "pkg/cli"},
		"../app":      {"pkg/cli"},
	} {
		for _, imp := range imports(t, dir) {
			for _, b := range banned {
				if imp == module+b || strings.HasPrefix(imp, module+b+"/") {
					t.Errorf("%s imports %s: it must take plain values from the layer above (see docs/design.md)", dir, imp)
				}
			}
		}
	}
}

// imports lists the non-test imports of the package in dir (and of its subpackages).
func imports(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if d.Name() == "testdata" {
			return filepath.SkipDir
		}
		p, err := build.ImportDir(path, 0)
		if err != nil {
			if _, ok := err.(*build.NoGoError); ok {
				return nil
			}
			return err
		}
		out = append(out, p.Imports...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
