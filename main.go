// Command tidegate is a one-shot GitOps reconciler. This file only wires
// the command line (kong) to the commands in package cli, assembles the
// sinks of the run's outcome and turns errors into exit codes; it is the
// one place that calls os.Exit.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/alecthomas/kong"
	"github.com/sethvargo/go-githubactions"
	"k8s.io/klog/v2"

	"github.com/tidegate/tidegate/cli"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int { return runCLI(&cli.CLI{}, args) }

// runCLI runs one command line on root, whose Globals may come with what
// tests replace (Stdout, Stderr, Getenv); kong fills in the flags.
func runCLI(root *cli.CLI, args []string) int {
	parser, err := kong.New(root,
		kong.Name("tidegate"),
		kong.Description(cli.Description),
		kong.UsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, NoExpandSubcommands: false}),
		pathsOption(),
	)
	if err != nil {
		fail(root, args, fmt.Errorf("internal error: %w", err), "")
		return cli.ExitFailure
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		var perr *kong.ParseError
		if errors.As(err, &perr) {
			fail(root, args, err, "Run 'tidegate --help' or 'tidegate <command> --help' for usage.")
			return cli.ExitUsage
		}
		fail(root, args, err, "")
		return cli.ExitFailure
	}

	// SIGTERM is how Kubernetes ends a CronJob pod: cancel in-flight work
	// cleanly instead of dying between an apply and its report.
	ctx, stop := root.Globals.RunContext(context.Background())
	defer stop()
	kctx.BindTo(ctx, (*context.Context)(nil))
	// Where the run's outcome goes: GitHub Actions first (when the run
	// is a step), then what the report flags ask for.
	var sinks []cli.Sink
	if os.Getenv("GITHUB_ACTIONS") == "true" {
		sinks = append(sinks, githubSink{githubactions.New()})
	}
	root.Globals.Sinks = append(sinks, root.Globals.ReportSinks()...)
	// client-go logs through klog, global state: route it into the run's
	// logger (level, and JSON with -o json) for this run only.
	klog.SetSlogLogger(root.Globals.Logger())
	defer klog.ClearLogger()
	defer routeLibraryLogs(root.Globals.Logger())()

	root.Globals.Start = time.Now()
	err = root.Globals.Execute(kctx.Command(), kctx.Selected().Target.Addr().Interface(), func() error {
		return kctx.Run(&root.Globals)
	})
	err = root.Globals.ScrubError(err)
	code := cli.Code(err)
	var ee *cli.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.Err == nil) {
		fail(root, args, err, "")
	}
	return code
}

// fail prints the run's final error on stderr: a "tidegate: " line, or
// with -o json one JSON object like every other line there.
func fail(root *cli.CLI, args []string, err error, hint string) {
	w := root.Stderr
	if w == nil {
		w = os.Stderr
	}
	// Output is set once kong got as far as applying the flags.
	if root.Output == "json" || (root.Output == "" && wantsJSON(args)) {
		attrs := []any{"error", err.Error()}
		if hint != "" {
			attrs = append(attrs, "hint", hint)
		}
		slog.New(slog.NewJSONHandler(w, nil)).Error("tidegate failed", attrs...)
		return
	}
	if hint != "" {
		hint = "\n" + hint
	}
	fmt.Fprintf(w, "tidegate: %v%s\n", err, hint)
}

// wantsJSON finds -o json in a command line kong could not parse, so
// that even a usage error is JSON then.
func wantsJSON(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case a == "-ojson", a == "-o=json", a == "--output=json":
			return true
		case (a == "-o" || a == "--output") && i+1 < len(args) && args[i+1] == "json":
			return true
		}
	}
	return os.Getenv("TIDEGATE_OUTPUT") == "json"
}
