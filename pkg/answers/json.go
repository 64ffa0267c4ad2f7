package answers

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// kind is the JSON type of a node.
type kind int

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k kind) String() string {
	return [...]string{"null", "a boolean", "a number", "a string", "an array", "an object"}[k]
}

// node is one JSON value with the byte offset where it starts, so every problem can name a
// line and column. encoding/json keeps no positions, hence this small walker.
type node struct {
	kind    kind
	off     int
	str     string // kindString
	num     string // kindNumber, as written
	boolean bool
	members []member // kindObject, in document order
	items   []*node  // kindArray
}

type member struct {
	key    string
	keyOff int
	value  *node
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 64

type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

type parser struct {
	data  []byte
	pos   int
	depth int
}

// parseJSON parses exactly one JSON value. Duplicate object keys are syntax errors: the
// second one would silently win with encoding/json.
func parseJSON(data []byte) (*node, error) {
	p := &parser{data: data}
	if len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF {
		p.pos = 3 // a UTF-8 byte order mark, as some editors write
	}
	p.skipSpace()
	if p.pos >= len(p.data) {
		return nil, &syntaxError{p.pos, "the file is empty: it must hold a JSON object"}
	}
	n, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.data) {
		return nil, &syntaxError{p.pos, "unexpected text after the JSON object: remove it"}
	}
	return n, nil
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) errorf(off int, format string, args ...any) error {
	return &syntaxError{off, fmt.Sprintf(format, args...)}
}

func (p *parser) value() (*node, error) {
	if p.pos >= len(p.data) {
		return nil, p.errorf(p.pos, "unexpected end of file: a value is missing")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		off := p.pos
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		return &node{kind: kindString, off: off, str: s}, nil
	case c == 't':
		return p.literal("true", &node{kind: kindBool, off: p.pos, boolean: true})
	case c == 'f':
		return p.literal("false", &node{kind: kindBool, off: p.pos})
	case c == 'n':
		return p.literal("null", &node{kind: kindNull, off: p.pos})
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		return nil, p.errorf(p.pos, "unexpected character %s: expected a JSON value", quoteChar(p.data[p.pos:]))
	}
}

func quoteChar(b []byte) string {
	r, _ := utf8.DecodeRune(b)
	return strconv.QuoteRune(r)
}

func (p *parser) literal(word string, n *node) (*node, error) {
	if !strings.HasPrefix(string(p.data[p.pos:min(len(p.data), p.pos+len(word))]), word) {
		return nil, p.errorf(p.pos, "invalid literal: expected %s (strings need double quotes)", word)
	}
	p.pos += len(word)
	return n, nil
}

func (p *parser) number() (*node, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	intStart := p.pos
	if digits() == 0 {
		return nil, p.errorf(start, "invalid number")
	}
	if p.data[intStart] == '0' && p.pos-intStart > 1 {
		return nil, p.errorf(start, "invalid number: leading zeros are not allowed (put IDs in quotes)")
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return nil, p.errorf(start, "invalid number: digits expected after the decimal point")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.errorf(start, "invalid number: digits expected in the exponent")
		}
	}
	return &node{kind: kindNumber, off: start, num: string(p.data[start:p.pos])}, nil
}

func (p *parser) string() (string, error) {
	start := p.pos
	p.pos++ // opening quote
	var b strings.Builder
	for {
		if p.pos >= len(p.data) {
			return "", p.errorf(start, "unterminated string: add the closing double quote")
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c == '\\':
			if p.pos+1 >= len(p.data) {
				return "", p.errorf(start, "unterminated string: add the closing double quote")
			}
			esc := p.data[p.pos+1]
			p.pos += 2
			switch esc {
			case '"', '\\', '/':
				b.WriteByte(esc)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, err := p.hex4()
				if err != nil {
					return "", err
				}
				if utf16Surrogate(r) && p.pos+6 <= len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
					p.pos += 2
					r2, err := p.hex4()
					if err != nil {
						return "", err
					}
					r = combineSurrogates(r, r2)
				}
				b.WriteRune(r)
			default:
				return "", p.errorf(p.pos-2, "invalid escape \\%c in a string", esc)
			}
		case c < 0x20:
			return "", p.errorf(p.pos, "control character in a string: escape it (\\n, \\t) or remove it")
		default:
			r, size := utf8.DecodeRune(p.data[p.pos:])
			if r == utf8.RuneError && size == 1 {
				return "", p.errorf(p.pos, "invalid UTF-8 in a string: save the file as UTF-8")
			}
			b.Write(p.data[p.pos : p.pos+size])
			p.pos += size
		}
	}
}

func (p *parser) hex4() (rune, error) {
	if p.pos+4 > len(p.data) {
		return 0, p.errorf(p.pos, "invalid \\u escape: four hex digits expected")
	}
	v, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 32)
	if err != nil {
		return 0, p.errorf(p.pos, "invalid \\u escape: four hex digits expected")
	}
	p.pos += 4
	return rune(v), nil
}

func utf16Surrogate(r rune) bool { return r >= 0xD800 && r < 0xDC00 }

func combineSurrogates(hi, lo rune) rune {
	if lo < 0xDC00 || lo >= 0xE000 {
		return utf8.RuneError
	}
	return (hi-0xD800)<<10 | (lo - 0xDC00) + 0x10000
}

func (p *parser) enter(off int) error {
	p.depth++
	if p.depth > maxDepth {
		return p.errorf(off, "nested too deeply (more than %d levels)", maxDepth)
	}
	return nil
}

func (p *parser) object() (*node, error) {
	n := &node{kind: kindObject, off: p.pos}
	if err := p.enter(p.pos); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.pos++
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return n, nil
	}
	seen := map[string]bool{}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf(n.off, "unterminated object: add the closing }")
		}
		if p.data[p.pos] != '"' {
			return nil, p.errorf(p.pos, "expected a key in double quotes (a trailing comma is not allowed in JSON)")
		}
		keyOff := p.pos
		key, err := p.string()
		if err != nil {
			return nil, err
		}
		if seen[key] {
			return nil, p.errorf(keyOff, "duplicate key %s: keep only one", strconv.Quote(key))
		}
		seen[key] = true
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errorf(p.pos, "expected : after the key %s", strconv.Quote(key))
		}
		p.pos++
		p.skipSpace()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		n.members = append(n.members, member{key: key, keyOff: keyOff, value: v})
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf(n.off, "unterminated object: add the closing }")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return n, nil
		default:
			return nil, p.errorf(p.pos, "expected , or } after a value (a comma is missing?)")
		}
	}
}

func (p *parser) array() (*node, error) {
	n := &node{kind: kindArray, off: p.pos}
	if err := p.enter(p.pos); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.pos++
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return n, nil
	}
	for {
		p.skipSpace()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		n.items = append(n.items, v)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf(n.off, "unterminated array: add the closing ]")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return n, nil
		default:
			return nil, p.errorf(p.pos, "expected , or ] after a value (a comma is missing?)")
		}
	}
}

// lineCol turns a byte offset into a 1-based line and a 1-based column counted in characters.
func lineCol(data []byte, off int) (int, int) {
	if off > len(data) {
		off = len(data)
	}
	line, col := 1, 1
	i := 0
	if len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF {
		i = 3 // the byte order mark is not a column
	}
	for i < off {
		if data[i] == '\n' {
			line++
			col = 1
			i++
			continue
		}
		_, size := utf8.DecodeRune(data[i:])
		i += size
		col++
	}
	return line, col
}
