package cli

import (
	"context"
	"os"

	"github.com/tidegate/tidegate/internal/version"
	"github.com/tidegate/tidegate/metrics"
	"github.com/tidegate/tidegate/notify"
)

// ReportFlags send a run's outcome somewhere a person or an alert will see
// it. They are global because every command reports the same Summary.
type ReportFlags struct {
	Notify      []notify.Target `help:"Post the run's summary to a webhook when it is done: slack=URL, discord=URL, teams=URL (Workflows), json=URL, or a bare https URL (JSON). Repeatable. URLs are never logged." env:"TIDEGATE_NOTIFY" sep:"," placeholder:"KIND=URL"`
	NotifyOn    string          `help:"When to notify: always, change (something changed or failed) or failure." enum:"always,change,failure" default:"change" env:"TIDEGATE_NOTIFY_ON"`
	MetricsFile string          `help:"Write the run's metrics (Prometheus text format) to FILE, replaced atomically, for node_exporter's textfile collector. Name it *.prom." env:"TIDEGATE_METRICS_FILE" placeholder:"FILE"`
	Pushgateway string          `help:"Push the run's metrics to this Prometheus Pushgateway (http://host:9091), grouped by command and inventory. user:password@ in the URL is sent as basic auth." env:"TIDEGATE_PUSHGATEWAY" placeholder:"URL"`
}

// Sink is a place a run's outcome goes once the run is done: webhooks,
// metrics, the GitHub Action's outputs. It sees the summary after the
// run's decrypted values were masked in it. An error is logged, never
// returned by the run: a Slack outage must not turn a good reconcile into
// a failed CronJob, and the exit code still tells the truth about the run.
type Sink interface {
	Publish(ctx context.Context, s Summary) error
}

// SinkFunc is a function used as a Sink.
type SinkFunc func(ctx context.Context, s Summary) error

// Publish calls f.
func (f SinkFunc) Publish(ctx context.Context, s Summary) error { return f(ctx, s) }

// startSink is a Sink that also records that a run has begun (Outcome
// empty, only Command, Inventory and Start set), so that a run killed
// before its end (out of memory, SIGKILL) leaves a trace: the metrics
// read "running" and failed until the end overwrites them.
type startSink interface {
	Sink
	Started(ctx context.Context, s Summary) error
}

// ReportSinks are the sinks the report flags ask for: webhooks, the
// metrics file and the Pushgateway, in that order. main puts them in
// Globals.Sinks.
func (g *Globals) ReportSinks() []Sink {
	var sinks []Sink
	if len(g.Notify) > 0 {
		sinks = append(sinks, &notifySink{targets: g.Notify, on: g.NotifyOn, cluster: g.Context})
	}
	if g.MetricsFile != "" {
		sinks = append(sinks, metricsFile{path: g.MetricsFile})
	}
	if g.Pushgateway != "" {
		sinks = append(sinks, pushgateway{url: g.Pushgateway})
	}
	return sinks
}

// publish hands s to every sink, logging their failures (see Sink).
func (g *Globals) publish(s Summary) {
	// The run's context may already be cancelled (SIGTERM); a failure
	// report matters most then. Each sink bounds itself (10 s).
	ctx := context.Background()
	for _, sink := range g.Sinks {
		if err := sink.Publish(ctx, s); err != nil {
			g.Logger().Warn(failureMessage(sink), "error", err)
		}
	}
}

// publishStart tells the sinks that want to know that a run has started.
func (g *Globals) publishStart(s Summary) {
	ctx := context.Background()
	for _, sink := range g.Sinks {
		if ss, ok := sink.(startSink); ok {
			if err := ss.Started(ctx, s); err != nil {
				g.Logger().Warn(failureMessage(sink), "error", err)
			}
		}
	}
}

// failureMessage is the log message of a sink's failure.
func failureMessage(s Sink) string {
	switch s.(type) {
	case *notifySink:
		return "notification failed"
	case metricsFile:
		return "could not write the metrics file"
	case pushgateway:
		return "could not push metrics"
	}
	return "could not publish the run's summary"
}

// notifySink posts summaries to webhooks, filtered by --notify-on.
type notifySink struct {
	targets []notify.Target
	// on is --notify-on: always, change or failure.
	on string
	// cluster is the kubeconfig context, to tell clusters apart in a
	// channel several of them report to.
	cluster string
}

func (n *notifySink) Publish(ctx context.Context, s Summary) error {
	if !n.wants(s) {
		return nil
	}
	host, _ := os.Hostname()
	e := notify.Event{
		Command: "tidegate " + s.Command, Source: s.Source, Revision: s.Revision,
		Changed: s.Changed, Counts: s.Counts, PullRequestURL: s.PullRequestURL,
		Outcome: string(s.Outcome), Duration: s.Duration, Markdown: s.Markdown,
		Cluster: n.cluster, Host: host,
	}
	if s.Err != nil {
		e.Err = s.Err.Error()
	}
	return notify.New(n.targets, notify.WithUserAgent("tidegate/"+version.Version())).Send(ctx, e)
}

func (n *notifySink) wants(s Summary) bool {
	switch n.on {
	case "always":
		return true
	case "failure":
		return s.Failed()
	default:
		return s.Failed() || s.Changed || s.Outcome == OutcomeChanges
	}
}

// metricsFile writes the run's metrics for node_exporter's textfile
// collector.
type metricsFile struct{ path string }

func (m metricsFile) Publish(_ context.Context, s Summary) error {
	return metrics.WriteFile(m.path, metricsRun(s), version.Version())
}

func (m metricsFile) Started(_ context.Context, s Summary) error {
	return metrics.WriteFile(m.path, startedRun(s), version.Version())
}

// pushgateway pushes the run's metrics to a Prometheus Pushgateway.
type pushgateway struct{ url string }

func (p pushgateway) Publish(ctx context.Context, s Summary) error {
	return metrics.Push(ctx, p.url, "", nil, metricsRun(s), version.Version())
}

func (p pushgateway) Started(ctx context.Context, s Summary) error {
	return metrics.Push(ctx, p.url, "", nil, startedRun(s), version.Version())
}

// metricsRun turns a summary into the metrics package's Run. Exit code 2
// (drift reported, changes found) is a successful run: the numbers, not
// the success gauge, carry the drift.
func metricsRun(s Summary) metrics.Run {
	r := metrics.Run{
		Command:   s.Command,
		Inventory: s.Inventory.metricsLabel(),
		Success:   !s.Failed(),
		Outcome:   string(s.Outcome),
		Start:     s.Start,
		Duration:  s.Duration,
		Objects:   map[string]int{},
		Revision:  s.Revision,
	}
	for k, v := range s.Counts {
		switch k {
		case "bumps":
			r.PendingBumps = v
		case "drifted":
			r.Drifted = v
			r.Objects[k] = v
		default:
			r.Objects[k] = v
		}
	}
	return r
}

// startedRun is the metrics of a run that has started: failed, outcome
// running. The end of the run overwrites them; a run that is killed
// leaves them, so it reads as failed.
func startedRun(s Summary) metrics.Run {
	r := metricsRun(s)
	r.Success, r.Outcome = false, "running"
	return r
}
