package flow

import (
	"io/fs"
	"testing"

	"github.com/greentic/gtc/pkg/flow/starter"
)

// BenchmarkParse parses and validates the seed's largest flow.
func BenchmarkParse(b *testing.B) {
	data, err := fs.ReadFile(starter.FS, "menu.ygtc")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, probs := Parse("menu.ygtc", data); probs.HasErrors() {
			b.Fatal(probs.Err())
		}
	}
}
