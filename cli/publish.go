package cli

import (
	"context"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/tidegate/tidegate/internal/version"
	"github.com/tidegate/tidegate/metrics"
	"github.com/tidegate/tidegate/notify"
	"github.com/tidegate/tidegate/reconcile"
)

// ReportFlags send a run's outcome somewhere a person or an alert will see
// it. They are global because every command reports the same Summary.
type ReportFlags struct {
	Notify      []notify.Target `help:"Post the run's summary to a webhook when it is done: slack=URL, discord=URL, teams=URL (Workflows), json=URL, or a bare https URL (JSON). Repeatable. URLs are never logged." env:"TIDEGATE_NOTIFY" sep:"," placeholder:"KIND=URL"`
	NotifyOn    string          `help:"When to notify: always, change (something changed or failed) or failure." enum:"always,change,failure" default:"change" env:"TIDEGATE_NOTIFY_ON"`
	MetricsFile string          `help:"Write the run's metrics (Prometheus text format) to FILE, replaced atomically, for node_exporter's textfile collector. Name it *.prom." env:"TIDEGATE_METRICS_FILE" placeholder:"FILE"`
	Pushgateway string          `help:"Push the run's metrics to this Prometheus Pushgateway (http://host:9091), grouped by command and inventory. user:password@ in the URL is sent as basic auth." env:"TIDEGATE_PUSHGATEWAY" placeholder:"URL"`
}

// publish sends s to the configured webhooks and metrics sinks. Their
// failures are logged, not returned: a Slack outage must not turn a good
// reconcile into a failed CronJob, and the run's own exit code still tells
// the truth about the run.
func (g *Globals) publish(s Summary) {
	// The run's context may already be cancelled (SIGTERM); a failure
	// report matters most then. Each sink bounds itself (10 s).
	ctx := context.Background()
	log := g.Logger()
	if len(g.Notify) > 0 && g.shouldNotify(s) {
		host, _ := os.Hostname()
		e := notify.Event{
			Command: "tidegate " + s.Command, Source: s.Source, Revision: s.Revision,
			Changed: s.Changed, Counts: s.Counts, PullRequestURL: s.PullRequestURL,
			Duration: s.Duration, Markdown: s.Markdown, Cluster: g.Context, Host: host,
		}
		if s.Err != nil {
			e.Err = s.Err.Error()
		}
		e.Outcome = string(s.Outcome)
		n := notify.New(g.Notify, notify.WithUserAgent("tidegate/"+version.Version()))
		if err := n.Send(ctx, e); err != nil {
			log.Warn("notification failed", "error", err)
		}
	}
	if g.MetricsFile == "" && g.Pushgateway == "" {
		return
	}
	r := metricsRun(s, g.Start)
	r.Outcome = string(s.Outcome)
	g.sendMetrics(r)
}

func (g *Globals) shouldNotify(s Summary) bool {
	switch g.NotifyOn {
	case "always":
		return true
	case "failure":
		return s.Err != nil
	default:
		return s.Err != nil || s.Changed
	}
}

// metricsRun turns a summary into the metrics package's Run. Exit code 2
// (drift reported, changes found) is a successful run: the numbers, not
// the success gauge, carry the drift.
func metricsRun(s Summary, start time.Time) metrics.Run {
	r := metrics.Run{
		Command:  s.Command,
		Success:  s.Err == nil || isChanges(s.Err),
		Start:    start,
		Duration: s.Duration,
		Objects:  map[string]int{},
		Revision: s.Revision,
	}
	// "ConfigMap default/tidegate" → "default/tidegate".
	r.Inventory = s.Inventory[strings.LastIndex(s.Inventory, " ")+1:]
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

func isChanges(err error) bool {
	return errors.Is(err, reconcile.ErrDrift) || Code(err) == ExitChanges
}
