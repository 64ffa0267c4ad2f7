package flow

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/greentic/gtc/pkg/problem"
)

// ReplyKeys are the keys of a reply config (one message kind plus its options), as the send
// API accepts them next to its own keys.
var ReplyKeys = append(append([]string{}, replyKinds...), "preview_url", "retry_on_rate_limit")

// ParseReply parses one reply config outside a flow file: the send API's body, which is JSON
// (and so YAML) with the same keys and validation as a reply node's config. Keys listed in
// envelope belong to the caller and are skipped. The returned node renders the message with
// Render; it is nil when probs has errors. Problems name file and the key's path.
func ParseReply(file string, data []byte, envelope ...string) (*Node, *problem.List) {
	return parseReply(&parser{file: file, probs: &problem.List{}}, data, envelope)
}

// ParseLiteralReply is ParseReply for text that comes from outside a flow (the send API's
// caller): every string is taken as written, so "{{" is sent as two braces and never runs
// as an expression. A reaction needs its message_id.
func ParseLiteralReply(file string, data []byte, envelope ...string) (*Node, *problem.List) {
	return parseReply(&parser{file: file, probs: &problem.List{}, literal: true}, data, envelope)
}

func parseReply(p *parser, data []byte, envelope []string) (*Node, *problem.List) {
	file := p.file
	p.lines = strings.Split(string(data), "\n")
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p.probs.Errorf(file, "", 0, 0, "invalid JSON: %s", err.Error())
		return nil, p.probs
	}
	if len(doc.Content) == 0 {
		p.probs.Errorf(file, "", 1, 1, "empty body: send a JSON object with to and one of %v", replyKinds)
		return nil, p.probs
	}
	root := doc.Content[0]
	cfg := root
	if root.Kind == yaml.MappingNode && len(envelope) > 0 {
		cfg = &yaml.Node{Kind: yaml.MappingNode, Tag: root.Tag, Line: root.Line, Column: root.Column}
		for i := 0; i+1 < len(root.Content); i += 2 {
			if !contains(envelope, root.Content[i].Value) {
				cfg.Content = append(cfg.Content, root.Content[i], root.Content[i+1])
			}
		}
	}
	node := &Node{ID: "request", Type: NodeReply, pos: posOf(root)}
	p.reply(node, cfg, "")
	if node.Next != "" {
		p.errAt(node.nextPos, "next", "next only applies inside a flow: start the flow with {\"flow\": NAME, \"node\": ID} instead")
	}
	if p.probs.HasErrors() {
		return nil, p.probs
	}
	return node, p.probs
}
