// Command nullbulk serves the null _bulk receiver (bench/nullbulk) as a process of its own,
// so that a benchmark can measure the CPU and memory of what sends to it separately. It
// prints its URL on the first line of stdout and answers its counters at /_nullbulk/stats.
//
//	nullbulk [-listen 127.0.0.1:0] [-compact]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/weir-ingest/weir/bench/nullbulk"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	compact := flag.Bool("compact", false, `answer {"index":{"status":201}} per item instead of a node's full item`)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nullbulk:", err)
		os.Exit(1)
	}
	var opts []nullbulk.Option
	if *compact {
		opts = append(opts, nullbulk.WithCompact())
	}
	srv := &http.Server{Handler: nullbulk.New(opts...).WithStats(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("http://%s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "nullbulk:", err)
		os.Exit(1)
	}
}
