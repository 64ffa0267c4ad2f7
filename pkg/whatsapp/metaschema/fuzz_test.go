package metaschema_test

import (
	"errors"
	"testing"

	"github.com/greentic/gtc/pkg/whatsapp/metaschema"
)

// FuzzValidateMessage: any body gives nil or a *metaschema.Error with at least one
// violation that names a path; never a panic.
func FuzzValidateMessage(f *testing.F) {
	v, err := metaschema.Default()
	if err != nil {
		f.Skipf("skipping: %v", err)
	}
	for _, body := range v.RequestExamples() {
		f.Add(body)
	}
	f.Add([]byte(`{"type":"text"}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		err := v.ValidateMessage(body)
		if err == nil {
			return
		}
		var e *metaschema.Error
		if !errors.As(err, &e) || len(e.Violations) == 0 || e.Violations[0].Path == "" {
			t.Fatalf("unexpected error %T: %v", err, err)
		}
	})
}
