package validate

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/greentic/gtc/pkg/bundle"
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

// CheckFlows checks every flow file and returns all their problems.
//
// Until the flow package lands this checks the shape the seed's flows have: a YAML mapping
// with a name, a list of nodes (each with an id and a type) and a list of triggers.
func CheckFlows(files []string) (*problem.List, error) {
	var l problem.List
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read flow: %w", err)
		}
		checkFlowShape(f, data, &l)
	}
	return &l, nil
}

func checkFlowShape(file string, data []byte, l *problem.List) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		l.Errorf(file, "", 0, 0, "invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		l.Errorf(file, "", 1, 1, "a flow must be a YAML mapping with name, version, nodes and triggers")
		return
	}
	root := doc.Content[0]
	get := func(n *yaml.Node, key string) *yaml.Node {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
		return nil
	}
	known := []string{"name", "version", "description", "nodes", "triggers"}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		ok := false
		for _, kk := range known {
			ok = ok || kk == k.Value
		}
		if !ok {
			l.Errorf(file, k.Value, k.Line, k.Column, "%s", problem.UnknownKey(k.Value, known))
		}
	}
	if n := get(root, "name"); n == nil || n.Kind != yaml.ScalarNode || n.Value == "" {
		l.Errorf(file, "name", root.Line, root.Column, "missing name: add name: my_flow")
	}
	nodes := get(root, "nodes")
	if nodes == nil || nodes.Kind != yaml.SequenceNode || len(nodes.Content) == 0 {
		l.Errorf(file, "nodes", root.Line, root.Column, "missing nodes: add a list of nodes, each with id, type and config")
	} else {
		for i, n := range nodes.Content {
			p := fmt.Sprintf("nodes[%d]", i)
			if n.Kind != yaml.MappingNode {
				l.Errorf(file, p, n.Line, n.Column, "a node must be a mapping with id, type and config")
				continue
			}
			for _, key := range []string{"id", "type"} {
				if v := get(n, key); v == nil || v.Value == "" {
					l.Errorf(file, p, n.Line, n.Column, "missing %s", key)
				}
			}
		}
	}
	if t := get(root, "triggers"); t != nil && t.Kind != yaml.SequenceNode {
		l.Errorf(file, "triggers", t.Line, t.Column, "triggers must be a list of {type, target}")
	}
}
