package validate

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/problem"
)

// FlowFiles lists the .ygtc files directly inside dir, sorted; a missing dir has none.
func FlowFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read flows: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), bundle.FlowExt) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// CheckFlows parses and validates the flow files as one set (names are unique across
// files, triggers may not be ambiguous) and returns every problem, errors and warnings.
func CheckFlows(files []string) (*problem.List, error) {
	_, probs, err := flow.CheckFiles(files)
	if err != nil {
		return nil, err
	}
	return probs, nil
}
