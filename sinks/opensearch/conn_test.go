package opensearch

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingConn records the writes that reach the connection.
type countingConn struct {
	net.Conn
	writes [][]byte
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func TestWholeBodyConnWritesAnInMemoryBodyOnce(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("0123456789abcdef"), 20_000) // 320 KB: ten 32 KiB copies otherwise
	tests := []struct {
		name   string
		reader func() io.Reader
		limit  int64
		writes int // -1: more than one
		want   []byte
	}{
		{"bulk body", func() io.Reader { return &byteBody{bytes.NewReader(body), body} }, int64(len(body)), 1, body},
		{"partly read already (net/http's 4 KiB header buffer took the start)", func() io.Reader {
			r := &byteBody{bytes.NewReader(body), body}
			_, _ = r.Read(make([]byte, 1000))
			return r
		}, int64(len(body) - 1000), 1, body[1000:]},
		{"a limit short of the body is honoured", func() io.Reader { return bytes.NewReader(body) }, 100, -1, body[:100]},
		{"other readers are copied", func() io.Reader { return io.MultiReader(bytes.NewReader(body)) }, int64(len(body)), -1, body},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cc := &countingConn{}
			lr := &io.LimitedReader{R: tt.reader(), N: tt.limit}
			n, err := wholeBodyConn{cc}.ReadFrom(lr)
			require.NoError(t, err)
			assert.EqualValues(t, len(tt.want), n)
			assert.Equal(t, tt.want, bytes.Join(cc.writes, nil))
			if tt.writes > 0 {
				assert.Len(t, cc.writes, tt.writes)
			} else if len(tt.want) > 32<<10 {
				assert.Greater(t, len(cc.writes), 1)
			}
		})
	}
}

// TestDefaultTransportSendsBodiesIntact: through net/http, the one-piece write carries
// every byte, for requests that reuse a connection too.
func TestDefaultTransportSendsBodiesIntact(t *testing.T) {
	t.Parallel()
	got := make(chan [32]byte, 3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- sha256.Sum256(b)
	}))
	defer srv.Close()
	client := &http.Client{Transport: DefaultTransport(DefaultConfig())}
	for i := range 3 {
		body := bytes.Repeat([]byte{byte('a' + i)}, 1<<20+i)
		req, err := http.NewRequest(http.MethodPost, srv.URL, nil)
		require.NoError(t, err)
		req.Body, req.ContentLength = &byteBody{bytes.NewReader(body), body}, int64(len(body))
		res, err := client.Do(req)
		require.NoError(t, err)
		_ = res.Body.Close()
		assert.Equal(t, sha256.Sum256(body), <-got)
	}
}
