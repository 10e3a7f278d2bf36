package object

// Action says what a run did, or in a dry-run would do, to one object.
// apply, prune and the report share these values; their names are part
// of the JSON report.
type Action string

// The actions of a change set.
const (
	Created    Action = "created"
	Configured Action = "configured"
	// Adopted is an object that existed without being ours and was taken
	// over (and written) by this run.
	Adopted   Action = "adopted"
	Unchanged Action = "unchanged"
	Deleted   Action = "deleted"
	Skipped   Action = "skipped"
	Drifted   Action = "drifted"
	Failed    Action = "failed"
)

// Change is one object's entry in a change set: what apply, diff and
// prune did or would do to it, and why.
type Change struct {
	ID     ID     `json:"id"`
	Action Action `json:"action"`
	// Reason explains a skip or a failure in words a person can act on.
	Reason string `json:"reason,omitempty"`
	// Diff is a unified diff of live against desired, Secret values
	// masked; set only by a diff.
	Diff string `json:"diff,omitempty"`
}
