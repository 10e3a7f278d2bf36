package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/tidegate/tidegate/internal/atomicfile"
	"github.com/tidegate/tidegate/inventory"
)

// RunFlags bound a whole run and record how it ended.
type RunFlags struct {
	RunTimeout time.Duration `help:"Deadline for the whole run: past it, in-flight work is cancelled and the run fails (exit 1). 0: no deadline." default:"30m" env:"TIDEGATE_RUN_TIMEOUT" placeholder:"DURATION"`
	ResultFile string        `help:"Write the run's result to FILE as JSON when it ends, replaced atomically: command, outcome (ok, changes, failed, interrupted), changed, exitCode, counts. No file means the run did not finish (killed, crashed): count it as failed." env:"TIDEGATE_RESULT_FILE" placeholder:"FILE"`
}

// Outcome is how a run ended, as the result file, notifications and
// metrics tell it.
type Outcome string

const (
	// OutcomeOK: exit 0.
	OutcomeOK Outcome = "ok"
	// OutcomeChanges: exit 2, changes found (diff, --drift=report, --dry-run).
	OutcomeChanges Outcome = "changes"
	// OutcomeFailed: exit 1 or 64, a panic, or --run-timeout.
	OutcomeFailed Outcome = "failed"
	// OutcomeInterrupted: SIGINT or SIGTERM; exit 128 + the signal number.
	OutcomeInterrupted Outcome = "interrupted"
)

// InterruptedError is the cause of a run cancelled by a signal.
type InterruptedError struct{ Signal os.Signal }

func (e *InterruptedError) Error() string { return "interrupted by " + signalName(e.Signal) }

// ExitCode is the shell's convention for a process ended by a signal:
// 130 for SIGINT, 143 for SIGTERM. Never 0 or 2, so no script reads an
// interrupted run as a success.
func (e *InterruptedError) ExitCode() int {
	if s, ok := e.Signal.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 128 + int(syscall.SIGINT)
}

// RunTimeoutError is the cause of a run that outlived --run-timeout.
type RunTimeoutError struct{ Timeout time.Duration }

func (e *RunTimeoutError) Error() string {
	return fmt.Sprintf("the run took longer than --run-timeout %s and was cancelled; raise --run-timeout (0: no deadline) or find what is slow with --log-level debug", e.Timeout)
}

// PanicError is a panic in a command, recovered so that it exits 1 with
// a report instead of the Go runtime's exit code 2, which means "changes
// found".
type PanicError struct {
	Value any
	// StackFile holds the goroutine's stack; empty when it could not be
	// written (the stack is logged at debug level either way).
	StackFile string
}

func (e *PanicError) Error() string {
	where := "run with --log-level debug to see the stack"
	if e.StackFile != "" {
		where = "the stack is in " + e.StackFile
	}
	return fmt.Sprintf("internal error: panic: %v (a bug in tidegate; please report it, %s)", e.Value, where)
}

// RunContext is the run's context: cancelled by the first SIGINT or SIGTERM
// (a second one ends tidegate at once, the default action) and after
// --run-timeout. The cause (context.Cause) says which. stop releases the
// signal handler and the timer.
func (g *Globals) RunContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			signal.Stop(sigs)
			cancel(&InterruptedError{Signal: s})
		case <-done:
		}
	}()
	stopTimer := func() {}
	if g.RunTimeout > 0 {
		ctx, stopTimer = context.WithTimeoutCause(ctx, g.RunTimeout, &RunTimeoutError{Timeout: g.RunTimeout})
	}
	g.runCtx = ctx
	return ctx, func() {
		close(done)
		signal.Stop(sigs)
		stopTimer()
		cancel(nil)
	}
}

// Execute runs one command, run being its Run, and everything around it
// that must happen whatever the command does: the metrics of a started
// run, a recovered panic, the cause of a cancellation in the error,
// the summary of a command that failed before its own, and the result
// file last. cmd is the selected command's struct. It returns the error
// whose Code is the exit code.
func (g *Globals) Execute(command string, cmd any, run func() error) error {
	if inv, ok := cmd.(interface{ parent() inventory.Parent }); ok {
		g.inventory = inventoryRef(inv.parent())
	}
	if command != "version" {
		start := g.Start
		if start.IsZero() {
			start = time.Now()
		}
		g.publishStart(g.scrubSummary(Summary{Command: command, Inventory: g.inventory, Start: start}))
	}
	err := g.settle(g.recovered(run))
	// The sinks (GitHub outputs, webhooks, metrics) run outside the
	// command; a panic there must not skip the result file either.
	if perr := g.recovered(func() error { g.Finish(command, err); return nil }); perr != nil {
		err = perr
	}
	if werr := g.writeResult(command, err); werr != nil {
		g.Logger().Error("could not write the result file; the run counts as failed", "error", werr)
		if err == nil || Code(err) == ExitChanges {
			err = &ExitError{Code: ExitFailure, Err: werr}
		}
	}
	return err
}

// recovered calls run and turns a panic into a *PanicError.
func (g *Globals) recovered(run func() error) (err error) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		stack := debug.Stack()
		pe := &PanicError{Value: p}
		if f, ferr := os.CreateTemp("", "tidegate-panic-*.txt"); ferr == nil {
			_, werr := fmt.Fprintf(f, "panic: %v\n\n%s", p, stack)
			if cerr := f.Close(); werr == nil && cerr == nil {
				pe.StackFile = f.Name()
			}
		}
		g.Logger().Debug("panic", "value", fmt.Sprint(p), "stack", string(stack))
		err = pe
	}()
	return run()
}

// settle adds to err why the run's context ended, when it did: the
// errors of cancelled requests only say "context canceled". An
// interrupted run exits 128 + the signal.
func (g *Globals) settle(err error) error {
	if err == nil || g.runCtx == nil {
		return err
	}
	cause := context.Cause(g.runCtx)
	var ie *InterruptedError
	var te *RunTimeoutError
	code := ExitFailure
	switch {
	case errors.As(cause, &ie):
		code = ie.ExitCode()
	case errors.As(cause, &te):
	default:
		return err
	}
	if !errors.Is(err, cause) {
		err = fmt.Errorf("%w: %w", cause, err)
	}
	return &ExitError{Code: code, Err: err}
}

// interruption is the signal that cancelled the run, nil when none did.
func (g *Globals) interruption() *InterruptedError {
	var ie *InterruptedError
	if g.runCtx != nil && errors.As(context.Cause(g.runCtx), &ie) {
		return ie
	}
	return nil
}

// outcome classifies a settled error.
func outcome(err error) Outcome {
	var ie *InterruptedError
	switch {
	case errors.As(err, &ie):
		return OutcomeInterrupted
	case err == nil:
		return OutcomeOK
	case Code(err) == ExitChanges:
		return OutcomeChanges
	}
	return OutcomeFailed
}

// inventoryRef is p as the summary carries it.
func inventoryRef(p inventory.Parent) InventoryRef {
	return InventoryRef{Kind: p.Kind, Namespace: p.Namespace, Name: p.Name}
}

// Result is what --result-file holds: how the run ended, for the homes
// (the GitHub Action, GitLab CI, scripts) to read instead of the exit
// code alone, which a crashed Go program sets to 2 like "changes found".
type Result struct {
	Command        string         `json:"command"`
	Outcome        Outcome        `json:"outcome"`
	Changed        bool           `json:"changed"`
	ExitCode       int            `json:"exitCode"`
	Counts         map[string]int `json:"counts"`
	Source         string         `json:"source,omitempty"`
	Revision       string         `json:"revision,omitempty"`
	Inventory      string         `json:"inventory,omitempty"`
	PullRequestURL string         `json:"pullRequestURL,omitempty"`
	// DurationSeconds is how long the run took.
	DurationSeconds float64 `json:"durationSeconds"`
}

// writeResult writes --result-file, the very last thing a run does.
func (g *Globals) writeResult(command string, err error) error {
	if g.ResultFile == "" {
		return nil
	}
	s := g.last
	r := Result{
		Command: command, Outcome: outcome(err), ExitCode: Code(err), Counts: map[string]int{},
		Source: s.Source, Revision: s.Revision, Inventory: s.Inventory.String(), PullRequestURL: s.PullRequestURL,
		Changed: s.Changed,
	}
	for k, v := range s.Counts {
		r.Counts[k] = v
	}
	if !g.Start.IsZero() {
		r.DurationSeconds = time.Since(g.Start).Seconds()
	}
	data, merr := json.MarshalIndent(r, "", "  ")
	if merr != nil {
		return merr
	}
	if werr := atomicfile.Write(g.ResultFile, data, 0o644); werr != nil {
		return fmt.Errorf("write --result-file %s: %w; check that its directory exists and is writable", g.ResultFile, werr)
	}
	return nil
}

func signalName(s os.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM"
	case os.Interrupt:
		return "SIGINT"
	}
	return s.String()
}
