package auth

import (
	"net/url"
	"strings"

	"github.com/aws/smithy-go/encoding/httpbinding"
)

// How paths are signed, and why weir leaves the SDK's default alone.
//
// For every service but S3, SigV4's canonical URI is the path as sent on the
// wire, already percent-encoded, percent-encoded once more: an index called
// "my index" travels as /my%20index and is signed as /my%2520index. The
// SDK's v4 signer does exactly that unless SignerOptions.DisableURIPathEscaping
// is set, which only S3 does. Amazon OpenSearch Service ("es") and
// OpenSearch Serverless ("aoss") verify like other non-S3 services, and
// opensearch-go's own SigV4 signer (signer/awsv2) also uses the SDK signer
// with default options; so weir keeps the default.
//
// What must hold is that the signer escapes the same path the client sends.
// Both read URL.EscapedPath() (or URL.Opaque), so that holds for any URL;
// but Go's own escaping leaves '+', ':', '@', '=', '&' and '$' raw, and
// OpenSearch decodes some of those its own way. Build paths from segments
// escaped with EscapePathSegment so the wire path is unambiguous. AWS also
// removes "." and ".." segments and repeated slashes before verifying, which
// is why EscapePathSegment encodes the dots of such a segment.

// EscapePathSegment percent-encodes s for use as one path segment, such as an
// index name or a document ID in "/{index}/_doc/{id}": every byte but the
// unreserved A-Z a-z 0-9 - . _ ~ is encoded, so '/', '+', '%', '#', '?',
// spaces and UTF-8 reach OpenSearch as they were.
func EscapePathSegment(s string) string {
	switch s {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return httpbinding.EscapePath(s, true)
}

// CanonicalPath returns the canonical URI weir's signer computes for u: the
// wire path escaped once more. The 403 explainer shows it next to the one
// AWS reports.
func CanonicalPath(u *url.URL) string {
	return httpbinding.EscapePath(wirePath(u), false)
}

// wirePath mirrors the SDK signer's choice of path: URL.Opaque when set (in
// the "//host/path" form), else URL.EscapedPath().
func wirePath(u *url.URL) string {
	var p string
	if u.Opaque != "" {
		opaque, _, _ := strings.Cut(u.Opaque, "?")
		opaque = strings.TrimPrefix(opaque, "//")
		if i := strings.IndexByte(opaque, '/'); i >= 0 {
			p = opaque[i:]
		}
	} else {
		p = u.EscapedPath()
	}
	if p == "" {
		return "/"
	}
	return p
}
