package cli

import (
	"errors"
	"fmt"
)

// Exit codes are part of tidegate's interface: scripts and CI jobs branch
// on them, so they never change meaning.
const (
	// ExitOK: the command did what it was asked and found nothing to change.
	ExitOK = 0
	// ExitFailure: something went wrong; stderr says what and what to do.
	ExitFailure = 1
	// ExitChanges: the command succeeded and found changes (diff), drift
	// it did not revert (reconcile --drift=report) or bumps it did not
	// write (images update --dry-run), like terraform plan
	// -detailed-exitcode.
	ExitChanges = 2
	// ExitUsage: the command line itself is wrong (unknown flag, bad
	// value); nothing was attempted.
	ExitUsage = 64
)

// A run cancelled by SIGINT or SIGTERM exits 128 + the signal's number,
// 130 or 143, as shells report it (InterruptedError.ExitCode).

// ExitError carries the process exit code for main to use. Err may be nil
// when the code alone says everything (ExitChanges).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Code returns the exit code for err: 0 for nil, the code of an
// ExitError in its chain, ExitFailure otherwise.
func Code(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitFailure
}
