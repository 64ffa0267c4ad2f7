package flow

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/greentic/gtc/pkg/problem"
)

// setProblems checks the flows as one set (cross-flow rules need it); the first file is
// t.ygtc, the only one whose problems are returned.
func setProblems(t *testing.T, srcs ...string) []problem.Problem {
	t.Helper()
	dir := t.TempDir()
	var files []string
	for i, src := range srcs {
		name := "t.ygtc"
		if i > 0 {
			name = "other" + string(rune('0'+i)) + ".ygtc"
		}
		files = append(files, writeFlow(t, dir, name, src))
	}
	_, probs, err := CheckFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	var out []problem.Problem
	for _, p := range probs.All() {
		if strings.HasSuffix(p.File, "t.ygtc") && !strings.Contains(p.File, "other") {
			p.File = "t.ygtc"
			out = append(out, p)
		}
	}
	return out
}

// askFlow is a flow whose first node is an ask with cfg (indented 6 spaces, from line 6),
// followed by a reply "done" and a reply "fail".
func askFlow(cfg string) string {
	return "name: t\nnodes:\n  - id: q\n    type: ask\n    config:\n" + cfg +
		"    next: done\n  - id: done\n    type: reply\n    config: {message: ok}\n  - id: fail\n    type: reply\n    config: {message: sorry}\n" +
		"triggers:\n  - type: text\n    target: q\n  - type: text\n    keywords: [fail]\n    target: fail\n"
}

func TestValidationConversations(t *testing.T) {
	other := "name: shop\nnodes:\n  - id: show_menu\n    type: reply\n    config: {message: menu}\n"
	tests := []struct {
		name  string
		srcs  []string
		errs  []want
		warns []want
	}{
		{"valid ask", []string{askFlow("      message: Your order?\n      save_as: order_id\n      on_invalid: fail\n")}, nil, nil},
		{"missing save_as", []string{askFlow("      message: Your order?\n")}, []want{{6, 7, "missing save_as"}}, nil},
		{"bad save_as", []string{askFlow("      message: Your order?\n      save_as: order-id\n")}, []want{{7, 16, `"order-id" is not a valid name`}}, nil},
		{"unknown expect", []string{askFlow("      message: Age?\n      save_as: age\n      expect: nummer\n")}, []want{{8, 15, "unknown expect nummer, did you mean number?"}}, nil},
		{"bad pattern", []string{askFlow("      message: Order?\n      save_as: o\n      pattern: '^[A-Z'\n")}, []want{{8, 16, "invalid regex"}}, nil},
		{"pattern on a number", []string{askFlow("      message: Age?\n      save_as: age\n      expect: number\n      pattern: '^1'\n")}, []want{{9, 16, "pattern applies to expect: text answers only"}}, nil},
		{"validate not boolean", []string{askFlow("      message: Order?\n      save_as: o\n      validate: \"len(answer)\"\n")}, []want{{8, 18, "expected bool"}}, nil},
		{"validate name not of this expect", []string{askFlow("      message: Age?\n      save_as: age\n      expect: number\n      validate: \"answer.latitude > 0\"\n")}, []want{{9, 25, "float64 has no field latitude"}}, nil},
		{"validate location", []string{askFlow("      message: Where?\n      save_as: at\n      expect: location\n      validate: \"answer.latitude > 0 && answer.name != ''\"\n")}, nil, nil},
		{"choice without buttons", []string{askFlow("      message: Pick\n      save_as: c\n      expect: choice\n")}, []want{{8, 15, "expect: choice needs a question with interactive buttons or a list"}}, nil},
		{"dangling on_invalid and on_timeout", []string{askFlow("      message: Order?\n      save_as: o\n      on_invalid: fial\n      on_timeout: nowhere\n      timeout: 45d\n")},
			[]want{{8, 19, "on_invalid fial points to no node, did you mean fail?"}, {9, 19, "on_timeout nowhere points to no node"}, {10, 16, "timeout 45d is too long: at most 30d"}}, nil},
		{"max_retries out of range", []string{askFlow("      message: Order?\n      save_as: o\n      max_retries: 11\n")}, []want{{8, 20, "max_retries must be a whole number from 0 to 10"}}, nil},
		{"secrets in a question and a retry", []string{askFlow("      message: \"Token {{secrets.SHOP_TOKEN}}\"\n      save_as: o\n      retry_message: \"again {{secrets.X}}\"\n")},
			[]want{{6, 25, "secrets can only be read in http and ai configs"}, {8, 31, "secrets can only be read in http and ai configs"}}, nil},
		{"goto to another flow's node", []string{"name: t\nnodes:\n  - id: g\n    type: goto\n    config: {flow: shop, node: show_menu}\n", other}, nil, nil},
		{"goto dangling flow and node", []string{"name: t\nnodes:\n  - id: g\n    type: branch\n    config:\n      conditions: [{expression: \"vars.x == 1\", next: a}]\n      default: b\n  - id: a\n    type: goto\n    config: {flow: shpo}\n  - id: b\n    type: goto\n    config: {flow: shop, node: show_mneu}\n", other},
			[]want{{10, 20, "goto flow shpo: there is no such flow, did you mean shop?"}, {13, 32, "goto node show_mneu: flow shop has no such node, did you mean show_menu?"}}, nil},
		{"set loop that never waits", []string{"name: t\nnodes:\n  - id: count\n    type: set\n    config: {vars: {n: \"(vars.n ?? 0) + 1\"}}\n    next: check\n  - id: check\n    type: branch\n    config:\n      conditions: [{expression: \"vars.n < 3\", next: count}]\n      default: done\n  - id: done\n    type: reply\n    config: {message: ok}\n"},
			[]want{{3, 9, "loop count -> check -> count never waits for the contact"}}, nil},
		{"reply and set loop reported once", []string{"name: t\nnodes:\n  - id: r\n    type: reply\n    config: {message: hi}\n    next: s\n  - id: s\n    type: set\n    config: {vars: {n: \"1\"}}\n    next: r\n"},
			[]want{{3, 9, "a run would send these messages forever"}}, nil},
		{"goto loop across flows", []string{"name: t\nnodes:\n  - id: g\n    type: goto\n    config: {flow: u}\n", "name: u\nnodes:\n  - id: h\n    type: goto\n    config: {flow: t}\n"},
			[]want{{3, 9, "never waits for the contact"}}, nil},
		{"a loop through an ask is a conversation", []string{"name: t\nnodes:\n  - id: q\n    type: ask\n    config: {message: \"Again?\", save_as: a}\n    next: r\n  - id: r\n    type: reply\n    config: {message: ok}\n    next: q\n"}, nil, nil},
		{"set names and expressions", []string{"name: t\nnodes:\n  - id: s\n    type: set\n    config:\n      vars: {9lives: \"1\", ok: \"vars.x +\"}\n      user: {language: de}\n"},
			[]want{{6, 14, `"9lives" is not a valid name`}, {6, 39, "unexpected token EOF"}, {7, 24, "unknown name de"}}, nil},
		{"user read but never set", []string{"name: t\nnodes:\n  - id: r\n    type: reply\n    config: {message: \"Hallo {{user.nickname}}\"}\n    next: s\n  - id: s\n    type: set\n    config: {user: {language: \"'de'\"}}\n"},
			nil, []want{{5, 32, "user.nickname is read but no set node sets it"}}},
		{"user set in another flow", []string{"name: t\nnodes:\n  - id: r\n    type: reply\n    config: {message: \"Hallo {{user.nickname}}\"}\n", "name: u\nnodes:\n  - id: s\n    type: set\n    config: {user: {nickname: \"'Ada'\"}}\n"}, nil, nil},
		{"interrupt on any message", []string{"name: t\nnodes:\n  - {id: r, type: reply, config: {message: hi}}\ntriggers:\n  - type: message\n    target: r\n    interrupt: true\n"},
			[]want{{5, 11, "an interrupt trigger that matches any message would end every question"}}, nil},
		{"http rules", []string{"name: t\nnodes:\n  - id: h\n    type: http\n    config:\n      method: FETCH\n      url: \"ftp://shop.example.com/{{vars.id}}\"\n      headers: {Host: x, \"Bad Name\": y}\n      timeout: 45s\n      retries: 9\n      save_as: order\n      on_error: nowhere\n"},
			[]want{{6, 15, "unknown method FETCH"}, {7, 12, "url must start with http:// or https://"}, {8, 17, "gtc sets Host itself"}, {8, 26, `"Bad Name" is not a header name`}, {9, 16, "timeout 45s is too long: at most 30s"}, {10, 16, "retries must be a whole number from 0 to 5"}, {12, 17, "on_error nowhere points to no node"}}, nil},
		{"http url from a setting", []string{"name: t\nnodes:\n  - id: h\n    type: http\n    config:\n      url: \"{{settings.order_api_url}}/{{vars.id}}\"\n"}, nil, nil},
		{"settings in a reply and a condition", []string{"name: t\nnodes:\n  - id: b\n    type: branch\n    config:\n      conditions: [{expression: \"settings.order_api_url == ''\", next: r}]\n  - id: r\n    type: reply\n    config: {message: \"Lookups go to {{settings.order_api_url}}\"}\n"}, nil, nil},
		{"unknown setting", []string{"name: t\nnodes:\n  - id: h\n    type: http\n    config:\n      url: \"{{settings.orders_url}}/{{vars.id}}\"\n    next: b\n  - id: b\n    type: branch\n    config:\n      conditions: [{expression: \"settings.shop == ''\", next: h}]\n"},
			[]want{{6, 24, "settings has no field orders_url: the settings flows can read are order_api_url"}, {11, 43, "settings has no field shop: the settings flows can read are order_api_url"}}, nil},
		{"url from a computed template", []string{"name: t\nnodes:\n  - id: h\n    type: http\n    config:\n      url: \"{{vars.base}}/orders\"\n    next: i\n  - id: i\n    type: http\n    config:\n      url: \"{{upper(settings.order_api_url)}}/orders\"\n    next: j\n  - id: j\n    type: http\n    config:\n      url: \"/{{settings.order_api_url}}\"\n"},
			[]want{{6, 12, "url must start with http:// or https:// (written out) or with a setting, like {{settings.order_api_url}}/{{vars.order_id}}"}, {11, 12, "url must start with"}, {16, 12, "url must start with"}}, nil},
		{"http body on GET", []string{"name: t\nnodes:\n  - id: h\n    type: http\n    config:\n      method: GET\n      url: https://x.example.com/\n      json: {a: 1}\n"},
			[]want{{6, 15, "a GET request has no body"}}, nil},
		{"http secrets allowed", []string{"name: t\nnodes:\n  - id: h\n    type: http\n    config:\n      method: POST\n      url: \"https://x.example.com/{{secrets.PATH}}\"\n      headers: {Authorization: \"Bearer {{secrets.TOKEN}}\"}\n      json: {key: \"{{secrets.KEY}}\", n: \"{{vars.n}}\"}\n"}, nil, nil},
		{"secrets in a reply, condition, note", []string{"name: t\nnodes:\n  - id: b\n    type: branch\n    config:\n      conditions: [{expression: \"secrets.X == 'a'\", next: r}]\n      default: h\n  - id: r\n    type: reply\n    config: {message: \"{{secrets.X}}\"}\n  - id: h\n    type: handoff\n    config: {message: \"{{ secrets.Y }}\", note: \"n {{secrets.Z}}\"}\n"},
			[]want{{6, 34, "secrets can only be read"}, {10, 26, "secrets can only be read"}, {13, 27, "secrets can only be read"}, {13, 53, "secrets can only be read"}}, nil},
		{"ai rules", []string{"name: t\nnodes:\n  - id: a\n    type: ai\n    config:\n      history: 50\n      temperature: 3\n      send: false\n"},
			[]want{{6, 7, "send: false needs save_as"}, {6, 16, "history must be a whole number from 0 to 20"}, {7, 20, "temperature must be from 0 to 2"}}, nil},
		{"handoff next", []string{"name: t\nnodes:\n  - id: h\n    type: handoff\n    config: {queue: support, timeout: soon}\n    next: r\n  - {id: r, type: reply, config: {message: hi}}\n"},
			[]want{{5, 39, `timeout "soon" is not a duration`}, {6, 11, "use on_release instead of next"}}, nil},
		{"unknown node type", []string{"name: t\nnodes:\n  - id: q\n    type: aks\n    config: {}\n"}, []want{{4, 11, "unknown node type aks, did you mean ask?"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := setProblems(t, tt.srcs...)
			checkProblems(t, got, tt.errs, false)
			checkProblems(t, got, tt.warns, true)
		})
	}
}

func TestSetSecretsAndAI(t *testing.T) {
	s := convSet(t)
	if got := s.Secrets(); !equal(got, []string{"SHOP_TOKEN"}) {
		t.Errorf("secrets = %v", got)
	}
	if !s.UsesAI() {
		t.Error("UsesAI = false")
	}
}

// A node that only a goto from another flow reaches is not unreachable; without the goto
// it is.
func TestGotoReachesNodes(t *testing.T) {
	shop := "name: shop\nnodes:\n  - {id: a, type: reply, config: {message: a}}\n  - {id: b, type: reply, config: {message: b}}\n"
	caller := "name: t\nnodes:\n  - id: g\n    type: goto\n    config: {flow: shop, node: b}\n"
	dir := t.TempDir()
	for _, tt := range []struct {
		files []string
		want  int
	}{
		{[]string{writeFlow(t, dir, "shop.ygtc", shop), writeFlow(t, dir, "t.ygtc", caller)}, 0},
		{[]string{writeFlow(t, dir, "shop.ygtc", shop)}, 1},
	} {
		_, probs, err := CheckFiles(tt.files)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(probs.Errors()); n != tt.want || (n == 1 && !strings.Contains(probs.Errors()[0].Msg, "node b is unreachable")) {
			t.Errorf("%d files: problems\n%s", len(tt.files), dump(probs.All()))
		}
	}
}

func TestPatternWithBraces(t *testing.T) {
	got := setProblems(t, askFlow("      message: Code?\n      save_as: code\n      pattern: '^[0-9]{{2}}$'\n"))
	if len(got) > 0 {
		t.Errorf("problems:\n%s", dump(got))
	}
}

var update = flag.Bool("update", false, "rewrite golden files under testdata/flows/conversations_bad")

// The bad example breaks every conversation rule once; its problems are a golden file that
// CLI tests can rely on.
func TestConversationProblemsGolden(t *testing.T) {
	dir := "../../testdata/flows/conversations_bad"
	_, probs, err := CheckFiles([]string{filepath.Join(dir, "bad.ygtc")})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, p := range probs.All() {
		p.File = filepath.Base(p.File)
		b.WriteString(p.String() + "\n")
	}
	golden := filepath.Join(dir, "problems.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestConversationProblemsGolden -update)", err)
	}
	if b.String() != string(want) {
		t.Errorf("problems differ from %s (-update rewrites it):\n%s", golden, b.String())
	}
}
