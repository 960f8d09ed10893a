package policy

import (
	"strings"
	"unicode"
)

type tokKind uint8

const (
	tokLit tokKind = iota
	tokAny         // * : any run of characters, including none
	tokOne         // ? : exactly one character
)

// tok is one character of a compiled pattern. Patterns are token lists rather than strings
// so that a `${*}` escape or a substituted variable value stays literal even when it
// contains * or ?.
type tok struct {
	r    rune
	kind tokKind
}

// globMatch reports whether s matches p. It backtracks only to the last *, which keeps it
// O(len(p)*len(s)) on hostile patterns instead of exponential.
func globMatch(p []tok, s string, fold bool) bool {
	rs := []rune(s)
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(rs) {
		if pi < len(p) {
			switch t := p[pi]; t.kind {
			case tokAny:
				star, mark = pi, si
				pi++
				continue
			case tokOne:
				pi++
				si++
				continue
			default:
				if t.r == rs[si] || fold && foldEqual(t.r, rs[si]) {
					pi++
					si++
					continue
				}
			}
		}
		if star < 0 {
			return false
		}
		pi = star + 1
		mark++
		si = mark
	}
	for pi < len(p) && p[pi].kind == tokAny {
		pi++
	}
	return pi == len(p)
}

func foldEqual(a, b rune) bool {
	return unicode.ToLower(a) == unicode.ToLower(b) || unicode.ToUpper(a) == unicode.ToUpper(b)
}

type partKind uint8

const (
	partText    partKind = iota // as written; * and ? are wildcards where the operator allows them
	partEscaped                 // ${*}, ${?} or ${$}: the character itself, never a wildcard
	partVar                     // ${key} or ${key, 'default'}
)

type part struct {
	kind   partKind
	text   string // the text, the escaped character, or the variable's key
	def    string
	hasDef bool
}

// template is a policy value split around its policy variables, ready to be expanded
// against a request's context.
type template []part

// lookup returns the single value of a context key; variables never expand to a
// multi-valued key.
type lookup func(key string) (string, bool)

func parseTemplate(s string, vars bool) template {
	if !vars || !strings.Contains(s, "${") {
		return template{{kind: partText, text: s}}
	}
	var t template
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i+2:], '}')
		if j < 0 {
			break // an unterminated ${ is plain text
		}
		if i > 0 {
			t = append(t, part{kind: partText, text: s[:i]})
		}
		switch inner := s[i+2 : i+2+j]; inner {
		case "*", "?", "$":
			t = append(t, part{kind: partEscaped, text: inner})
		default:
			key, def, hasDef := strings.Cut(inner, ",")
			p := part{kind: partVar, text: strings.TrimSpace(key), hasDef: hasDef}
			if hasDef {
				def = strings.TrimSpace(def)
				if len(def) >= 2 && def[0] == '\'' && def[len(def)-1] == '\'' {
					def = def[1 : len(def)-1]
				}
				p.def = def
			}
			t = append(t, p)
		}
		s = s[i+2+j+1:]
	}
	if s != "" {
		t = append(t, part{kind: partText, text: s})
	}
	return t
}

// tokens expands t. It reports false when a variable has no value and no default: AWS
// then treats the value as not matching anything.
func (t template) tokens(look lookup, wild bool) []tok {
	toks, _ := t.expand(look, wild)
	return toks
}

func (t template) expand(look lookup, wild bool) ([]tok, bool) {
	var out []tok
	for _, p := range t {
		switch p.kind {
		case partText:
			for _, r := range p.text {
				k := tokLit
				if wild && r == '*' {
					k = tokAny
				} else if wild && r == '?' {
					k = tokOne
				}
				out = append(out, tok{r: r, kind: k})
			}
		case partEscaped:
			out = append(out, tok{r: rune(p.text[0])})
		case partVar:
			v, ok := "", false
			if look != nil {
				v, ok = look(p.text)
			}
			if !ok {
				if !p.hasDef {
					return nil, false
				}
				v = p.def
			}
			for _, r := range v {
				out = append(out, tok{r: r})
			}
		}
	}
	return out, true
}

// literal expands t with no wildcards, for the Equals operators.
func (t template) literal(look lookup) (string, bool) {
	toks, ok := t.expand(look, false)
	if !ok {
		return "", false
	}
	var b strings.Builder
	for _, k := range toks {
		b.WriteRune(k.r)
	}
	return b.String(), true
}

// arnPattern matches ARNs one colon-separated part at a time, so that a wildcard in the
// region cannot swallow the account. The sixth part keeps any further colons, and there
// * crosses / as AWS documents. A pattern that is not an ARN (such as "*") matches the
// whole string; one that starts like an ARN but has fewer than six parts matches nothing,
// rather than letting its wildcards span parts.
type arnPattern struct {
	whole   template
	segs    []template // six parts, or nil when the pattern is not an ARN
	partial bool       // starts with arn: but has fewer than six parts
}

func compileARNPattern(s string, vars bool) arnPattern {
	p := arnPattern{whole: parseTemplate(s, vars)}
	parts, ok := splitARN(s, vars)
	p.partial = !ok && strings.HasPrefix(s, "arn:")
	if ok {
		p.segs = make([]template, len(parts))
		for i, part := range parts {
			p.segs[i] = parseTemplate(part, vars)
		}
	}
	return p
}

func (p arnPattern) match(value string, look lookup) bool {
	if p.partial {
		return false
	}
	if p.segs == nil {
		toks, ok := p.whole.expand(look, true)
		return ok && globMatch(toks, value, false)
	}
	vs := strings.SplitN(value, ":", 6)
	if len(vs) != 6 {
		return false
	}
	for i, seg := range p.segs {
		toks, ok := seg.expand(look, true)
		if !ok || !globMatch(toks, vs[i], false) {
			return false
		}
	}
	return true
}

// splitARN splits an ARN pattern into its six parts. Colons inside ${...} belong to a
// variable's key (${aws:username}), not to the ARN.
func splitARN(s string, vars bool) ([]string, bool) {
	if !strings.HasPrefix(s, "arn:") {
		return nil, false
	}
	parts := make([]string, 0, 6)
	start := 0
	for i := 0; i < len(s) && len(parts) < 5; i++ {
		switch s[i] {
		case '$':
			if vars && i+1 < len(s) && s[i+1] == '{' {
				if j := strings.IndexByte(s[i+2:], '}'); j >= 0 {
					i += 2 + j
				}
			}
		case ':':
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	if len(parts) < 5 {
		return nil, false
	}
	return append(parts, s[start:]), true
}
