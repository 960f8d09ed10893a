// Package docscan validates a JSON document in one pass and, in the same pass, extracts the
// few fields the ingest path needs (the document id and its timestamp), without allocating.
//
// Validation is strict RFC 8259: exactly one value with optional surrounding whitespace,
// no trailing commas, comments, NaN or other extensions; numbers per the grammar; strings
// without raw control characters and with valid UTF-8; nesting limited to [MaxDepth].
//
// Choices that differ from, or are not pinned down by, encoding/json:
//
//   - Invalid UTF-8 inside strings is refused. encoding/json.Valid accepts it and Unmarshal
//     silently replaces it with U+FFFD; an index would then hold text the sender never sent.
//   - Lone UTF-16 surrogate escapes ("\ud800") are accepted, as encoding/json accepts them;
//     [Unescape] turns them into U+FFFD exactly as encoding/json does.
//   - Nesting deeper than [MaxDepth] (512) is refused; encoding/json allows 10000.
//   - Duplicate keys: the first occurrence of a wanted field wins (encoding/json's map
//     decoding keeps the last). First-wins lets the scan stop looking once a field is found.
//   - Field paths are dotted, as OpenSearch reads them: a value matches a path when the keys
//     leading to it, joined with '.', equal the path. So "event.id" matches
//     {"event":{"id":…}} and {"event.id":…} alike (and "a.b.c" also {"a":{"b.c":…}}); the
//     first match in document order wins. Keys are compared after unescaping. Values inside
//     arrays never match: an id or timestamp is a single value.
//   - A valid document whose top level is not an object is refused with a [*KindError]; an
//     invalid one with a [*SyntaxError], so "not json" never reads as a JSON null.
package docscan
