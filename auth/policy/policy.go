// Package policy parses IAM policy documents and evaluates them locally, following the
// evaluation rules AWS documents for identity-based and resource-based policies, so that
// weir can authorize a read query without a round trip to IAM and say why it decided.
//
// A Policy comes only from Parse: it is immutable, and safe for concurrent use.
package policy

import (
	"errors"
	"slices"
	"strconv"
	"strings"
)

// Effect is the outcome of a statement or of an evaluation.
type Effect int

// ImplicitDeny is the zero value so that a Decision nobody filled in denies.
const (
	ImplicitDeny Effect = iota
	Allow
	Deny
)

func (e Effect) String() string {
	switch e {
	case Allow:
		return "Allow"
	case Deny:
		return "Deny"
	case ImplicitDeny:
		return "ImplicitDeny"
	}
	return "Effect(" + strconv.Itoa(int(e)) + ")"
}

// The policy language versions AWS accepts. Only Version2012 substitutes policy variables.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// ErrMalformed is wrapped by every error Parse returns.
var ErrMalformed = errors.New("malformed policy document")

// SyntaxError locates what is wrong in a policy document by its JSON path.
type SyntaxError struct {
	Path   string // e.g. "Statement[2].Effect"
	Reason string
	Err    error // the JSON decoder's error, if that is what failed
}

func (e *SyntaxError) Error() string {
	msg := e.Path + ": " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap lets callers match both ErrMalformed and the decoder's error.
func (e *SyntaxError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrMalformed, e.Err}
	}
	return []error{ErrMalformed}
}

// Policy is a parsed policy document.
type Policy struct {
	version    string
	id         string
	statements []statement
}

// Version is the document's Version element, empty when it has none.
func (p *Policy) Version() string { return p.version }

// ID is the document's Id element.
func (p *Policy) ID() string { return p.id }

// Statements returns a copy of the statements as written; changing it changes nothing.
func (p *Policy) Statements() []Statement {
	out := make([]Statement, len(p.statements))
	for i := range p.statements {
		out[i] = p.statements[i].Statement.clone()
	}
	return out
}

// Statement is one statement as written in the document.
type Statement struct {
	Sid          string
	Effect       Effect
	Principal    *Principal // nil when the statement has none
	NotPrincipal *Principal
	Action       []string
	NotAction    []string
	Resource     []string
	NotResource  []string
	Conditions   []Condition // sorted by operator, then key
}

func (s Statement) clone() Statement {
	s.Principal = s.Principal.clone()
	s.NotPrincipal = s.NotPrincipal.clone()
	s.Action = slices.Clone(s.Action)
	s.NotAction = slices.Clone(s.NotAction)
	s.Resource = slices.Clone(s.Resource)
	s.NotResource = slices.Clone(s.NotResource)
	s.Conditions = slices.Clone(s.Conditions)
	for i := range s.Conditions {
		s.Conditions[i].Values = slices.Clone(s.Conditions[i].Values)
	}
	return s
}

// Principal is a Principal or NotPrincipal element.
type Principal struct {
	Any           bool // written as "*"
	AWS           []string
	Service       []string
	Federated     []string
	CanonicalUser []string
}

func (p *Principal) clone() *Principal {
	if p == nil {
		return nil
	}
	c := *p
	c.AWS = slices.Clone(p.AWS)
	c.Service = slices.Clone(p.Service)
	c.Federated = slices.Clone(p.Federated)
	c.CanonicalUser = slices.Clone(p.CanonicalUser)
	return &c
}

// String renders the element the way it reads in a policy, for explanations.
func (p *Principal) String() string {
	if p == nil {
		return ""
	}
	if p.Any {
		return `"*"`
	}
	var parts []string
	for _, t := range []struct {
		name string
		vals []string
	}{{"AWS", p.AWS}, {"Service", p.Service}, {"Federated", p.Federated}, {"CanonicalUser", p.CanonicalUser}} {
		if len(t.vals) > 0 {
			parts = append(parts, t.name+" "+quoteList(t.vals))
		}
	}
	return strings.Join(parts, ", ")
}

// Condition is one key under one operator of a Condition block.
type Condition struct {
	Operator string // as written, e.g. "ForAnyValue:StringLike"
	Key      string
	Values   []string // JSON numbers and booleans are kept as their text
}

func (c Condition) String() string {
	return c.Operator + " " + c.Key + " " + quoteList(c.Values)
}

func quoteList(vals []string) string {
	if len(vals) == 1 {
		return quote(vals[0])
	}
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func quote(s string) string { return strconv.Quote(s) }
