package docscan

// Kind is the JSON kind of an extracted value.
type Kind uint8

// The zero Kind, None, marks a field that was not found.
const (
	None Kind = iota
	String
	Number
	Bool
	Null
	Object
	Array
)

var kindNames = [...]string{"none", "string", "number", "boolean", "null", "object", "array"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "invalid"
}

func (k Kind) article() string {
	if k == Null {
		return "JSON null"
	}
	return "a JSON " + k.String()
}

// kindOf judges a value's kind from its first byte; None when no value starts with c.
func kindOf(c byte) Kind {
	switch c {
	case '"':
		return String
	case '{':
		return Object
	case '[':
		return Array
	case 't', 'f':
		return Bool
	case 'n':
		return Null
	}
	if c == '-' || isDigit(c) {
		return Number
	}
	return None
}

// Value is the raw text of an extracted field.
type Value struct {
	// Raw is a sub-slice of the scanned document: for a String the content between the
	// quotes, still escaped; for the other kinds the whole value. Copy it to keep it past
	// the document's lifetime.
	Raw     []byte
	Kind    Kind
	Escaped bool // a String holding backslash escapes: decode Raw with Unescape
}

// Fields holds the extracted fields; a field not wanted or not found is the zero Value.
type Fields struct {
	ID   Value
	Time Value
}

// Spec names the fields to extract by dotted path ("event.id"); an empty path is not wanted.
type Spec struct {
	ID   string
	Time string
}

// Scanner validates documents and extracts the fields of its Spec. It is immutable and safe
// for concurrent use.
type Scanner struct {
	id, time string
}

// Compile prepares a Scanner for s. Any string is a usable path: a path matches the values
// whose keys, joined with '.', spell it.
func Compile(s Spec) *Scanner {
	return &Scanner{id: s.ID, time: s.Time}
}

// Scan validates that doc holds exactly one JSON object and returns the wanted fields. On error
// the Fields are zero; the error is a *SyntaxError or, for a top level that is not an object,
// a *KindError.
func (s *Scanner) Scan(doc []byte) (Fields, error) {
	var f Fields
	i := SkipSpace(doc, 0)
	if i >= len(doc) {
		return Fields{}, syntaxErr(len(doc), msgEmpty)
	}
	if doc[i] != '{' {
		// Validate first: "not json" must read as invalid JSON, not as a wrong-kind value
		// because it happens to start with the 'n' of null.
		if j, err := walk(doc, i, 0, false); err != nil {
			return Fields{}, err
		} else if j = SkipSpace(doc, j); j < len(doc) {
			return Fields{}, syntaxErr(j, msgTrailingData)
		}
		return Fields{}, topKindErr(doc[i], i, Object)
	}
	idp, tmp := start(s.id), start(s.time)
	var err error
	if idp < 0 && tmp < 0 {
		i, err = walk(doc, i, 0, false)
	} else {
		i, err = s.object(doc, i+1, 1, idp, tmp, &f)
	}
	if err != nil {
		return Fields{}, err
	}
	if i = SkipSpace(doc, i); i < len(doc) {
		return Fields{}, syntaxErr(i, msgTrailingData)
	}
	return f, nil
}

func start(path string) int {
	if path == "" {
		return -1
	}
	return 0
}

func topKindErr(c byte, i int, want Kind) error {
	k := kindOf(c)
	if k == None {
		return syntaxErr(i, msgValue)
	}
	return &KindError{Offset: i, Kind: k, Want: want}
}

// object reads the members of an object whose '{' is at i-1, at depth, looking for the fields.
// idp and tmp are how much of each path the keys leading here have spelled (-1: this object
// is off that path). It recurses only into objects on a path; everything else goes to walk.
func (s *Scanner) object(doc []byte, i, depth, idp, tmp int, f *Fields) (int, error) {
	n := len(doc)
	if i = SkipSpace(doc, i); i >= n {
		return n, syntaxErr(n, msgEOF)
	}
	if doc[i] == '}' {
		return i + 1, nil
	}
	if doc[i] != '"' {
		return i, syntaxErr(i, msgKeyOrEnd)
	}
	for {
		ks := i + 1
		end, kesc, err := scanString(doc, ks)
		if err != nil {
			return end, err
		}
		key := doc[ks : end-1]
		if i = SkipSpace(doc, end); i >= n {
			return n, syntaxErr(n, msgEOF)
		}
		if doc[i] != ':' {
			return i, syntaxErr(i, msgColon)
		}
		if i = SkipSpace(doc, i+1); i >= n {
			return n, syntaxErr(n, msgEOF)
		}

		idHit, idNext := false, -1
		if idp >= 0 && f.ID.Kind == None {
			idHit, idNext = step(s.id, idp, key, kesc)
		}
		tmHit, tmNext := false, -1
		if tmp >= 0 && f.Time.Kind == None {
			tmHit, tmNext = step(s.time, tmp, key, kesc)
		}

		vs := i
		vesc := false
		switch c := doc[i]; {
		case c == '{' && (idNext >= 0 || tmNext >= 0):
			if depth+1 > MaxDepth {
				return i, syntaxErr(i, msgDepth)
			}
			i, err = s.object(doc, i+1, depth+1, idNext, tmNext, f)
		case c == '"':
			i, vesc, err = scanString(doc, i+1)
		default:
			i, err = walk(doc, i, depth, false)
		}
		if err != nil {
			return i, err
		}
		if idHit {
			f.ID = value(doc, vs, i, vesc)
		}
		if tmHit {
			f.Time = value(doc, vs, i, vesc)
		}
		if (idp < 0 || f.ID.Kind != None) && (tmp < 0 || f.Time.Kind != None) {
			// Nothing more to find in this object: validate the rest at full speed.
			return walk(doc, i, depth, true)
		}

		if i = SkipSpace(doc, i); i >= n {
			return n, syntaxErr(n, msgEOF)
		}
		switch doc[i] {
		case '}':
			return i + 1, nil
		case ',':
		default:
			return i, syntaxErr(i, msgAfterMember)
		}
		if i = SkipSpace(doc, i+1); i >= n {
			return n, syntaxErr(n, msgEOF)
		}
		if doc[i] != '"' {
			if doc[i] == '}' {
				return i, syntaxErr(i, msgTrailingObject)
			}
			return i, syntaxErr(i, msgKey)
		}
	}
}

func value(doc []byte, start, end int, escaped bool) Value {
	k := kindOf(doc[start])
	if k == String {
		return Value{Raw: doc[start+1 : end-1], Kind: String, Escaped: escaped}
	}
	return Value{Raw: doc[start:end], Kind: k}
}

// step matches key against path[p:]. hit: the key completes the path. next >= 0: the key
// and a '.' continue it, and next is where the remaining path starts.
func step(path string, p int, key []byte, escaped bool) (hit bool, next int) {
	rest := path[p:]
	if escaped {
		k, ok := unescapedPrefix(key, rest)
		switch {
		case !ok:
			return false, -1
		case k == len(rest):
			return true, -1
		case rest[k] == '.':
			return false, p + k + 1
		}
		return false, -1
	}
	if len(key) == len(rest) {
		return string(key) == rest, -1
	}
	if len(key) < len(rest) && rest[len(key)] == '.' && string(key) == rest[:len(key)] {
		return false, p + len(key) + 1
	}
	return false, -1
}
