package setup

import "io/fs"

// StarterFlows are the seed's example flows copied into every new bundle.
var StarterFlows fs.FS
