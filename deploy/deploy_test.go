// Package deploy holds weir's deployment files (ECS, EC2, IAM); its tests check what can be
// checked without AWS: the policies parse and decide as their documentation says, the
// bundled configurations validate, and the stop deadlines outlast the drain.
package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/auth/policy"
	"github.com/weir-ingest/weir/config"
)

const (
	account = "123456789012"
	domain  = "arn:aws:es:eu-west-1:123456789012:domain/logs"
	role    = "arn:aws:iam::123456789012:role/weir"
	// weir's calls are made by a session of the role (ECS task or instance profile).
	session = "arn:aws:sts::123456789012:assumed-role/weir/a1b2c3d4e5f6"
)

func parseFile(t *testing.T, path string) *policy.Policy {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	p, err := policy.Parse(b)
	require.NoError(t, err, path)
	return p
}

func TestEveryIAMPolicyParses(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("iam/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "aoss-") {
			continue // a Serverless data-access policy, not an IAM document
		}
		parseFile(t, f)
	}
}

func bulk(principal string) policy.Request {
	return policy.Request{Principal: principal, Action: "es:ESHttpPost", Resource: domain + "/_bulk"}
}

func TestIdentityPolicyGrantsWhatWeirDoesAndNoMore(t *testing.T) {
	t.Parallel()
	id := parseFile(t, "iam/weir-identity-policy.json")
	tests := []struct {
		name  string
		req   policy.Request
		allow bool
	}{
		{"bulk write", bulk(session), true},
		{"health check", policy.Request{Principal: session, Action: "es:ESHttpGet", Resource: domain + "/"}, true},
		{"receive from the queue", policy.Request{Principal: session, Action: "sqs:ReceiveMessage", Resource: "arn:aws:sqs:eu-west-1:123456789012:weir-ingest"}, true},
		{"delete from the queue", policy.Request{Principal: session, Action: "sqs:DeleteMessage", Resource: "arn:aws:sqs:eu-west-1:123456789012:weir-ingest"}, true},
		{"dead letters to S3", policy.Request{Principal: session, Action: "s3:PutObject", Resource: "arn:aws:s3:::weir-dead-letters/weir/2026/11/25/10/x.ndjson"}, true},
		{"who am I", policy.Request{Principal: session, Action: "sts:GetCallerIdentity", Resource: "*"}, true},
		{"no deletes on the domain", policy.Request{Principal: session, Action: "es:ESHttpDelete", Resource: domain + "/logs-2026.11.25"}, false},
		{"no searches", policy.Request{Principal: session, Action: "es:ESHttpGet", Resource: domain + "/logs-2026.11.25/_search"}, false},
		{"no other domain", policy.Request{Principal: session, Action: "es:ESHttpPost", Resource: "arn:aws:es:eu-west-1:123456789012:domain/other/_bulk"}, false},
		{"no other queue", policy.Request{Principal: session, Action: "sqs:ReceiveMessage", Resource: "arn:aws:sqs:eu-west-1:123456789012:other"}, false},
		{"no domain configuration", policy.Request{Principal: session, Action: "es:UpdateDomainConfig", Resource: domain}, false},
		{"no S3 writes elsewhere", policy.Request{Principal: session, Action: "s3:PutObject", Resource: "arn:aws:s3:::weir-dead-letters/other/x"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := policy.EvaluateAccess(id, nil, tt.req)
			assert.Equal(t, tt.allow, d.Allowed(), d.Explain())
		})
	}
}

// TestDomainAccessPolicyExamples checks what iam/README.md says of the two examples.
func TestDomainAccessPolicyExamples(t *testing.T) {
	t.Parallel()
	id := parseFile(t, "iam/weir-identity-policy.json")
	namesRole := parseFile(t, "iam/domain-access-policy-names-role.json")
	namesAccount := parseFile(t, "iam/domain-access-policy-names-account.json")

	// Naming the role works alone: no identity-based policy needed.
	d := policy.EvaluateAccess(nil, namesRole, bulk(session))
	assert.True(t, d.Allowed(), d.Explain())
	assert.Contains(t, d.Explain(), "no identity-based allow is needed")
	d = policy.EvaluateAccess(id, namesRole, bulk(session))
	assert.True(t, d.Allowed(), d.Explain())
	// ... and it names only that role.
	d = policy.EvaluateAccess(nil, namesRole, bulk("arn:aws:sts::123456789012:assumed-role/other/x"))
	assert.False(t, d.Allowed(), d.Explain())

	// Naming the account delegates to the account's IAM: alone it grants nothing.
	d = policy.EvaluateAccess(nil, namesAccount, bulk(session))
	assert.False(t, d.Allowed(), d.Explain())
	assert.True(t, d.DelegatedToAccount)
	assert.Contains(t, d.Explain(), "names only the account "+account)
	// With the identity-based policy it is allowed.
	d = policy.EvaluateAccess(id, namesAccount, bulk(session))
	assert.True(t, d.Allowed(), d.Explain())
	// And then the identity policy is what limits weir: a delete is refused.
	d = policy.EvaluateAccess(id, namesAccount, policy.Request{Principal: session, Action: "es:ESHttpDelete", Resource: domain + "/x"})
	assert.False(t, d.Allowed(), d.Explain())
}

func TestAossDataAccessPolicy(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("iam/aoss-data-access-policy.json")
	require.NoError(t, err)
	var doc []struct {
		Description string
		Rules       []struct {
			ResourceType string
			Resource     []string
			Permission   []string
		}
		Principal []string
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&doc))
	require.Len(t, doc, 1)
	assert.Equal(t, []string{role}, doc[0].Principal)
	require.Len(t, doc[0].Rules, 1)
	r := doc[0].Rules[0]
	assert.Equal(t, "index", r.ResourceType)
	assert.Equal(t, []string{"index/logs/*"}, r.Resource)
	for _, p := range []string{"aoss:CreateIndex", "aoss:WriteDocument"} {
		assert.Contains(t, r.Permission, p, "weir's bulk writes need it")
	}
}

// TestIAMTemplateEmbedsTheIdentityPolicy: the template's statements are the JSON's (made
// conditional on its parameters), by Sid and action.
func TestIAMTemplateEmbedsTheIdentityPolicy(t *testing.T) {
	t.Parallel()
	tmpl, err := os.ReadFile("iam/weir-iam.yaml")
	require.NoError(t, err)
	for _, st := range parseFile(t, "iam/weir-identity-policy.json").Statements() {
		assert.Contains(t, string(tmpl), "Sid: "+st.Sid)
		for _, a := range st.Action {
			assert.Contains(t, string(tmpl), a, "statement %s", st.Sid)
		}
	}
}

func loadConfig(t *testing.T, path string) config.Config {
	t.Helper()
	src, err := config.ReadFile(path)
	require.NoError(t, err)
	cfg, err := config.Load(src)
	require.NoError(t, err, path)
	return cfg
}

func number(t *testing.T, path, pattern string) time.Duration {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)` + pattern).FindSubmatch(b)
	require.NotNil(t, m, "%s: no %s", path, pattern)
	n, err := strconv.Atoi(string(m[1]))
	require.NoError(t, err)
	return time.Duration(n) * time.Second
}

// TestStopDeadlinesOutlastTheDrain: the supervisor's SIGKILL comes after weir's own drain
// deadline, with margin, so weir hands back what it could not deliver before it is killed.
func TestStopDeadlinesOutlastTheDrain(t *testing.T) {
	t.Parallel()
	ecs := loadConfig(t, "ecs/weir.yaml")
	assert.Equal(t, 90*time.Second, ecs.Pipeline.DrainTimeout)
	stop := number(t, "ecs/weir-ecs.yaml", `^\s+StopTimeout: (\d+)$`)
	assert.Equal(t, 120*time.Second, stop)
	assert.GreaterOrEqual(t, stop-ecs.Pipeline.DrainTimeout, 20*time.Second)

	ec2 := loadConfig(t, "ec2/weir.yaml")
	stop = number(t, "ec2/weir.service", `^TimeoutStopSec=(\d+)$`)
	assert.GreaterOrEqual(t, stop-ec2.Pipeline.DrainTimeout, 20*time.Second)
	assert.Equal(t, "/var/lib/weir/deadletter.ndjson", ec2.DeadLetter.Path, "inside StateDirectory=weir")
}

func TestBundledConfigsValidate(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"ecs/weir.yaml", "ec2/weir.yaml"} {
		cfg := loadConfig(t, f)
		assert.True(t, cfg.OpenSearch.SigV4.Enabled, "%s signs its requests", f)
		assert.Equal(t, "default", cfg.AWS.Credentials.Provider, "%s uses the role, not keys", f)
	}
}

// TestDockerfileShape checks what hadolint does not: the image is what deploy/README.md
// promises.
func TestDockerfileShape(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("Dockerfile")
	require.NoError(t, err)
	df := string(b)
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	require.Len(t, froms, 2, "multi-stage: builder and runtime")
	assert.True(t, strings.HasPrefix(froms[0][1], "golang:"))
	assert.Equal(t, "gcr.io/distroless/static-debian12:nonroot", froms[1][1])
	assert.Contains(t, df, "CGO_ENABLED=0 go build -trimpath")
	assert.Contains(t, df, `-X main.version=${VERSION}`)
	assert.Regexp(t, `(?m)^USER 65532:65532$`, df)
	assert.Regexp(t, `(?m)^HEALTHCHECK .*CMD \["/weir", "healthcheck"`, df, "exec form: the image has no shell")
	assert.Regexp(t, `(?m)^ENTRYPOINT \["/weir"\]$`, df)
	assert.Contains(t, df, "COPY deploy/ecs/weir.yaml /etc/weir/weir.yaml")
}

// TestECSTaskEnvironmentValidates: the WEIR_* variables the task definition sets are keys
// the image's configuration knows, and make a valid configuration in either SourceMode.
func TestECSTaskEnvironmentValidates(t *testing.T) {
	t.Parallel()
	tmpl, err := os.ReadFile("ecs/weir-ecs.yaml")
	require.NoError(t, err)
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`Name: (WEIR_[A-Z0-9_]+)`).FindAllSubmatch(tmpl, -1) {
		names[string(m[1])] = true
	}
	values := map[string]string{
		"WEIR_OPENSEARCH__URLS":              "https://search-logs-abc123.eu-west-1.es.amazonaws.com",
		"WEIR_OPENSEARCH__SIGV4__SERVICE":    "es",
		"WEIR_AWS__REGION":                   "eu-west-1",
		"WEIR_SOURCES__SQS__QUEUE_URL":       "https://sqs.eu-west-1.amazonaws.com/123456789012/weir-ingest",
		"WEIR_SOURCES__KINESIS__ENABLED":     "true",
		"WEIR_SOURCES__KINESIS__STREAMS":     "orders",
		"WEIR_SOURCES__KINESIS__LEASE_TABLE": "weir-leases",
		"WEIR_DEAD_LETTER__S3_URI":           "s3://weir-dead-letters/weir/",
	}
	for n := range names {
		if n != "WEIR_SOURCES__SQS__ENABLED" {
			require.Contains(t, values, n, "the template sets %s: give it a value here", n)
		}
	}
	src, err := config.ReadFile("ecs/weir.yaml")
	require.NoError(t, err)
	for _, mode := range []string{"sqs", "kinesis"} {
		env := []string{"WEIR_SOURCES__SQS__ENABLED=" + strconv.FormatBool(mode == "sqs")}
		for n, v := range values {
			if strings.Contains(n, "__SQS__") && mode != "sqs" || strings.Contains(n, "__KINESIS__") && mode != "kinesis" {
				continue
			}
			env = append(env, n+"="+v)
		}
		s := src
		s.Environ = env
		cfg, err := config.Load(s)
		require.NoError(t, err, mode)
		assert.Equal(t, mode == "sqs", cfg.Sources.SQS.Enabled)
		assert.Equal(t, mode == "kinesis", cfg.Sources.Kinesis.Enabled)
		assert.Equal(t, "s3://weir-dead-letters/weir/", cfg.DeadLetter.S3URI)
	}
}
