package cmdutil

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/flow"
)

// Shell completion helpers. A command whose first argument is a bundle folder completes
// folders there, and its --tenant, --team, --flow and --node flags complete from that
// bundle (read without the environment: completion never needs a secret).

// CompleteBundleDir completes the first argument with folders.
func CompleteBundleDir(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveFilterDirs
}

// CompleteValues completes a flag from a fixed list (enum flags).
func CompleteValues(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return prefixed(values, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// RegisterBundleCompletions registers completion of the bundle folder (first argument) and
// of whichever of --tenant, --team, --flow and --node cmd has.
func RegisterBundleCompletions(cmd *cobra.Command) {
	if cmd.ValidArgsFunction == nil {
		cmd.ValidArgsFunction = CompleteBundleDir
	}
	reg := func(name string, f func(cmd *cobra.Command, dir string) []string) {
		if cmd.Flags().Lookup(name) == nil {
			return
		}
		_ = cmd.RegisterFlagCompletionFunc(name, func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return prefixed(f(cmd, args[0]), toComplete), cobra.ShellCompDirectiveNoFileComp
		})
	}
	reg("tenant", func(_ *cobra.Command, dir string) []string { return providerNames(dir, "", true) })
	reg("team", func(cmd *cobra.Command, dir string) []string {
		tenant, _ := cmd.Flags().GetString("tenant")
		return providerNames(dir, tenant, false)
	})
	reg("flow", func(_ *cobra.Command, dir string) []string { return FlowNames(dir, false) })
	reg("node", func(_ *cobra.Command, dir string) []string { return FlowNames(dir, true) })
}

func prefixed(vals []string, prefix string) []string {
	var out []string
	for _, v := range vals {
		if strings.HasPrefix(v, prefix) {
			out = append(out, v)
		}
	}
	return out
}

// providerNames lists a bundle's tenants, or the teams (of tenant, when given).
func providerNames(dir, tenant string, tenants bool) []string {
	b, err := bundle.Load(dir, bundle.LoadOptions{LookupEnv: func(string) (string, bool) { return "", false }, AllowMissingEnv: true})
	if err != nil {
		return nil
	}
	var out []string
	for _, p := range b.Providers {
		switch {
		case tenants:
			out = append(out, p.Tenant)
		case tenant == "" || p.Tenant == tenant:
			out = append(out, p.Team)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// FlowNames lists the flows of a bundle folder, or with nodes every FLOW/NODE, for shell
// completion. Flows that do not parse are skipped.
func FlowNames(dir string, nodes bool) []string {
	files, err := bundle.ListFlows(dir)
	if err != nil && len(files) == 0 {
		return nil
	}
	var out []string
	for _, f := range files {
		set, _, err := flow.CheckFiles([]string{f})
		if err != nil || set == nil {
			continue
		}
		for _, fl := range set.Flows {
			if !nodes {
				out = append(out, fl.Name)
				continue
			}
			for _, n := range fl.Nodes {
				out = append(out, fl.Name+"/"+n.ID)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
