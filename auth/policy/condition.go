package policy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

type family uint8

const (
	famString family = iota
	famNumeric
	famDate
	famBool
	famBinary
	famIP
	famARN
	famNull
)

type comparison uint8

const (
	cmpEq comparison = iota
	cmpFold
	cmpLike
	cmpLT
	cmpLE
	cmpGT
	cmpGE
)

type opSpec struct {
	fam family
	cmp comparison
	neg bool // the Not… operators: true when no value matches
}

var operators = map[string]opSpec{
	"StringEquals":              {fam: famString, cmp: cmpEq},
	"StringNotEquals":           {fam: famString, cmp: cmpEq, neg: true},
	"StringEqualsIgnoreCase":    {fam: famString, cmp: cmpFold},
	"StringNotEqualsIgnoreCase": {fam: famString, cmp: cmpFold, neg: true},
	"StringLike":                {fam: famString, cmp: cmpLike},
	"StringNotLike":             {fam: famString, cmp: cmpLike, neg: true},

	"NumericEquals":            {fam: famNumeric, cmp: cmpEq},
	"NumericNotEquals":         {fam: famNumeric, cmp: cmpEq, neg: true},
	"NumericLessThan":          {fam: famNumeric, cmp: cmpLT},
	"NumericLessThanEquals":    {fam: famNumeric, cmp: cmpLE},
	"NumericGreaterThan":       {fam: famNumeric, cmp: cmpGT},
	"NumericGreaterThanEquals": {fam: famNumeric, cmp: cmpGE},

	"DateEquals":            {fam: famDate, cmp: cmpEq},
	"DateNotEquals":         {fam: famDate, cmp: cmpEq, neg: true},
	"DateLessThan":          {fam: famDate, cmp: cmpLT},
	"DateLessThanEquals":    {fam: famDate, cmp: cmpLE},
	"DateGreaterThan":       {fam: famDate, cmp: cmpGT},
	"DateGreaterThanEquals": {fam: famDate, cmp: cmpGE},

	"Bool":         {fam: famBool},
	"BinaryEquals": {fam: famBinary},
	"IpAddress":    {fam: famIP},
	"NotIpAddress": {fam: famIP, neg: true},

	// AWS documents ArnEquals and ArnLike as the same operator, wildcards included.
	"ArnEquals":    {fam: famARN},
	"ArnLike":      {fam: famARN},
	"ArnNotEquals": {fam: famARN, neg: true},
	"ArnNotLike":   {fam: famARN, neg: true},

	"Null": {fam: famNull},
}

type setQualifier uint8

const (
	setNone setQualifier = iota
	setForAllValues
	setForAnyValue
)

// condition is a Condition with its operator resolved and its values parsed at Parse, so
// that a bad number or CIDR is a parse error rather than a silent mismatch.
type condition struct {
	Condition
	spec     opSpec
	set      setQualifier
	ifExists bool

	strs     []template // String*
	arns     []arnPattern
	nums     []float64
	times    []time.Time
	prefixes []netip.Prefix
	bins     [][]byte
	bools    []bool // Bool and Null
}

func parseOperator(op string) (opSpec, setQualifier, bool, error) {
	name, set := op, setNone
	if rest, ok := strings.CutPrefix(name, "ForAllValues:"); ok {
		name, set = rest, setForAllValues
	} else if rest, ok := strings.CutPrefix(name, "ForAnyValue:"); ok {
		name, set = rest, setForAnyValue
	}
	base, ifExists := strings.CutSuffix(name, "IfExists")
	spec, ok := operators[base]
	if !ok {
		for known := range operators {
			if strings.EqualFold(known, base) {
				return spec, set, false, fmt.Errorf("unknown condition operator (operators are case-sensitive: did you mean %q?)", known)
			}
		}
		return spec, set, false, fmt.Errorf("unknown condition operator")
	}
	if spec.fam == famNull && (ifExists || set != setNone) {
		return spec, set, false, fmt.Errorf("Null takes neither IfExists nor ForAllValues/ForAnyValue: it already tests whether the key exists")
	}
	return spec, set, ifExists, nil
}

func parseConditions(raw json.RawMessage, path string, vars bool) ([]condition, error) {
	block, err := object(raw, path)
	if err != nil {
		return nil, err
	}
	var out []condition
	for _, op := range sortedKeys(block) {
		opPath := path + "." + op
		spec, set, ifExists, err := parseOperator(op)
		if err != nil {
			return nil, &SyntaxError{Path: opPath, Reason: err.Error()}
		}
		if kind := kindOf(block[op]); kind != "object" {
			return nil, malformed(opPath, "must be an object of condition keys and values, got %s", kind)
		}
		keys, err := object(block[op], opPath)
		if err != nil {
			return nil, err
		}
		for _, key := range sortedKeys(keys) {
			keyPath := opPath + "." + key
			if key == "" {
				return nil, malformed(keyPath, "condition key must not be empty")
			}
			vals, at, err := conditionValues(keys[key], keyPath)
			if err != nil {
				return nil, err
			}
			c := condition{
				Condition: Condition{Operator: op, Key: key, Values: vals},
				spec:      spec, set: set, ifExists: ifExists,
			}
			if err := c.compile(vars, at); err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// conditionValues reads a value or a list of values. AWS accepts JSON numbers and booleans
// here (`"aws:SecureTransport": false`), so they are kept as their text.
func conditionValues(raw json.RawMessage, path string) ([]string, func(int) string, error) {
	at := func(int) string { return path }
	scalar := func(r json.RawMessage, p string) (string, error) {
		switch kind := kindOf(r); kind {
		case "string":
			return str(r, p)
		case "number", "boolean":
			return string(bytes.TrimSpace(r)), nil
		default:
			return "", malformed(p, "must be a string, number or boolean, got %s", kind)
		}
	}
	if kindOf(raw) != "list" {
		v, err := scalar(raw, path)
		return []string{v}, at, err
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, at, &SyntaxError{Path: path, Reason: "invalid JSON", Err: err}
	}
	at = func(i int) string { return fmt.Sprintf("%s[%d]", path, i) }
	vals := make([]string, len(list))
	for i, r := range list {
		v, err := scalar(r, at(i))
		if err != nil {
			return nil, at, err
		}
		vals[i] = v
	}
	return vals, at, nil
}

func (c *condition) compile(vars bool, at func(int) string) error {
	for i, v := range c.Values {
		switch c.spec.fam {
		case famString:
			// Policy variables expand only in String and Arn operators, as AWS documents.
			c.strs = append(c.strs, parseTemplate(v, vars))
		case famARN:
			c.arns = append(c.arns, compileARNPattern(v, vars))
		case famNumeric:
			n, ok := parseNumber(v)
			if !ok {
				return malformed(at(i), "must be a number, got %q", v)
			}
			c.nums = append(c.nums, n)
		case famDate:
			t, ok := parseDate(v)
			if !ok {
				return malformed(at(i), "must be an ISO 8601 date or epoch seconds, got %q", v)
			}
			c.times = append(c.times, t)
		case famBool, famNull:
			b, ok := parseBool(v)
			if !ok {
				return malformed(at(i), `must be "true" or "false", got %q`, v)
			}
			c.bools = append(c.bools, b)
		case famBinary:
			b, ok := parseBinary(v)
			if !ok {
				return malformed(at(i), "must be base64, got %q", v)
			}
			c.bins = append(c.bins, b)
		case famIP:
			p, ok := parsePrefix(v)
			if !ok {
				return malformed(at(i), "must be an IP address or CIDR block, got %q", v)
			}
			c.prefixes = append(c.prefixes, p)
		}
	}
	return nil
}

// eval applies AWS's rules: values of one key are OR'd; a Not… operator holds when no
// value matches; a missing key fails a positive operator and satisfies a negated one;
// IfExists satisfies a missing key; ForAllValues holds over a missing or empty key and
// ForAnyValue does not. A key with no values counts as missing.
func (c *condition) eval(ctx *evalCtx) bool {
	vals := ctx.values(c.Key)
	present := len(vals) > 0
	if c.spec.fam == famNull {
		for _, wantMissing := range c.bools {
			if wantMissing != present {
				return true
			}
		}
		return false
	}
	switch c.set {
	case setForAllValues:
		for _, v := range vals {
			if c.matchesAny(v, ctx) == c.spec.neg {
				return false
			}
		}
		return true
	case setForAnyValue:
		// IfExists does not rescue a missing key here: with no request values there is
		// nothing for "any value" to be.
		for _, v := range vals {
			if c.matchesAny(v, ctx) != c.spec.neg {
				return true
			}
		}
		return false
	}
	if !present {
		return c.ifExists || c.spec.neg
	}
	for _, v := range vals {
		if c.matchesAny(v, ctx) {
			return !c.spec.neg
		}
	}
	return c.spec.neg
}

// matchesAny reports whether the request value v matches any of the policy's values under
// the positive form of the operator. A request value of the wrong type matches nothing.
func (c *condition) matchesAny(v string, ctx *evalCtx) bool {
	switch c.spec.fam {
	case famString:
		for _, t := range c.strs {
			if c.spec.cmp == cmpLike {
				if toks, ok := t.expand(ctx.lookup, true); ok && globMatch(toks, v, false) {
					return true
				}
				continue
			}
			want, ok := t.literal(ctx.lookup)
			if ok && (want == v || c.spec.cmp == cmpFold && strings.EqualFold(want, v)) {
				return true
			}
		}
	case famARN:
		for _, p := range c.arns {
			if p.match(v, ctx.lookup) {
				return true
			}
		}
	case famNumeric:
		x, ok := parseNumber(v)
		if !ok {
			return false
		}
		for _, n := range c.nums {
			if compare(c.spec.cmp, cmpFloat(x, n)) {
				return true
			}
		}
	case famDate:
		t, ok := parseDate(v)
		if !ok {
			return false
		}
		for _, w := range c.times {
			if compare(c.spec.cmp, t.Compare(w)) {
				return true
			}
		}
	case famBool:
		b, ok := parseBool(v)
		if !ok {
			return false
		}
		for _, w := range c.bools {
			if b == w {
				return true
			}
		}
	case famBinary:
		b, ok := parseBinary(v)
		if !ok {
			return false
		}
		for _, w := range c.bins {
			if bytes.Equal(b, w) {
				return true
			}
		}
	case famIP:
		a, err := netip.ParseAddr(strings.TrimSpace(v))
		if err != nil {
			return false
		}
		a = a.WithZone("").Unmap()
		for _, p := range c.prefixes {
			if p.Contains(a) {
				return true
			}
		}
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compare(cmp comparison, sign int) bool {
	switch cmp {
	case cmpLT:
		return sign < 0
	case cmpLE:
		return sign <= 0
	case cmpGT:
		return sign > 0
	case cmpGE:
		return sign >= 0
	}
	return sign == 0
}

// parseNumber accepts decimal integers and fractions with an optional exponent. It refuses
// what strconv.ParseFloat would also take (NaN, Inf, hex floats, underscores), which no
// IAM number is.
func parseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			exp++
		}
		if exp == 0 {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04",
	"2006-01-02",
	"20060102T150405Z0700",
	"20060102T150405",
}

// maxEpoch bounds epoch seconds (year ~33658) so that the float-to-int conversion below
// stays defined.
const maxEpoch = 1e12

func parseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	// Eight digits read as both a basic ISO 8601 date and epoch seconds; AWS's examples
	// write epoch times with ten digits, so a valid date wins.
	if len(s) == 8 {
		if t, err := time.Parse("20060102", s); err == nil {
			return t, true
		}
	}
	if f, ok := parseNumber(s); ok {
		if math.Abs(f) > maxEpoch {
			return time.Time{}, false
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func parseBool(s string) (bool, bool) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

// parseBinary decodes base64 on both sides of BinaryEquals so that padding does not decide.
func parseBinary(s string) ([]byte, bool) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	return nil, false
}

// parsePrefix takes a CIDR block or a bare address (a one-address block). IPv4-mapped IPv6
// blocks become IPv4 so that they meet request addresses, which are unmapped too.
func parsePrefix(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil || a.Zone() != "" {
			return netip.Prefix{}, false
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), true
}
