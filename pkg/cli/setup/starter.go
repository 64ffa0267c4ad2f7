package setup

import (
	"io/fs"

	"github.com/greentic/gtc/pkg/flow/starter"
)

// StarterFlows are the seed's example flows copied into every new bundle.
var StarterFlows fs.FS = starter.FS
