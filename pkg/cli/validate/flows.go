package validate

import "github.com/greentic/gtc/pkg/cli/cmdutil"

// FlowFiles and CheckFlows list and check a bundle's flow files (see cmdutil).
var (
	FlowFiles  = cmdutil.FlowFiles
	CheckFlows = cmdutil.CheckFlows
)
