package messages

import "github.com/greentic/gtc/pkg/cli/cmdutil"

// ErrNoState is returned by OpenState when the bundle has no state database yet.
var ErrNoState = cmdutil.ErrNoState

// OpenState and StatePath read the bundle's state database (see cmdutil.OpenState).
var (
	OpenState = cmdutil.OpenState
	StatePath = cmdutil.StatePath
)
