// Package check answers, before a reconcile, whether everything it needs
// is in place: the repository can be read, it renders, every SOPS file
// has its key, the cluster answers, tidegate's identity may do what the
// reconcile will do, and the registries of the image policies answer.
//
// Each check is a function over inputs the caller has already built (a
// checkout, a rest client, the rendered objects, the images Sources) and
// returns Results: data, one ✔ or ✗ line each, with a hint on what to do
// about a ✗. The package prints nothing itself and never reads flags, so
// the command decides what to check and tests drive each check alone.
//
// Nothing here writes to the cluster: RBAC is asked with
// SelfSubjectAccessReviews, identity with a SelfSubjectReview, and
// registries with one tag list per repository. Secret values are never
// part of a Result: decryption is reported per file by name.
package check

import (
	"fmt"
	"io"
	"strings"

	"github.com/tidegate/tidegate/source"
)

// Result is one check's outcome, one line of tidegate check.
type Result struct {
	// Name is what was checked: git, cluster, identity, keys, sops,
	// render, kind, scope, inventory, rbac, images, registry.
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Detail says what was found; it may span lines (a render error
	// that joins several).
	Detail string `json:"detail"`
	// Hint says what to do about a failure; empty when Detail already
	// does.
	Hint string `json:"hint,omitempty"`
}

// String is the result as tidegate check prints it: "✔ name: detail" or
// "✗ name: detail — hint".
func (r Result) String() string {
	mark := "✔"
	if !r.OK {
		mark = "✗"
	}
	s := mark + " " + r.Name + ": " + r.Detail
	if !r.OK && r.Hint != "" {
		s += " — " + r.Hint
	}
	return s
}

// Failed counts the results that are not OK.
func Failed(rs []Result) int {
	n := 0
	for _, r := range rs {
		if !r.OK {
			n++
		}
	}
	return n
}

// WriteText writes one line per result; the continuation lines of a
// multi-line detail are indented so that every check starts with its mark.
func WriteText(w io.Writer, rs []Result) error {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(strings.ReplaceAll(r.String(), "\n", "\n    "))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Git reports the outcome of opening the source: co and err as
// source.Open (or the command's SourceFlags.Open) returned them. Git's
// errors are already redacted there.
func Git(co *source.Checkout, err error) Result {
	if err != nil {
		return Result{Name: "git", Detail: err.Error(),
			Hint: "fix --source and --ref, or the credentials (--git-token, --ssh-key-file, --known-hosts); nothing else can be checked against the repository"}
	}
	switch {
	case co.Revision == "":
		return Result{Name: "git", OK: true, Detail: co.URL + " (a directory, read as it is)"}
	case co.Branch != "":
		return Result{Name: "git", OK: true, Detail: fmt.Sprintf("%s at %s (%s)", co.URL, co.Revision, co.Branch)}
	}
	return Result{Name: "git", OK: true, Detail: fmt.Sprintf("%s at %s", co.URL, co.Revision)}
}
