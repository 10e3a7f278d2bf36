// Command tidegate is a one-shot GitOps reconciler. This file only wires
// the command line (kong) to the commands in package cli and turns their
// errors into exit codes; it is the one place that calls os.Exit.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"github.com/sethvargo/go-githubactions"

	"github.com/tidegate/tidegate/cli"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	var root cli.CLI
	parser, err := kong.New(&root,
		kong.Name("tidegate"),
		kong.Description(cli.Description),
		kong.UsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, NoExpandSubcommands: false}),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tidegate: internal error:", err)
		return cli.ExitFailure
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		var perr *kong.ParseError
		if errors.As(err, &perr) {
			fmt.Fprintf(os.Stderr, "tidegate: %v\nRun 'tidegate --help' or 'tidegate <command> --help' for usage.\n", err)
			return cli.ExitUsage
		}
		fmt.Fprintln(os.Stderr, "tidegate:", err)
		return cli.ExitFailure
	}

	// SIGTERM is how Kubernetes ends a CronJob pod: cancel in-flight work
	// cleanly instead of dying between an apply and its report.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	kctx.BindTo(ctx, (*context.Context)(nil))
	if os.Getenv("GITHUB_ACTIONS") == "true" {
		root.Globals.OnSummary = githubHook(githubactions.New())
	}

	root.Globals.Start = time.Now()
	err = kctx.Run(&root.Globals)
	root.Globals.Finish(kctx.Command(), err)
	err = root.Globals.ScrubError(err)
	code := cli.Code(err)
	var ee *cli.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.Err == nil) {
		fmt.Fprintln(os.Stderr, "tidegate:", err)
	}
	return code
}
