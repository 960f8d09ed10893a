// Package query serves read queries against the OpenSearch domain on weir's control port.
// Callers authenticate with an OIDC token or an API key and are mapped to a role; each
// request must be one of a fixed set of reads (the structural filter), must be allowed by
// the role's identity-based policy and by weir's own, and is then forwarded signed with
// weir's identity. So the endpoint can never do more than weir's IAM role may, and callers
// can be held to less.
package query

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-ingest/weir/auth/policy"
)

// Patterns are the control-mux patterns the handler serves.
var Patterns = []string{"/v1/query/", "/api/console/proxy"}

const (
	prefix       = "/v1/query"
	consolePath  = "/api/console/proxy"
	xsrfHeader   = "osd-xsrf"
	reasonXSRF   = "xsrf"
	reasonOK     = "ok"
	reasonTooBig = "too_large"
)

// Decisions, the decision label of weir_query_requests_total.
const (
	decisionAllow           = "allow"
	decisionDeny            = "deny"
	decisionUnauthenticated = "unauthenticated"
	decisionError           = "error"
	decisionOff             = "off"
)

// Option adjusts New.
type Option func(*Handler)

// WithLogger sets the logger; each query is one audit line.
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.log = l } }

// WithRegisterer registers the handler's metrics.
func WithRegisterer(r prometheus.Registerer) Option { return func(h *Handler) { h.reg = r } }

// WithTransport sets how requests reach OpenSearch (the SigV4-signing transport when
// opensearch.sigv4.enabled); default: http.DefaultTransport.
func WithTransport(rt http.RoundTripper) Option { return func(h *Handler) { h.transport = rt } }

// WithBasicAuth sends weir's OpenSearch basic-auth credentials.
func WithBasicAuth(user, password string) Option {
	return func(h *Handler) { h.basicUser, h.basicPass = user, password }
}

// WithPrincipal is weir's own ARN, for principal condition keys in weir's policy.
func WithPrincipal(arn string) Option { return func(h *Handler) { h.authz.principal = arn } }

// WithClock replaces time.Now (token expiry, condition keys).
func WithClock(now func() time.Time) Option { return func(h *Handler) { h.now = now } }

// WithOIDCClient sets the client for OIDC discovery and JWKS fetches.
func WithOIDCClient(c *http.Client) Option { return func(h *Handler) { h.oidcClient = c } }

// Handler serves the query routes.
type Handler struct {
	cfg        Config
	urls       []*url.URL
	next       atomic.Uint64
	client     *http.Client
	transport  http.RoundTripper
	basicUser  string
	basicPass  string
	authn      *authenticator
	authz      authorizer
	log        *slog.Logger
	reg        prometheus.Registerer
	now        func() time.Time
	oidcClient *http.Client
	m          *metrics
}

// New builds the handler for cfg, which must be enabled and validated with its Service,
// Region, Account and Domain resolved. urls are the OpenSearch nodes. Policy files are
// read here.
func New(cfg Config, urls []string, opts ...Option) (*Handler, error) {
	if !cfg.Enabled {
		return nil, errors.New("query: the endpoint is not enabled")
	}
	h := &Handler{cfg: cfg, log: slog.Default(), now: time.Now}
	for _, o := range opts {
		o(h)
	}
	if cfg.Region == "" || cfg.Account == "" || cfg.Domain == "" {
		return nil, errors.New("query: region, account and domain are required to name the domain in IAM terms (query.region, query.account, query.domain)")
	}
	h.authz.domain = Domain{Service: cfg.Service, Region: cfg.Region, Account: cfg.Account, Name: cfg.Domain}
	if len(urls) == 0 {
		return nil, errors.New("query: no OpenSearch URL")
	}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("query: opensearch url %q: %w", raw, err)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		u.RawPath = ""
		h.urls = append(h.urls, u)
	}
	var err error
	if h.authz.weir, err = LoadPolicy(cfg.WeirPolicyFile, cfg.WeirPolicy); err != nil {
		return nil, fmt.Errorf("query.weir_policy_file: %w", err)
	}
	h.authz.roles = map[string]*policy.Policy{}
	for name, r := range cfg.Roles {
		if h.authz.roles[name], err = LoadPolicy(r.PolicyFile, r.Policy); err != nil {
			return nil, fmt.Errorf("query.roles.%s: %w", name, err)
		}
	}
	if h.oidcClient == nil {
		h.oidcClient = &http.Client{Timeout: 10 * time.Second}
	}
	if h.authn, err = newAuthenticator(cfg, h.oidcClient, h.now); err != nil {
		return nil, fmt.Errorf("query.%w", err)
	}
	if h.transport == nil {
		h.transport = http.DefaultTransport
	}
	h.client = &http.Client{
		Transport: h.transport,
		// A redirect would be followed unsigned and unchecked; pass it back instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if h.m, err = newMetrics(h.reg); err != nil {
		return nil, err
	}
	return h, nil
}

// Start discovers the OIDC issuer, so a wrong issuer shows at start-up; a failure is
// logged and retried on use, since the issuer may come up later than weir.
func (h *Handler) Start(ctx context.Context) error {
	if h.authn.oidc != nil {
		if err := h.authn.oidc.Discover(ctx); err != nil {
			h.log.Warn("query: OIDC issuer not reachable yet; tokens are refused until it is", "err", err)
		}
	}
	h.log.Info("query endpoint enabled", "domain", h.authz.domain.Name, "service", h.authz.domain.Service,
		"roles", len(h.authz.roles), "api_keys", len(h.authn.keys), "oidc", h.cfg.OIDC.Issuer != "")
	return nil
}

// Shutdown closes idle connections to the nodes; queries still running end with the
// control server's own shutdown or their timeout. Safe twice and without Start.
func (h *Handler) Shutdown(context.Context) error {
	h.client.CloseIdleConnections()
	return nil
}

// audit is one query's record: one log line, one count.
type audit struct {
	start    time.Time
	remote   string
	caller   Caller
	method   string
	path     string
	action   string
	resource string
	decision string
	reason   string
	status   int
	msg      string
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := &audit{start: h.now(), remote: remoteIP(r)}
	defer h.record(a)

	method, escPath, rawQuery, ok := h.form(w, r, a)
	if !ok {
		return
	}
	a.method, a.path = method, escPath

	caller, aerr := h.authn.authenticate(r)
	if aerr != nil {
		a.decision, a.reason, a.msg = decisionUnauthenticated, aerr.Reason, aerr.Message
		desc := strings.NewReplacer(`"`, "'", "\n", " ").Replace(aerr.Message)
		w.Header().Set("WWW-Authenticate", `Bearer realm="weir"`)
		if aerr.Reason == reasonInvalidToken {
			w.Header().Set("WWW-Authenticate", `Bearer realm="weir", error="invalid_token", error_description="`+desc+`"`)
		}
		a.status = http.StatusUnauthorized
		writeJSON(w, a.status, map[string]any{"error": "unauthorized", "reason": aerr.Reason, "message": aerr.Message})
		return
	}
	a.caller = caller

	op, err := ParseOp(method, escPath, rawQuery)
	if err != nil {
		h.refuse(w, a, err)
		return
	}
	a.path = op.Path()

	body, ok := h.readBody(w, r, a, op)
	if !ok {
		return
	}
	extra, err := op.CheckBody(r.Header.Get("Content-Type"), body)
	if err != nil {
		h.refuse(w, a, err)
		return
	}

	if caller.Role == "" {
		a.decision, a.reason, a.status = decisionDeny, ReasonNoRole, http.StatusForbidden
		a.msg = fmt.Sprintf("claim %q gives the key %q, which role_mapping.table does not map, and fallback_role is empty", h.cfg.RoleMapping.Claim, caller.Key)
		writeJSON(w, a.status, map[string]any{"error": "forbidden", "reason": ReasonNoRole, "message": a.msg})
		return
	}
	v, err := h.authz.authorize(caller.Role, op.Method, op.AuthzPaths(extra), requestKeys(a.remote, r.TLS != nil, h.now()))
	if err != nil {
		a.decision, a.reason, a.status, a.msg = decisionError, "unmappable", http.StatusInternalServerError, err.Error()
		writeJSON(w, a.status, map[string]any{"error": "internal", "message": err.Error()})
		return
	}
	a.action, a.resource = v.Action, v.Resource
	if !v.Allowed {
		a.decision, a.reason, a.status = decisionDeny, v.Reason, http.StatusForbidden
		exp := v.explanation(caller.Role)
		a.msg = exp["message"].(string)
		writeJSON(w, a.status, exp)
		return
	}
	a.decision = decisionAllow
	h.forward(r.Context(), w, a, op, body, r.Header.Get("Accept"))
}

// form reads the request in either form: /v1/query/... or the Dashboards console proxy
// (POST /api/console/proxy?path=...&method=...), which needs the osd-xsrf header like
// Dashboards itself, so that a page elsewhere cannot make a browser send it.
func (h *Handler) form(w http.ResponseWriter, r *http.Request, a *audit) (method, escPath, rawQuery string, ok bool) {
	if r.URL.Path != consolePath {
		p := strings.TrimPrefix(r.URL.EscapedPath(), prefix)
		return r.Method, p, r.URL.RawQuery, true
	}
	q := r.URL.Query()
	method, target := strings.ToUpper(q.Get("method")), q.Get("path")
	a.method, a.path = method, target
	switch {
	case r.Method != http.MethodPost:
		a.decision, a.reason, a.status = decisionDeny, ReasonNotARead, http.StatusMethodNotAllowed
		w.Header().Set("Allow", "POST")
		writeJSON(w, a.status, map[string]any{"error": "method_not_allowed", "message": "the console proxy takes POST ?path=...&method=GET|POST"})
		return "", "", "", false
	case r.Header.Get(xsrfHeader) == "":
		a.decision, a.reason, a.status = decisionDeny, reasonXSRF, http.StatusBadRequest
		writeJSON(w, a.status, map[string]any{"error": "bad_request", "reason": reasonXSRF, "message": "Request must contain a osd-xsrf header."})
		return "", "", "", false
	case target == "" || method == "":
		a.decision, a.reason, a.status = decisionDeny, ReasonNotARead, http.StatusBadRequest
		writeJSON(w, a.status, map[string]any{"error": "bad_request", "message": "the console proxy needs ?path=...&method=..."})
		return "", "", "", false
	}
	escPath, rawQuery, _ = strings.Cut(target, "?")
	if !strings.HasPrefix(escPath, "/") {
		escPath = "/" + escPath
	}
	return method, escPath, rawQuery, true
}

func (h *Handler) refuse(w http.ResponseWriter, a *audit, err error) {
	var rf *Refusal
	if !errors.As(err, &rf) {
		rf = &Refusal{Reason: ReasonMalformedBody, Message: err.Error()}
	}
	a.decision, a.reason, a.status, a.msg = decisionDeny, rf.Reason, http.StatusForbidden, rf.Message
	if rf.Reason == ReasonMalformedBody || rf.Reason == ReasonContentType {
		a.status = http.StatusBadRequest
	}
	writeJSON(w, a.status, map[string]any{"error": "forbidden", "reason": rf.Reason, "message": rf.Message})
}

// readBody reads a bounded body for the reads that take one.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, a *audit, op Op) ([]byte, bool) {
	if r.Body == nil || op.Method != http.MethodPost && op.Kind != OpSearch && op.Kind != OpCount && op.Kind != OpMultiSearch {
		return nil, true
	}
	limit := int64(h.cfg.MaxBodyBytes)
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		a.decision, a.reason, a.status, a.msg = decisionError, "bad_request", http.StatusBadRequest, err.Error()
		writeJSON(w, a.status, map[string]any{"error": "bad_request", "message": "reading the body: " + err.Error()})
		return nil, false
	}
	if int64(len(body)) > limit {
		a.decision, a.reason, a.status = decisionError, reasonTooBig, http.StatusRequestEntityTooLarge
		a.msg = fmt.Sprintf("the body is larger than query.max_body_bytes (%s)", h.cfg.MaxBodyBytes)
		writeJSON(w, a.status, map[string]any{"error": "too_large", "message": a.msg})
		return nil, false
	}
	return body, true
}

// forward sends the read to one of the nodes and streams the answer back with its status
// and content type.
func (h *Handler) forward(ctx context.Context, w http.ResponseWriter, a *audit, op Op, body []byte, accept string) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	base := h.urls[int(h.next.Add(1)-1)%len(h.urls)]
	escPath := base.EscapedPath() + op.Path()
	decoded, _ := url.PathUnescape(escPath)
	u := *base
	u.Path, u.RawPath, u.RawQuery = decoded, escPath, op.Query.Encode()
	var rd io.Reader
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, op.Method, u.String(), rd)
	if err != nil {
		a.reason, a.status, a.msg = "bad_request", http.StatusBadRequest, err.Error()
		writeJSON(w, a.status, map[string]any{"error": "bad_request", "message": err.Error()})
		return
	}
	if len(body) > 0 {
		ct := "application/json"
		if op.Kind == OpMultiSearch {
			ct = "application/x-ndjson"
		}
		req.Header.Set("Content-Type", ct)
	}
	// The caller's Accept picks the format of _cat answers; nothing else of its headers
	// (credentials least of all) goes on.
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if h.basicUser != "" {
		req.SetBasicAuth(h.basicUser, h.basicPass)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		a.reason, a.status = "upstream_unreachable", http.StatusBadGateway
		if ctx.Err() != nil {
			a.reason, a.status = "timeout", http.StatusGatewayTimeout
		}
		a.msg = err.Error()
		writeJSON(w, a.status, map[string]any{"error": a.reason, "message": "OpenSearch: " + err.Error()})
		return
	}
	defer resp.Body.Close()
	a.status = resp.StatusCode
	switch {
	case resp.StatusCode >= 500:
		a.reason = "upstream_5xx"
	case resp.StatusCode >= 400:
		a.reason = "upstream_4xx"
	default:
		a.reason = reasonOK
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(w, resp.Body); err != nil {
		a.msg = "streaming the answer: " + err.Error()
	}
}

func (h *Handler) record(a *audit) {
	took := h.now().Sub(a.start)
	h.m.requests.WithLabelValues(a.decision, a.reason).Inc()
	h.m.duration.WithLabelValues(a.decision).Observe(took.Seconds())
	attrs := []any{
		"subject", a.caller.Subject, "via", a.caller.Via, "role", a.caller.Role,
		"method", a.method, "path", a.path, "action", a.action, "resource", a.resource,
		"decision", a.decision, "reason", a.reason, "status", a.status,
		"latency_ms", took.Milliseconds(), "remote", a.remote,
	}
	if a.msg != "" {
		attrs = append(attrs, "detail", a.msg)
	}
	h.log.Info("query", attrs...)
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Off answers the query routes when the endpoint is not enabled: 404, with how to turn it
// on, so that nothing is readable by default.
func Off(reg prometheus.Registerer) http.Handler {
	m, _ := newMetrics(reg)
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if m != nil {
			m.requests.WithLabelValues(decisionOff, "disabled").Inc()
		}
		writeJSON(w, http.StatusNotFound, map[string]any{
			"error":   "not_found",
			"reason":  "disabled",
			"message": "the query endpoint is off: set query.enabled, query.weir_policy_file, roles and credentials (see README, Control endpoint: read queries)",
		})
	})
}
