package reconcile

import "fmt"

// DriftMode says what a reconcile does with live objects that were
// changed in the cluster since tidegate last applied them.
type DriftMode string

const (
	// DriftRevert applies Git over the drift, as GitOps tools do by default.
	DriftRevert DriftMode = "revert"
	// DriftReport writes nothing when any object drifted: it reports the
	// drift as a diff so that a person can look before it is reverted.
	DriftReport DriftMode = "report"
)

// ParseDriftMode accepts the values of --drift.
func ParseDriftMode(s string) (DriftMode, error) {
	switch m := DriftMode(s); m {
	case DriftRevert, DriftReport:
		return m, nil
	case "":
		return DriftRevert, nil
	default:
		return "", fmt.Errorf("unknown drift mode %q: use revert or report", s)
	}
}
