package query

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"slices"
	"strings"
)

// CheckBody inspects a read's body, since OpenSearch also reads indices from there: each
// _msearch header's index, and document lookups inside queries (terms lookup,
// more_like_this "like" documents, indexed shapes, percolate by id). Every index named
// must fall within the indices of the path; they are returned so that each is authorized
// too. Bodies must be JSON (NDJSON for _msearch): CBOR, SMILE or YAML would hide their
// indices from this check.
func (o Op) CheckBody(contentType string, body []byte) (indices []string, err error) {
	switch o.Kind {
	case OpSearch, OpCount, OpMultiSearch:
	default:
		return nil, nil // bodies of the other reads are not forwarded
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if o.Kind == OpMultiSearch {
			return nil, refuse(ReasonMalformedBody, "_msearch needs a body: header and search lines")
		}
		return nil, nil
	}
	if contentType != "" {
		mt, _, err := mime.ParseMediaType(contentType)
		if err != nil || (mt != "application/json" && mt != "application/x-ndjson" && mt != "text/plain") {
			return nil, refuse(ReasonContentType, "content type %q: send application/json (application/x-ndjson for _msearch)", contentType)
		}
	}
	var seen []string
	note := func(ix string) {
		if !slices.Contains(seen, ix) {
			seen = append(seen, ix)
		}
	}
	if o.Kind != OpMultiSearch {
		v, err := decodeJSON(body)
		if err != nil {
			return nil, refuse(ReasonMalformedBody, "the body is not one JSON object: %v", err)
		}
		if err := o.checkLookups(v, note); err != nil {
			return nil, err
		}
		return seen, nil
	}
	lines := bytes.Split(body, []byte("\n"))
	if len(bytes.TrimSpace(lines[len(lines)-1])) == 0 {
		lines = lines[:len(lines)-1]
	}
	if len(lines)%2 != 0 {
		return nil, refuse(ReasonMalformedBody, "_msearch body: %d lines; want a header line and a search line per search", len(lines))
	}
	for i := 0; i < len(lines); i += 2 {
		header := bytes.TrimSpace(lines[i])
		if len(header) == 0 {
			header = []byte("{}")
		}
		h, err := decodeJSON(header)
		hm, ok := h.(map[string]any)
		if err != nil || !ok {
			return nil, refuse(ReasonMalformedBody, "_msearch line %d: a header must be one JSON object", i+1)
		}
		if err := o.checkHeader(i+1, hm, note); err != nil {
			return nil, err
		}
		search, err := decodeJSON(lines[i+1])
		if err != nil {
			return nil, refuse(ReasonMalformedBody, "_msearch line %d: not JSON: %v", i+2, err)
		}
		if err := o.checkLookups(search, note); err != nil {
			return nil, err
		}
	}
	return seen, nil
}

// checkHeader reads an _msearch header line's index (a string, a comma-separated string, or
// an array) and expand_wildcards.
func (o Op) checkHeader(line int, h map[string]any, note func(string)) error {
	var names []string
	switch v := h["index"].(type) {
	case nil:
	case string:
		names = strings.Split(v, ",")
	case []any:
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				return refuse(ReasonMalformedBody, "_msearch line %d: index must be a string or strings", line)
			}
			names = append(names, strings.Split(s, ",")...)
		}
	default:
		return refuse(ReasonMalformedBody, "_msearch line %d: index must be a string or strings", line)
	}
	for _, n := range names {
		if err := validIndex(n, true); err != nil {
			r := err.(*Refusal)
			return refuse(ReasonMultiSearchIndex, "_msearch line %d: %s", line, r.Message)
		}
		if !o.within(n) {
			return refuse(ReasonMultiSearchIndex, "_msearch line %d names index %q, outside %s, the indices of the path", line, n, strings.Join(o.Indices, ","))
		}
		note(n)
	}
	if ew, ok := h["expand_wildcards"]; ok {
		s, _ := ew.(string)
		if err := checkQuery(map[string][]string{"expand_wildcards": {s}}); err != nil {
			r := err.(*Refusal)
			return refuse(r.Reason, "_msearch line %d: %s", line, r.Message)
		}
	}
	return nil
}

// checkLookups walks a search body for objects that fetch a document from an index: an
// object with "index" and "id" (terms lookup, indexed_shape, percolate) or with "_index"
// and "_id" (more_like_this).
func (o Op) checkLookups(v any, note func(string)) error {
	switch x := v.(type) {
	case map[string]any:
		for _, pair := range [][2]string{{"index", "id"}, {"_index", "_id"}} {
			ix, ok := x[pair[0]].(string)
			if !ok {
				continue
			}
			if _, hasID := x[pair[1]]; !hasID {
				continue
			}
			if err := validIndex(ix, false); err != nil {
				return refuse(ReasonCrossIndexLookup, "the body looks up a document: %s", err.(*Refusal).Message)
			}
			if !o.within(ix) {
				return refuse(ReasonCrossIndexLookup, "the body looks up a document in index %q, outside %s, the indices of the path", ix, strings.Join(o.Indices, ","))
			}
			note(ix)
		}
		for _, c := range x {
			if err := o.checkLookups(c, note); err != nil {
				return err
			}
		}
	case []any:
		for _, c := range x {
			if err := o.checkLookups(c, note); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeJSON decodes exactly one JSON value; numbers stay text so nothing is lost.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errTrailing
	}
	return v, nil
}

var errTrailing = errors.New("more than one JSON value")
