package pipeline

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// IndexTemplate is an index name with optional date math, "logs-%{yyyy.MM.dd}", resolved
// from a document's time in UTC. Tokens: yyyy, yy, MM, dd, HH, and literal text.
type IndexTemplate struct {
	raw    string
	parts  []tmplPart
	static bool
	// cache holds the last resolved name per hour bucket; documents arrive in time order
	// mostly, so this makes resolution allocation-free on the hot path.
	mu       sync.Mutex
	cacheKey int64
	cacheVal string
}

type tmplPart struct {
	lit    string
	layout string // Go time layout for a date part
}

var tokenLayouts = []struct{ tok, layout string }{
	{"yyyy", "2006"}, {"yy", "06"}, {"MM", "01"}, {"dd", "02"}, {"HH", "15"},
}

// ParseIndexTemplate compiles an index name or template and checks it can produce valid
// OpenSearch index names.
func ParseIndexTemplate(s string) (*IndexTemplate, error) {
	t := &IndexTemplate{raw: s, cacheKey: -1 << 62}
	rest := s
	for {
		i := strings.Index(rest, "%{")
		if i < 0 {
			if rest != "" {
				t.parts = append(t.parts, tmplPart{lit: rest})
			}
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("index template %q: unclosed %%{", s)
		}
		spec := rest[i+2 : i+j]
		layout, err := dateLayout(spec)
		if err != nil {
			return nil, fmt.Errorf("index template %q: %w", s, err)
		}
		t.parts = append(t.parts, tmplPart{layout: layout})
		rest = rest[i+j+1:]
	}
	t.static = !strings.Contains(s, "%{")
	sample := t.Resolve(time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC).UnixNano())
	if err := ValidIndexName(sample); err != nil {
		return nil, fmt.Errorf("index template %q: %w", s, err)
	}
	return t, nil
}

func dateLayout(spec string) (string, error) {
	var b strings.Builder
	for spec != "" {
		matched := false
		for _, tl := range tokenLayouts {
			if strings.HasPrefix(spec, tl.tok) {
				b.WriteString(tl.layout)
				spec = spec[len(tl.tok):]
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		c := spec[0]
		if c == '.' || c == '-' || c == '_' {
			b.WriteByte(c)
			spec = spec[1:]
			continue
		}
		return "", fmt.Errorf("unknown date token at %q (use yyyy, yy, MM, dd, HH and . - _)", spec)
	}
	return b.String(), nil
}

// Static reports whether the template has no date math.
func (t *IndexTemplate) Static() bool { return t.static }

func (t *IndexTemplate) String() string { return t.raw }

// Resolve returns the index name for a document time in Unix nanoseconds.
func (t *IndexTemplate) Resolve(unixNano int64) string {
	if t.static {
		return t.raw
	}
	bucket := unixNano / int64(time.Hour)
	if unixNano < 0 {
		bucket--
	}
	t.mu.Lock()
	if bucket == t.cacheKey {
		v := t.cacheVal
		t.mu.Unlock()
		return v
	}
	t.mu.Unlock()
	tm := time.Unix(0, unixNano).UTC()
	var b strings.Builder
	for _, p := range t.parts {
		if p.layout == "" {
			b.WriteString(p.lit)
		} else {
			b.WriteString(tm.Format(p.layout))
		}
	}
	v := b.String()
	t.mu.Lock()
	t.cacheKey, t.cacheVal = bucket, v
	t.mu.Unlock()
	return v
}

// ValidIndexName applies OpenSearch's rules for index names, so that a bad name is
// dead-lettered with a clear reason instead of failing a whole bulk request.
func ValidIndexName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("index name is empty")
	case len(s) > 255:
		return fmt.Errorf("index name %q is longer than 255 bytes", s)
	case s == "." || s == "..":
		return fmt.Errorf("index name %q is not allowed", s)
	case s[0] == '-' || s[0] == '_' || s[0] == '+':
		return fmt.Errorf("index name %q must not start with '-', '_' or '+'", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			return fmt.Errorf("index name %q must be lowercase", s)
		}
		switch c {
		case '\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':':
			return fmt.Errorf("index name %q must not contain %q", s, c)
		}
	}
	return nil
}
