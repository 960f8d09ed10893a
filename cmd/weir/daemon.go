package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/weir-ingest/weir/auth"
	"github.com/weir-ingest/weir/auth/explain"
	"github.com/weir-ingest/weir/config"
	"github.com/weir-ingest/weir/control"
	"github.com/weir-ingest/weir/control/query"
	"github.com/weir-ingest/weir/pipeline"
	"github.com/weir-ingest/weir/sinks/deadletter"
	"github.com/weir-ingest/weir/sinks/opensearch"
	httpsource "github.com/weir-ingest/weir/sources/http"
	kinesissource "github.com/weir-ingest/weir/sources/kinesis"
	sqssource "github.com/weir-ingest/weir/sources/sqs"
)

// daemon is weir's components wired in their start order: dead letters and the sink first,
// the pipeline, the control port, and the sources last. Shutdown walks it backwards so each
// part drains into the next.
type daemon struct {
	cfg  config.Config
	log  *slog.Logger
	reg  *prometheus.Registry
	dlq  *deadletter.Multi
	sink *opensearch.Sink
	pipe *pipeline.Pipeline
	ctrl *control.Server
	http *httpsource.Source
	sqs  *sqssource.Source
	// kinesis reads Kinesis streams; nil unless sources.kinesis.enabled.
	kinesis *kinesissource.Source

	awsID awsIdentity

	// query serves read queries on the control port; nil unless query.enabled.
	query *query.Handler
}

func newDaemon(cfg config.Config, log *slog.Logger) (*daemon, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d := &daemon{cfg: cfg, log: log, reg: reg}
	var err error
	if d.dlq, err = d.deadLetters(); err != nil {
		return nil, fmt.Errorf("dead_letter: %w", err)
	}
	sinkOpts := []opensearch.Option{opensearch.WithDeadLetter(d.dlq), opensearch.WithLogger(log), opensearch.WithRegisterer(reg)}
	// A bulk request refused with 401/403 is explained (one log line per reason) and
	// counted in weir_auth_denied_total{reason}; the service and region come from signing.
	explainer, err := explain.NewExplainer(reg)
	if err != nil {
		return nil, err
	}
	var denied explain.Context
	if cfg.OpenSearch.SigV4.Enabled {
		creds, _, err := d.aws(context.Background())
		if err != nil {
			return nil, err
		}
		sc := cfg.OpenSearch.SigV4.SigningConfig
		if sc.Region == "" {
			sc.Region = cfg.AWS.Region
		}
		denied.Service, denied.Region = sc.Service, sc.Region
		sinkOpts = append(sinkOpts, opensearch.WithTransport(auth.NewTransport(opensearch.DefaultTransport(cfg.OpenSearch.Config), creds, sc)))
	}
	sinkOpts = append(sinkOpts, opensearch.WithExplainer(explainer, denied))
	if d.sink, err = opensearch.New(cfg.OpenSearch.Config, sinkOpts...); err != nil {
		return nil, fmt.Errorf("opensearch: %w", err)
	}
	if d.pipe, err = pipeline.New(cfg.Pipeline, d.sink, d.dlq,
		pipeline.WithLogger(log), pipeline.WithRegisterer(reg)); err != nil {
		return nil, err
	}
	d.ctrl = control.New(cfg.Control, reg, log)
	d.ctrl.AddCheck("opensearch", d.sink.Ping)
	if err := d.wireQuery(context.Background()); err != nil {
		return nil, err
	}
	d.ctrl.AddCheck("opensearch_circuit", d.sink.Breaker().Check)
	// While the circuit is open, sources hold off instead of filling the queue with
	// documents that cannot move: the HTTP source answers 503 with Retry-After, queue
	// sources stop pulling. Half-open keeps the pause until the probe has succeeded.
	d.sink.Breaker().OnStateChange(func(_, to string) {
		switch to {
		case opensearch.BreakerOpen:
			d.pipe.Pause("opensearch circuit open")
		case opensearch.BreakerClosed:
			d.pipe.Resume()
		}
	})
	if cfg.Sources.HTTP.Enabled {
		if d.http, err = httpsource.New(cfg.Sources.HTTP.Config, d.pipe,
			httpsource.WithLogger(log), httpsource.WithRegisterer(reg)); err != nil {
			return nil, fmt.Errorf("sources.http: %w", err)
		}
	}
	if cfg.Sources.SQS.Enabled {
		_, awsCfg, err := d.aws(context.Background())
		if err != nil {
			return nil, err
		}
		if d.sqs, err = sqssource.New(cfg.Sources.SQS.Config, d.pipe, d.dlq, awsCfg,
			sqssource.WithLogger(log), sqssource.WithRegisterer(reg)); err != nil {
			return nil, fmt.Errorf("sources.sqs: %w", err)
		}
	}
	if cfg.Sources.Kinesis.Enabled {
		_, awsCfg, err := d.aws(context.Background())
		if err != nil {
			return nil, err
		}
		if d.kinesis, err = kinesissource.New(cfg.Sources.Kinesis.Config, d.pipe, awsCfg,
			kinesissource.WithLogger(log), kinesissource.WithRegisterer(reg)); err != nil {
			return nil, fmt.Errorf("sources.kinesis: %w", err)
		}
	}
	return d, nil
}

func (d *daemon) start(ctx context.Context) error {
	steps := []struct {
		name  string
		start func(context.Context) error
	}{
		{"dead_letter", d.dlq.Start},
		{"opensearch", d.sink.Start},
		{"pipeline", d.pipe.Start},
		{"query", d.startQuery},
		{"control", d.ctrl.Start},
	}
	if d.http != nil {
		steps = append(steps, struct {
			name  string
			start func(context.Context) error
		}{"sources.http", d.http.Start})
	}
	if d.sqs != nil {
		steps = append(steps, struct {
			name  string
			start func(context.Context) error
		}{"sources.sqs", d.sqs.Start})
	}
	if d.kinesis != nil {
		steps = append(steps, struct {
			name  string
			start func(context.Context) error
		}{"sources.kinesis", d.kinesis.Start})
	}
	if d.cfg.NeedsAWS() {
		d.logIdentity(ctx)
	}
	for _, s := range steps {
		if err := s.start(ctx); err != nil {
			return fmt.Errorf("start %s: %w", s.name, err)
		}
	}
	return nil
}

// shutdown stops the sources, drains the pipeline and the sink until deadline, and reports
// how many documents stayed undelivered (they remain unacknowledged at their source).
func (d *daemon) shutdown(ctx context.Context) (undelivered int64, err error) {
	var errs []error
	if d.http != nil {
		if err := d.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sources.http: %w", err))
		}
	}
	if d.sqs != nil {
		if err := d.sqs.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sources.sqs: %w", err))
		}
	}
	if d.kinesis != nil {
		if err := d.kinesis.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sources.kinesis: %w", err))
		}
	}
	if err := d.pipe.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := d.sink.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("opensearch: %w", err))
	}
	if err := d.dlq.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("dead_letter: %w", err))
	}
	// The control port goes last so /metrics shows the drain; it gets its own short grace.
	cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = d.ctrl.Shutdown(cctx)
	if d.query != nil {
		_ = d.query.Shutdown(cctx)
	}
	return d.pipe.Undelivered(), errors.Join(errs...)
}

func runDaemon(ctx context.Context, cfg config.Config, log *slog.Logger) int {
	log.Info("weir starting", "version", version)
	d, err := newDaemon(cfg, log)
	if err != nil {
		log.Error("cannot build weir", "err", err)
		return exitError
	}
	if err := d.start(ctx); err != nil {
		log.Error("cannot start weir", "err", err)
		sctx, cancel := context.WithTimeout(context.Background(), cfg.Pipeline.DrainTimeout)
		defer cancel()
		_, _ = d.shutdown(sctx)
		return exitError
	}
	log.Info("weir running")
	<-ctx.Done()
	log.Info("weir stopping: draining", "deadline", cfg.Pipeline.DrainTimeout.String())
	start := time.Now()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Pipeline.DrainTimeout)
	defer cancel()
	// A second signal means "now": the drain ends and what is left stays at its source.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
			log.Warn("second signal: ending the drain now")
			cancel()
		case <-sctx.Done():
		}
	}()
	undelivered, err := d.shutdown(sctx)
	if err != nil {
		log.Warn("shutdown did not finish cleanly", "err", err)
	}
	if undelivered > 0 {
		log.Error("weir stopped with undelivered documents; they stay unacknowledged at their source",
			"undelivered", undelivered, "took", time.Since(start).Round(time.Millisecond).String())
		return exitUndelivered
	}
	log.Info("weir stopped; every accepted document was delivered", "took", time.Since(start).Round(time.Millisecond).String())
	return exitOK
}
