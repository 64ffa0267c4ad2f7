package serve

import (
	"github.com/greentic/gtc/pkg/app"
	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// NewClient builds the Cloud API client gtc serve uses for provider p (app.NewClient with
// a pooled transport); shared, when not nil, books the number's throughput across
// instances, and onSharedError hears of its failures.
func NewClient(p *bundle.Provider, lookup func(string) (string, bool), shared whatsapp.SlotBooker, onSharedError func(error)) (*whatsapp.Client, error) {
	return app.NewClient(p, lookup, app.ClientOptions{Pooled: true, Shared: shared, OnSharedError: onSharedError})
}
