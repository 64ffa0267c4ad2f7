package bundle

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/greentic/gtc/pkg/problem"
)

// decodeStrict decodes YAML into dst (a pointer to a struct), reporting every unknown key
// with the nearest known one and every type mismatch, each with line:column.
func decodeStrict(file string, data []byte, dst any, probs *problem.List) bool {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := yamlErrorLine(err)
		probs.Errorf(file, "", line, 0, "invalid YAML: %s", msg)
		return false
	}
	if len(doc.Content) == 0 {
		probs.Errorf(file, "", 1, 1, "the file is empty: re-run gtc setup to write it again")
		return false
	}
	root := doc.Content[0]
	before := len(probs.Errors())
	checkKeys(file, "", root, reflect.TypeOf(dst).Elem(), probs)
	if len(probs.Errors()) > before {
		return false
	}
	if err := root.Decode(dst); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, e := range te.Errors {
				line, msg := yamlErrorLine(errors.New(e))
				probs.Errorf(file, "", line, 0, "%s", msg)
			}
		} else {
			line, msg := yamlErrorLine(err)
			probs.Errorf(file, "", line, 0, "%s", msg)
		}
		return false
	}
	return true
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

func yamlErrorLine(err error) (int, string) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

// checkKeys walks n alongside the Go type t and reports mapping keys t has no field for.
func checkKeys(file, path string, n *yaml.Node, t reflect.Type, probs *problem.List) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if n.Tag != "!!null" {
				probs.Errorf(file, path, n.Line, n.Column, "must be a mapping of keys, not %s", kindName(n))
			}
			return
		}
		fields := map[string]reflect.Type{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			fields[tag] = f.Type
			names = append(names, tag)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			ft, ok := fields[k.Value]
			if !ok {
				probs.Errorf(file, p, k.Line, k.Column, "%s", problem.UnknownKey(k.Value, names))
				continue
			}
			checkKeys(file, p, v, ft, probs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			if n.Tag != "!!null" {
				probs.Errorf(file, path, n.Line, n.Column, "must be a mapping, not %s", kindName(n))
			}
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkKeys(file, join(path, n.Content[i].Value), n.Content[i+1], t.Elem(), probs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if n.Tag != "!!null" {
				probs.Errorf(file, path, n.Line, n.Column, "must be a list, not %s", kindName(n))
			}
			return
		}
		for i, c := range n.Content {
			checkKeys(file, fmt.Sprintf("%s[%d]", path, i), c, t.Elem(), probs)
		}
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "a single value"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// findNode returns the value node at a dotted path of mapping keys, or nil.
func findNode(data []byte, path ...string) *yaml.Node {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	n := doc.Content[0]
	for _, key := range path {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}
