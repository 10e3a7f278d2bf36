package check

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/tidegate/tidegate/render"
)

// Render renders paths of the checkout at root as a reconcile would, and
// reports the SOPS files it decrypted and the render itself. The render
// result is nil when the render failed: a reconcile would then apply
// nothing, so there is nothing to check RBAC for.
//
// The keys are tried, not compared with the files' recipients: a render
// decrypts in memory anyway, and trying is the only proof that a key
// really opens a file. Render stops reading a path at its first file that
// does not decrypt, so a second file without a key in the same path shows
// once the first has one.
func Render(ctx context.Context, root string, paths []string, opts render.Options) (*render.Result, []Result) {
	var mu sync.Mutex
	var files []string
	outcome := map[string]error{}
	next := opts.Decrypted
	opts.Decrypted = func(file string, err error) {
		mu.Lock()
		if prev, seen := outcome[file]; !seen {
			files = append(files, file)
			outcome[file] = err
		} else if prev == nil {
			outcome[file] = err
		}
		mu.Unlock()
		if next != nil {
			next(file, err)
		}
	}
	res, err := render.Render(ctx, root, paths, opts)

	var out, failed []Result
	var decrypted []string
	var failures []string
	for _, f := range files {
		if e := outcome[f]; e != nil {
			failed = append(failed, Result{Name: "sops", Detail: e.Error()})
			failures = append(failures, e.Error())
			continue
		}
		decrypted = append(decrypted, f)
	}
	switch {
	case len(decrypted) > 0:
		out = append(out, Result{Name: "sops", OK: true, Detail: "decrypted with the given keys: " + strings.Join(decrypted, ", ")})
	case len(failed) == 0 && err == nil:
		out = append(out, Result{Name: "sops", OK: true, Detail: "no SOPS-encrypted files in the render"})
	}
	out = append(out, failed...)

	if err == nil {
		return res, append(out, Result{Name: "render", OK: true, Detail: fmt.Sprintf("%s from %s", plural(len(res.Objects), "object"), strings.Join(paths, ", "))})
	}
	// The SOPS lines above already name the files without a key; the
	// render line keeps only what they do not say.
	var rest []string
	for _, e := range unjoin(err) {
		if !containsAny(e.Error(), failures) {
			rest = append(rest, e.Error())
		}
	}
	if len(rest) == 0 {
		return nil, append(out, Result{Name: "render", Detail: "stopped at the SOPS files that could not be decrypted",
			Hint: "give tidegate their keys (see the sops lines); a reconcile applies nothing while the render fails"})
	}
	return nil, append(out, Result{Name: "render", Detail: strings.Join(rest, "\n"),
		Hint: "fix the files named above; a reconcile applies nothing while the render fails"})
}

// unjoin splits an errors.Join into its errors.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
