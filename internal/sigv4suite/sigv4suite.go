// Package sigv4suite loads AWS's SigV4 test suite (shared/sigv4-suite/v4)
// for the signer's and the verifier's tests.
package sigv4suite

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Case is one folder of the suite.
type Case struct {
	Name                   string
	Context                Context
	Request                []byte // request.txt
	CanonicalRequest       string // header-canonical-request.txt
	StringToSign           string // header-string-to-sign.txt
	Signature              string // header-signature.txt
	SignedRequest          []byte // header-signed-request.txt
	ExpectedAuthorization  string // the Authorization line of SignedRequest
	ExpectedCanonicalPath  string // second line of CanonicalRequest
	ExpectedSignedHeaders  string // last-but-one line of CanonicalRequest
	ExpectedPayloadHashHex string // last line of CanonicalRequest
}

// Context is context.json.
type Context struct {
	Credentials struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
		Token           string `json:"token"`
	} `json:"credentials"`
	Region           string    `json:"region"`
	Service          string    `json:"service"`
	Timestamp        time.Time `json:"timestamp"`
	Normalize        bool      `json:"normalize"`
	SignBody         bool      `json:"sign_body"`
	OmitSessionToken bool      `json:"omit_session_token"`
}

// Load reads every case under dir, sorted by name.
func Load(dir string) ([]Case, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var cases []Case
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c, err := loadCase(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		cases = append(cases, c)
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].Name < cases[j].Name })
	return cases, nil
}

func loadCase(dir string) (Case, error) {
	c := Case{Name: filepath.Base(dir)}
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) }
	raw, err := read("context.json")
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(raw, &c.Context); err != nil {
		return c, fmt.Errorf("context.json: %w", err)
	}
	if c.Request, err = read("request.txt"); err != nil {
		return c, err
	}
	if c.SignedRequest, err = read("header-signed-request.txt"); err != nil {
		return c, err
	}
	for name, dst := range map[string]*string{
		"header-canonical-request.txt": &c.CanonicalRequest,
		"header-string-to-sign.txt":    &c.StringToSign,
		"header-signature.txt":         &c.Signature,
	} {
		b, err := read(name)
		if err != nil {
			return c, err
		}
		*dst = string(b)
	}
	for _, line := range strings.Split(string(c.SignedRequest), "\n") {
		if v, ok := strings.CutPrefix(line, "Authorization:"); ok {
			c.ExpectedAuthorization = v
		}
	}
	lines := strings.Split(c.CanonicalRequest, "\n")
	if len(lines) < 4 {
		return c, errors.New("canonical request too short")
	}
	c.ExpectedCanonicalPath = lines[1]
	c.ExpectedSignedHeaders = lines[len(lines)-2]
	c.ExpectedPayloadHashHex = lines[len(lines)-1]
	return c, nil
}

// ParseRequest turns a raw request from the suite into an *http.Request as a
// Go client would hold it (Host in Host, Content-Length in ContentLength),
// with RequestURI set to the request line's target as a server would see it.
//
// The suite's request lines are not always valid on the wire ("/example
// space/", raw UTF-8): the suite treats them as the path as sent, which a Go
// URL can only carry in Opaque, the form the SDK signer documents for paths
// it must not re-escape.
func ParseRequest(raw []byte) (*http.Request, []byte, error) {
	head, body, _ := bytes.Cut(raw, []byte("\n\n"))
	lines := strings.Split(string(head), "\n")
	reqLine := lines[0]
	sp1, sp2 := strings.IndexByte(reqLine, ' '), strings.LastIndexByte(reqLine, ' ')
	if sp1 < 0 || sp2 <= sp1 {
		return nil, nil, fmt.Errorf("bad request line %q", reqLine)
	}
	method, target := reqLine[:sp1], reqLine[sp1+1:sp2]

	header := http.Header{}
	var lastKey string
	for _, line := range lines[1:] {
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			// obs-fold: a continuation joins its header's value with one space.
			vs := header[lastKey]
			if len(vs) == 0 {
				return nil, nil, fmt.Errorf("continuation line without a header: %q", line)
			}
			vs[len(vs)-1] += " " + strings.TrimSpace(line)
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, nil, fmt.Errorf("bad header line %q", line)
		}
		lastKey = http.CanonicalHeaderKey(k)
		header[lastKey] = append(header[lastKey], v)
	}
	host := strings.TrimSpace(header.Get("Host"))
	header.Del("Host")

	path, query, _ := strings.Cut(target, "?")
	u := &url.URL{Scheme: "https", Host: host, RawQuery: query}
	if dec, err := url.PathUnescape(path); err == nil {
		u.Path, u.RawPath = dec, path
	}
	if u.EscapedPath() != path {
		u.Path, u.RawPath, u.Opaque = "", "", "//"+host+path
	}

	req := &http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     header,
		Host:       host,
		RequestURI: target,
		Body:       http.NoBody,
	}
	if len(body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
	}
	return req, body, nil
}
