// Package cli holds tidegate's commands: one struct per command with a Run
// method. The structs carry kong struct tags, but the package does not
// import kong; main.go wires them, so every command can be driven from a
// test with plain values and in-memory writers.
package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tidegate/tidegate/internal/plaintext"
)

// Globals are the flags every command accepts.
type Globals struct {
	Kubeconfig string `help:"Path to a kubeconfig file. Empty: $$KUBECONFIG, then ~/.kube/config, then the in-cluster service account (CronJob)." env:"TIDEGATE_KUBECONFIG" placeholder:"FILE"`
	Context    string `help:"kubeconfig context to use instead of its current context." env:"TIDEGATE_CONTEXT" placeholder:"NAME"`
	LogLevel   string `help:"How much to log on stderr: debug, info, warn or error." enum:"debug,info,warn,error" default:"info" env:"TIDEGATE_LOG_LEVEL"`
	Output     string `help:"Result format on stdout: text for people, json for machines." short:"o" enum:"text,json" default:"text" env:"TIDEGATE_OUTPUT"`
	ReportFlags
	RunFlags
	SecretFlags

	// Stdout and Stderr default to the process's; tests replace them.
	Stdout io.Writer `kong:"-"`
	Stderr io.Writer `kong:"-"`
	// Getenv defaults to os.Getenv; tests replace it.
	Getenv func(string) string `kong:"-"`
	// Sinks receive each command's Summary once it is done (and, those
	// that want to, the start of the run); main assembles them: the
	// GitHub Actions outputs and ReportSinks (webhooks, metrics).
	Sinks []Sink `kong:"-"`
	// Start is when the run began; summaries report the time since.
	Start time.Time `kong:"-"`

	// summarized: the command recorded its summary (last); finished:
	// Finish published it.
	summarized, finished bool
	// runCtx is the run's context (see RunContext), last the summary the
	// run reported, for the result file.
	runCtx context.Context
	last   Summary
	// inventory is set by commands that have one, so that even a run
	// that fails before its report is counted under the right inventory.
	inventory InventoryRef
	// plain holds the run's decrypted values (see plaintext()).
	plain *plaintext.Set
}

func (g *Globals) stdout() io.Writer {
	if g.Stdout == nil {
		return g.scrubStdout(os.Stdout)
	}
	return g.scrubStdout(g.Stdout)
}

func (g *Globals) stderr() io.Writer {
	if g.Stderr == nil {
		return g.plaintext().Writer(os.Stderr)
	}
	return g.plaintext().Writer(g.Stderr)
}

func (g *Globals) getenv(key string) string {
	if g.Getenv == nil {
		return os.Getenv(key)
	}
	return g.Getenv(key)
}

// Logger returns the logger for progress and diagnostics. It writes to
// stderr so that stdout carries only the result.
func (g *Globals) Logger() *slog.Logger {
	level := slog.LevelInfo
	_ = level.UnmarshalText([]byte(g.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if g.Output == "json" {
		return slog.New(slog.NewJSONHandler(g.stderr(), opts))
	}
	return slog.New(slog.NewTextHandler(g.stderr(), opts))
}

// kubeRequestTimeout bounds each request to the Kubernetes API.
const kubeRequestTimeout = time.Minute

// RESTConfig loads the cluster connection: an explicit --kubeconfig, then
// the standard loading rules ($KUBECONFIG, ~/.kube/config), then the
// in-cluster service account.
func (g *Globals) RESTConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if g.Kubeconfig != "" {
		rules.ExplicitPath = g.Kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: g.Context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load cluster configuration: %w (pass --kubeconfig FILE, set KUBECONFIG, or run in a pod with a service account)", err)
	}
	// One-shot runs apply many objects at once; client-go's default of 5
	// QPS would dominate their runtime. The API server's own priority and
	// fairness protects it.
	cfg.QPS, cfg.Burst = -1, -1
	// A stalled API server must not hold a run: every request is bounded.
	// tidegate never watches (wait polls with GETs), so no long request
	// is cut short.
	if cfg.Timeout == 0 {
		cfg.Timeout = kubeRequestTimeout
	}
	cfg.UserAgent = "tidegate"
	return cfg, nil
}

// printJSON writes v as indented JSON, the format of --output json.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
