// Package starter holds the seed's example flows that gtc setup copies into every new bundle.
package starter

import "embed"

// FS holds the starter flows, *.ygtc at its root.
//
//go:embed *.ygtc
var FS embed.FS
