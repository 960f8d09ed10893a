package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/weir-ingest/weir/auth/policy"
	"github.com/weir-ingest/weir/config"
	"github.com/weir-ingest/weir/control/query"
)

const policyUsage = `Usage:
  weir policy check   -c FILE [--identity-policy FILE] [--access-policy FILE] [--principal ARN]
                      [--region R --account A --domain D]
      list every request the configured weir makes, allowed or denied, with the deciding
      statement; exit 1 if one weir needs is denied. The identity policy defaults to
      query.weir_policy_file.
  weir policy explain --method M --path P --identity-policy FILE [--access-policy FILE]
                      [--principal ARN] [--region R --account A --domain D] [-c FILE]
      explain one request to the domain; exit 1 if it is denied.
  weir policy minimal -c FILE [--region R --account A --domain D]
      print the least-privilege identity-based policy for the configuration.

The domain in IAM terms (service, region, account, domain) comes from the flags, then the
query section, opensearch.sigv4 and aws.region, and the opensearch.urls host; the account
also from --principal.
`

// runPolicy runs `weir policy SUBCOMMAND`.
func runPolicy(_ context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, policyUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("weir policy "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf commonFlags
	cf.register(fs)
	var f policyFlags
	f.register(fs, sub)
	if sub != "check" && sub != "explain" && sub != "minimal" {
		fmt.Fprintf(stderr, "weir policy: unknown subcommand %q\n\n%s", sub, policyUsage)
		return exitUsage
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "weir policy %s: unexpected argument %q\n", sub, fs.Arg(0))
		return exitUsage
	}
	var cfg config.Config
	haveConfig := cf.file != "" || len(cf.sets) > 0
	if sub != "explain" && !haveConfig {
		fmt.Fprintf(stderr, "weir policy %s: -c FILE is required\n", sub)
		return exitUsage
	}
	if haveConfig {
		var err error
		if cfg, err = cf.load(environ); err != nil {
			fmt.Fprintf(stderr, "weir: invalid configuration:\n%s\n", indent(err.Error()))
			return exitUsage
		}
	} else {
		cfg = config.Default()
	}
	dom, err := f.resolve(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "weir policy %s: %v\n", sub, err)
		return exitUsage
	}
	switch sub {
	case "minimal":
		out, err := minimalPolicy(planRequests(cfg, dom))
		if err != nil {
			fmt.Fprintln(stderr, "weir policy minimal:", err)
			return exitError
		}
		_, _ = stdout.Write(out)
		return exitOK
	case "explain":
		return f.explain(cfg, dom, stdout, stderr)
	}
	return f.check(cfg, dom, stdout, stderr)
}

type policyFlags struct {
	identity, access, principal      string
	service, region, account, domain string
	method, path                     string
}

func (f *policyFlags) register(fs *flag.FlagSet, sub string) {
	if sub != "minimal" {
		fs.StringVar(&f.identity, "identity-policy", "", "identity-based policy document (JSON) on weir's IAM role")
		fs.StringVar(&f.access, "access-policy", "", "the domain's resource-based access policy (JSON); optional")
		fs.StringVar(&f.principal, "principal", "", "weir's role ARN, for the access policy's Principal and principal condition keys")
	}
	fs.StringVar(&f.service, "service", "", "es or aoss")
	fs.StringVar(&f.region, "region", "", "the domain's region")
	fs.StringVar(&f.account, "account", "", "the domain's account")
	fs.StringVar(&f.domain, "domain", "", "the domain name (or Serverless collection id)")
	if sub == "explain" {
		fs.StringVar(&f.method, "method", "GET", "HTTP method")
		fs.StringVar(&f.path, "path", "", "request path, e.g. /logs-2026.11/_search")
	}
}

// domain resolves the domain in IAM terms without calling AWS.
func (f *policyFlags) resolve(cfg config.Config) (query.Domain, error) {
	q := cfg.Query
	for _, o := range []struct {
		dst *string
		v   string
	}{
		{&q.Service, f.service}, {&q.Region, f.region}, {&q.Account, f.account}, {&q.Domain, f.domain},
	} {
		if o.v != "" {
			*o.dst = o.v
		}
	}
	region := cfg.OpenSearch.SigV4.Region
	if region == "" {
		region = cfg.AWS.Region
	}
	service := ""
	if cfg.OpenSearch.SigV4.Enabled {
		service = cfg.OpenSearch.SigV4.Service
	}
	q.ResolveDomain(service, region, cfg.OpenSearch.URLs)
	if q.Account == "" {
		if parts := strings.Split(f.principal, ":"); len(parts) >= 6 && parts[0] == "arn" {
			q.Account = parts[4]
		}
	}
	var missing []string
	for _, m := range []struct{ flag, v string }{{"--region", q.Region}, {"--account", q.Account}, {"--domain", q.Domain}} {
		if m.v == "" {
			missing = append(missing, m.flag)
		}
	}
	if len(missing) > 0 {
		return query.Domain{}, fmt.Errorf("cannot tell the domain's %s: pass %s (or set query.region/account/domain)",
			strings.Join(missing, ", "), strings.Join(missing, " "))
	}
	return query.Domain{Service: q.Service, Region: q.Region, Account: q.Account, Name: q.Domain}, nil
}

// planned is one request the configured weir makes, in IAM terms.
type planned struct {
	Component string // who makes it
	Request   string // "POST /_bulk", or the API call
	Action    string
	Resource  string
	// Required requests make exit 1 when denied; the others are optional features or
	// index-level views of the bulk writes.
	Required bool
	// OpenSearch marks requests to the domain, to which its access policy applies.
	OpenSearch bool
	// Sid is the statement of the minimal policy that grants it; empty for index-level
	// views, which the bulk statement covers.
	Sid  string
	Note string
}

var dateMath = regexp.MustCompile(`%\{[^}]*\}`)

// planRequests lists what weir will ask AWS for with this configuration.
func planRequests(cfg config.Config, dom query.Domain) []planned {
	var out []planned
	es := func(component, method, path string, required bool, sid, note string) {
		call, err := policy.MapOpenSearch(dom.Service, dom.Region, dom.Account, dom.Name, method, path)
		if err != nil {
			return
		}
		out = append(out, planned{Component: component, Request: method + " " + path, Action: call.Action,
			Resource: call.Resource, Required: required, OpenSearch: true, Sid: sid, Note: note})
	}
	es("opensearch health", "GET", "/", true, "OpenSearchHealth", "")
	es("opensearch sink", "POST", "/_bulk", true, "OpenSearchBulk", "")
	// IAM authorizes the bulk request at /_bulk; these show whether index-level statements
	// cover the target indices (what fine-grained access control checks per index).
	for _, ix := range targetIndices(cfg) {
		es("opensearch sink", "POST", "/"+ix+"/_doc", false, "", "index-level view of the bulk writes")
		es("opensearch sink", "PUT", "/"+ix, false, "", "index-level view of auto-creating an index")
	}
	if cfg.Query.Enabled {
		for _, r := range query.ReadRequests() {
			es("query endpoint", r.Method, r.Path, false, "QueryReads"+titleCase(r.Method), "")
		}
	}
	aws := func(component, action, resource string, required bool, sid, note string) {
		out = append(out, planned{Component: component, Request: action, Action: action, Resource: resource,
			Required: required, Sid: sid, Note: note})
	}
	part := partition(dom.Region)
	if cfg.NeedsAWS() {
		aws("start-up log", "sts:GetCallerIdentity", "*", false, "CallerIdentity", "")
	}
	if cfg.Sources.SQS.Enabled {
		q := sqsARN(cfg.Sources.SQS.QueueURL, cfg.AWS.Region, part)
		for _, a := range []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"} {
			aws("sources.sqs", a, q, true, "SQSSource", "")
		}
		aws("sources.sqs", "s3:GetObject", "arn:"+part+":s3:::*/*", false, "SQSSourceObjects",
			"objects named by S3 event notifications; narrow to their buckets")
	}
	if k := cfg.Sources.Kinesis; k.Enabled {
		for _, st := range k.Streams {
			arn := st
			if !strings.HasPrefix(st, "arn:") {
				arn = "arn:" + part + ":kinesis:" + cfg.AWS.Region + ":" + dom.Account + ":stream/" + st
			}
			for _, a := range []string{"kinesis:DescribeStreamSummary", "kinesis:ListShards", "kinesis:GetShardIterator", "kinesis:GetRecords"} {
				aws("sources.kinesis", a, arn, true, "KinesisSource", "")
			}
		}
		table := "arn:" + part + ":dynamodb:" + cfg.AWS.Region + ":" + dom.Account + ":table/" + k.LeaseTable
		for _, a := range []string{"dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Scan"} {
			aws("sources.kinesis leases", a, table, true, "KinesisLeases", "")
		}
		aws("sources.kinesis leases", "dynamodb:CreateTable", table, false, "KinesisLeaseTable", "only when the lease table does not exist yet")
	}
	if u := cfg.DeadLetter.SQSQueueURL; u != "" {
		aws("dead_letter.sqs_queue_url", "sqs:SendMessage", sqsARN(u, cfg.AWS.Region, part), true, "DeadLetterQueue", "")
	}
	if u := cfg.DeadLetter.S3URI; u != "" {
		if b, err := url.Parse(u); err == nil {
			aws("dead_letter.s3_uri", "s3:PutObject", "arn:"+part+":s3:::"+b.Host+"/"+strings.TrimPrefix(b.Path, "/")+"*", true, "DeadLetterObjects", "")
		}
	}
	return out
}

// targetIndices are the index patterns the sink writes to, date math as "*"; "*" when the
// HTTP source lets callers name the index.
func targetIndices(cfg config.Config) []string {
	var out []string
	add := func(t string) {
		if t == "" {
			return
		}
		t = dateMath.ReplaceAllString(t, "*")
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	add(cfg.Pipeline.Index)
	if cfg.Sources.HTTP.Enabled {
		add(cfg.Sources.HTTP.Index)
		add("*")
	}
	if cfg.Sources.SQS.Enabled {
		add(cfg.Sources.SQS.Index)
	}
	if cfg.Sources.Kinesis.Enabled {
		add(cfg.Sources.Kinesis.Index)
	}
	return out
}

func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// sqsARN turns a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME) into its ARN.
func sqsARN(queueURL, region, part string) string {
	u, err := url.Parse(queueURL)
	if err != nil {
		return queueURL
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(segs) != 2 {
		return queueURL
	}
	if labels := strings.Split(u.Hostname(), "."); len(labels) >= 4 && labels[0] == "sqs" {
		region = labels[1]
	}
	return "arn:" + part + ":sqs:" + region + ":" + segs[0] + ":" + segs[1]
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return s[:1] + strings.ToLower(s[1:])
}

// verdict evaluates one planned request.
type verdict struct {
	allowed bool
	explain string
}

func evaluatePlanned(p planned, identity, access *policy.Policy, principal string) verdict {
	req := policy.Request{Principal: principal, Action: p.Action, Resource: p.Resource}
	if p.OpenSearch && access != nil {
		d := policy.EvaluateAccess(identity, access, req)
		return verdict{d.Allowed(), d.Explain()}
	}
	d := identity.Evaluate(req)
	return verdict{d.Allowed(), d.Explain()}
}

func (f *policyFlags) policies(cfg config.Config) (identity, access *policy.Policy, name string, err error) {
	name = f.identity
	switch {
	case f.identity != "":
		identity, err = query.LoadPolicy(f.identity, "")
	case cfg.Query.WeirPolicyFile != "" || cfg.Query.WeirPolicy != "":
		name = cfg.Query.WeirPolicyFile
		if name == "" {
			name = "query.weir_policy"
		}
		identity, err = query.LoadPolicy(cfg.Query.WeirPolicyFile, cfg.Query.WeirPolicy)
	default:
		return nil, nil, "", errors.New("--identity-policy FILE is required (or set query.weir_policy_file)")
	}
	if err != nil {
		return nil, nil, "", fmt.Errorf("identity policy: %w", err)
	}
	if f.access != "" {
		if access, err = query.LoadPolicy(f.access, ""); err != nil {
			return nil, nil, "", fmt.Errorf("access policy: %w", err)
		}
	}
	return identity, access, name, nil
}

func (f *policyFlags) check(cfg config.Config, dom query.Domain, stdout, stderr io.Writer) int {
	identity, access, name, err := f.policies(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "weir policy check:", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "identity-based policy: %s\n", name)
	if f.access != "" {
		fmt.Fprintf(stdout, "access policy: %s\n", f.access)
	}
	if f.principal != "" {
		fmt.Fprintf(stdout, "principal: %s\n", f.principal)
	}
	fmt.Fprintf(stdout, "domain: %s %s in %s, account %s\n\n", dom.Service, dom.Name, dom.Region, dom.Account)
	rows := planRequests(cfg, dom)
	var allowed, denied, deniedRequired int
	for _, p := range rows {
		v := evaluatePlanned(p, identity, access, f.principal)
		decision, need := "ALLOW", "optional"
		if p.Required {
			need = "required"
		}
		if v.allowed {
			allowed++
		} else {
			decision = "DENY"
			denied++
			if p.Required {
				deniedRequired++
			}
		}
		fmt.Fprintf(stdout, "%-5s  %-8s  %s: %s\n", decision, need, p.Component, p.Request)
		fmt.Fprintf(stdout, "       %s on %s\n", p.Action, p.Resource)
		if p.Note != "" {
			fmt.Fprintf(stdout, "       (%s)\n", p.Note)
		}
		fmt.Fprintf(stdout, "       %s\n", v.explain)
	}
	fmt.Fprintf(stdout, "\n%d requests: %d allowed, %d denied (%d that weir needs)\n", len(rows), allowed, denied, deniedRequired)
	if deniedRequired > 0 {
		return exitError
	}
	return exitOK
}

func (f *policyFlags) explain(cfg config.Config, dom query.Domain, stdout, stderr io.Writer) int {
	if f.path == "" {
		fmt.Fprintln(stderr, "weir policy explain: --path is required")
		return exitUsage
	}
	identity, access, name, err := f.policies(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "weir policy explain:", err)
		return exitUsage
	}
	method := strings.ToUpper(f.method)
	call, err := policy.MapOpenSearch(dom.Service, dom.Region, dom.Account, dom.Name, method, f.path)
	if err != nil {
		fmt.Fprintln(stderr, "weir policy explain:", err)
		return exitUsage
	}
	req := policy.Request{Principal: f.principal, Action: call.Action, Resource: call.Resource}
	fmt.Fprintf(stdout, "request:   %s %s\n", method, f.path)
	fmt.Fprintf(stdout, "action:    %s\n", call.Action)
	fmt.Fprintf(stdout, "resource:  %s\n", call.Resource)
	if call.DataPermission != "" {
		fmt.Fprintf(stdout, "data-access permission (Serverless): %s\n", call.DataPermission)
	}
	if f.principal != "" {
		fmt.Fprintf(stdout, "principal: %s\n", f.principal)
	}
	id := identity.Evaluate(req)
	fmt.Fprintf(stdout, "identity-based policy %s: %s: %s\n", name, id.Effect, id.Explain())
	allowed, why := id.Allowed(), id.Explain()
	if access != nil {
		rs := access.EvaluateResource(req)
		fmt.Fprintf(stdout, "resource-based policy %s: %s: %s\n", f.access, rs.Effect, rs.Explain())
		d := policy.EvaluateAccess(identity, access, req)
		allowed, why = d.Allowed(), d.Explain()
	}
	path, rawQuery, _ := strings.Cut(f.path, "?")
	if op, err := query.ParseOp(method, path, rawQuery); err != nil {
		fmt.Fprintf(stdout, "query endpoint: refused whatever the policies say: %v\n", err)
	} else {
		fmt.Fprintf(stdout, "query endpoint: a read it forwards (%s), if the caller's role policy allows it too\n", op.Kind)
	}
	decision := "ALLOW"
	if !allowed {
		decision = "DENY"
	}
	fmt.Fprintf(stdout, "decision:  %s: %s\n", decision, why)
	if !allowed {
		return exitError
	}
	return exitOK
}

// minimalPolicy is the least-privilege identity-based policy for the planned requests:
// one statement per Sid, granting exactly its actions on exactly its resources.
func minimalPolicy(rows []planned) ([]byte, error) {
	type statement struct {
		Sid      string `json:"Sid"`
		Effect   string `json:"Effect"`
		Action   any    `json:"Action"`
		Resource any    `json:"Resource"`
	}
	var order []string
	actions, resources := map[string][]string{}, map[string][]string{}
	for _, p := range rows {
		if p.Sid == "" {
			continue
		}
		if _, ok := actions[p.Sid]; !ok {
			order = append(order, p.Sid)
		}
		if !slices.Contains(actions[p.Sid], p.Action) {
			actions[p.Sid] = append(actions[p.Sid], p.Action)
		}
		if !slices.Contains(resources[p.Sid], p.Resource) {
			resources[p.Sid] = append(resources[p.Sid], p.Resource)
		}
	}
	one := func(v []string) any {
		if len(v) == 1 {
			return v[0]
		}
		return v
	}
	doc := struct {
		Version   string      `json:"Version"`
		Statement []statement `json:"Statement"`
	}{Version: policy.Version2012}
	for _, sid := range order {
		doc.Statement = append(doc.Statement, statement{Sid: sid, Effect: "Allow", Action: one(actions[sid]), Resource: one(resources[sid])})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	// What is printed must be a policy weir itself accepts.
	if _, err := policy.Parse(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("generated policy does not parse: %w", err)
	}
	return buf.Bytes(), nil
}

// startupPolicyCheck evaluates every request weir will make against weir's own policy:
// each denial weir needs is a warning, or with query.policy_check: strict (weir run
// --strict) a refusal to start.
func (d *daemon) startupPolicyCheck(dom query.Domain, principal string) error {
	q := d.cfg.Query
	p, err := query.LoadPolicy(q.WeirPolicyFile, q.WeirPolicy)
	if err != nil {
		return fmt.Errorf("query.weir_policy_file: %w", err)
	}
	rows := planRequests(d.cfg, dom)
	var denied, required int
	for _, r := range rows {
		v := evaluatePlanned(r, p, nil, principal)
		if v.allowed {
			continue
		}
		denied++
		if r.Required {
			required++
			d.log.Warn("weir's IAM policy denies a request weir needs", "component", r.Component, "request", r.Request,
				"action", r.Action, "resource", r.Resource, "why", v.explain)
		}
	}
	d.log.Info("policy check", "policy", q.WeirPolicyFile, "requests", len(rows), "denied", denied, "denied_required", required)
	if required > 0 && q.PolicyCheck == query.PolicyCheckStrict {
		return fmt.Errorf("policy check (strict): weir's IAM policy denies %d request(s) weir needs; `weir policy check` lists them", required)
	}
	return nil
}
