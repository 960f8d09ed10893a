package docscan

import "bytes"

// SplitArray calls fn for each element of the JSON array that body holds (surrounding
// whitespace allowed), with the element's index and raw bytes: a sub-slice of body without
// surrounding whitespace. Each element is validated before fn sees it, but the array is read
// as it goes: when a later element or the closing bracket is malformed, fn has already seen
// the earlier ones. Elements may be of any kind; Scan each to require objects.
//
// It returns fn's first error unchanged, a *SyntaxError (offsets into body), or a *KindError
// when body is not an array.
func SplitArray(body []byte, fn func(i int, elem []byte) error) error {
	n := len(body)
	i := SkipSpace(body, 0)
	if i >= n {
		return syntaxErr(n, msgEmpty)
	}
	if body[i] != '[' {
		return topKindErr(body[i], i, Array)
	}
	if i = SkipSpace(body, i+1); i < n && body[i] == ']' {
		i++
	} else {
		for k := 0; ; k++ {
			if i >= n {
				return syntaxErr(n, msgEOF)
			}
			start := i
			end, err := walk(body, i, 1, false)
			if err != nil {
				return err
			}
			if err := fn(k, body[start:end]); err != nil {
				return err
			}
			if i = SkipSpace(body, end); i >= n {
				return syntaxErr(n, msgEOF)
			}
			if body[i] == ']' {
				i++
				break
			}
			if body[i] != ',' {
				return syntaxErr(i, msgAfterElement)
			}
			if i = SkipSpace(body, i+1); i < n && body[i] == ']' {
				return syntaxErr(i, msgTrailingArray)
			}
		}
	}
	if i = SkipSpace(body, i); i < n {
		return syntaxErr(i, msgTrailingData)
	}
	return nil
}

// Lines calls fn for each non-blank line of an NDJSON body, with its 1-based line number
// (blank lines count, so numbers match what an editor shows) and its bytes: a sub-slice of
// body without the '\n' and one trailing '\r'. A line is blank when it holds only JSON
// whitespace. A missing final newline is fine. It returns fn's first error unchanged.
func Lines(body []byte, fn func(lineNo int, line []byte) error) error {
	for no := 1; len(body) > 0; no++ {
		line := body
		if j := bytes.IndexByte(body, '\n'); j >= 0 {
			line, body = body[:j], body[j+1:]
		} else {
			body = nil
		}
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) == 0 || (line[0] <= ' ' && SkipSpace(line, 0) == len(line)) {
			continue
		}
		if err := fn(no, line); err != nil {
			return err
		}
	}
	return nil
}
