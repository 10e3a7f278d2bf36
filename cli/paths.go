package cli

import (
	"errors"
	"fmt"

	"github.com/tidegate/tidegate/internal/atomicfile"
)

// checkPaths refuses a --path that leads out of the repository, lexically
// (../x) or through a symbolic link, before a writing command reads or
// writes anything: a usage error, since no run with it can be right.
func checkPaths(dir string, paths []string) error {
	var errs []error
	for _, p := range paths {
		if _, err := atomicfile.Resolve(dir, p); err != nil {
			errs = append(errs, fmt.Errorf("--path %s: %w", p, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	return nil
}

// checkTarget refuses to change a file of the repository that resolves
// outside it (a symbolic link leading out).
func checkTarget(dir, file string) error {
	if _, err := atomicfile.Resolve(dir, file); err != nil {
		return fmt.Errorf("%w (nothing was written)", err)
	}
	return nil
}
