package cli

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Settings are checked when the command line is parsed (kong calls each
// Validate), before anything is read, fetched or written: a value out of
// range is a usage error (exit 64), never a guess. Each error names the
// flag, the value given and what is allowed.

// maxConcurrency bounds the --concurrency flags: more than this many
// requests in flight buys nothing and looks like a typo.
const maxConcurrency = 1024

// Validate refuses an explicitly empty path list. The default "." applies
// only when --path and TIDEGATE_PATHS are absent; `--path ""` or
// TIDEGATE_PATHS="" (a variable set from an empty CI input) used to mean
// "the whole repository" to some commands and "nothing" to others.
func (f *SourceFlags) Validate() error {
	if len(f.Path) == 0 {
		//nolint:staticcheck // ST1005: the message ends with the default path ".", not punctuation
		return fmt.Errorf(`--path "" (or TIDEGATE_PATHS=""): the path list is empty; give at least one directory inside the repository, e.g. --path . for its root, or leave --path and TIDEGATE_PATHS unset for the default .`)
	}
	for _, p := range f.Path {
		if strings.TrimSpace(p) == "" {
			return fmt.Errorf("--path %q: an empty entry in the list; separate directories with single commas, e.g. --path apps/a,apps/b", f.Path)
		}
	}
	return nil
}

// Validate range-checks reconcile's, diff's and check's plan numbers.
func (f *PlanFlags) Validate() error {
	if math.IsNaN(f.MaxPruneShare) || f.MaxPruneShare < 0 || f.MaxPruneShare > 1 {
		return fmt.Errorf("--max-prune-share %v: must be a share of the inventory between 0 and 1 (0.5 is half); use --allow-mass-prune to allow more", f.MaxPruneShare)
	}
	return checkConcurrency("--concurrency", f.Concurrency)
}

// Validate range-checks the registry concurrency of the images commands.
func (f *RegistryFlags) Validate() error {
	return checkConcurrency("--concurrency", f.Concurrency)
}

// Validate range-checks reconcile's durations.
func (c *ReconcileCmd) Validate() error {
	if c.Timeout < 0 || (c.Wait && c.Timeout == 0) {
		return fmt.Errorf("--timeout %s: must be longer than 0 (it bounds --wait); use --no-wait to skip waiting", c.Timeout)
	}
	if c.LeaseTTL <= 0 {
		return fmt.Errorf("--lease-ttl %s: must be longer than 0; use --no-lease to run without a Lease", c.LeaseTTL)
	}
	return nil
}

// Validate range-checks images list's --limit.
func (c *ImagesListCmd) Validate() error {
	if c.Limit < 1 {
		return fmt.Errorf("--limit %d: must be at least 1 (tags shown per image)", c.Limit)
	}
	return nil
}

// Validate range-checks the global run flags.
func (f *RunFlags) Validate() error {
	if f.RunTimeout < 0 {
		return fmt.Errorf("--run-timeout %s: must be 0 (no deadline) or longer, e.g. 30m", f.RunTimeout)
	}
	if f.RunTimeout > 0 && f.RunTimeout < time.Second {
		return fmt.Errorf("--run-timeout %s: must be at least 1s (or 0 for no deadline); a bare number is nanoseconds, write 30m", f.RunTimeout)
	}
	return nil
}

func checkConcurrency(flag string, n int) error {
	if n < 1 || n > maxConcurrency {
		return fmt.Errorf("%s %d: must be between 1 and %d", flag, n, maxConcurrency)
	}
	return nil
}
