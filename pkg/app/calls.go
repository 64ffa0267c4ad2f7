package app

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/calls"
	"github.com/greentic/gtc/pkg/flow"
)

// FlowSecrets is the lookup of secrets.NAME for http and ai nodes: the bundle's secrets.env
// (the key NAME), then the environment. A nil bundle reads the environment only. Values
// never leave the returned function except into a call's request.
func FlowSecrets(b *bundle.Bundle, lookup func(string) (string, bool)) (func(string) (string, bool), error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	file := map[string]string{}
	if b != nil {
		data, err := os.ReadFile(filepath.Join(b.Dir, bundle.SecretsFile))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("read %s: %w", bundle.SecretsFile, err)
		}
		// bundle.Load has checked the file's lines; a line it would refuse is skipped here.
		for _, line := range strings.Split(string(data), "\n") {
			t := strings.TrimSpace(strings.TrimSuffix(line, "\r"))
			if t == "" || strings.HasPrefix(t, "#") {
				continue
			}
			key, val, ok := strings.Cut(strings.TrimSuffix(line, "\r"), "=")
			key = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(key), "export "))
			if ok && key != "" {
				if _, dup := file[key]; !dup {
					file[key] = val
				}
			}
		}
	}
	return func(name string) (string, bool) {
		if v, ok := file[name]; ok {
			return v, true
		}
		return lookup(name)
	}, nil
}

// CheckCalls refuses flows that cannot run with these providers: an ai node without an llm
// setting, a secrets.NAME that is set nowhere. The problems name what to fix, never a value.
func CheckCalls(flows *flow.Set, ps []*bundle.Provider, secret func(string) (string, bool)) error {
	if flows == nil {
		return nil
	}
	var errs []error
	if flows.UsesAI() {
		for _, p := range ps {
			if p.LLM == nil {
				errs = append(errs, fmt.Errorf("%s/%s: the flows have ai nodes but the provider has no llm setting: add \"llm\": {\"base_url\": …, \"model\": …} to answers.json and re-run gtc setup", p.Tenant, p.Team))
			}
		}
	}
	for _, name := range flows.Secrets() {
		if _, ok := secret(name); !ok {
			errs = append(errs, fmt.Errorf("the flows read secrets.%s, which is not set: add %s=… to %s or the environment", name, name, bundle.SecretsFile))
		}
	}
	return errors.Join(errs...)
}

// callRunners builds the Runner of each provider (one Metrics on reg, shared).
func callRunners(ps []*bundle.Provider, reg prometheus.Registerer, log *slog.Logger, lookup func(string) (string, bool)) (map[*bundle.Provider]*calls.Runner, error) {
	m, err := calls.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("register call metrics: %w", err)
	}
	out := make(map[*bundle.Provider]*calls.Runner, len(ps))
	for _, p := range ps {
		out[p] = &calls.Runner{Allow: p.AllowHost, LLM: p.LLM, Env: lookup, Metrics: m,
			Logger: log.With("component", "calls", "tenant", p.Tenant, "team", p.Team)}
	}
	return out, nil
}
