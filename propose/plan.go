package propose

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template"

	"github.com/tidegate/tidegate/images"
	"github.com/tidegate/tidegate/internal/markdown"
)

// Default templates. Their data is a Data value.
const (
	DefaultBranchTemplate = `tidegate/images/{{.ID}}`
	// DefaultMessageTemplate renders the commit message; its first line is
	// the pull request's title.
	DefaultMessageTemplate = `Update images: {{range $i, $c := .Summary}}{{if lt $i 3}}{{if $i}}, {{end}}{{$c.Short}}{{end}}{{end}}{{if gt (len .Summary) 3}}, …{{end}}

{{range .Bumps}}- {{.Image}}: {{.OldTag}} → {{.NewTag}} ({{.File}}:{{.Line}}, policy {{.Policy}})
{{end}}`
	DefaultBodyTemplate = `Image updates proposed by [tidegate](https://github.com/tidegate/tidegate).

| Image | Old → New | File |
|-------|-----------|------|
{{range .Bumps}}| {{cell .Image}} | {{cell .OldTag}} → {{cell .NewTag}} | {{cell (printf "%s:%d" .File .Line)}} |
{{end}}
Policies: {{range $i, $p := .Policies}}{{if $i}}, {{end}}{{md $p}}{{end}}. Base: {{code .Base}}.
`
)

// Data is what the branch, message and body templates see. Its strings
// come from the repository and the registries, so each is one line
// already (markdown.Line: a newline or control character is spelled as
// its escape); the templates' functions md (Markdown text), code (an
// inline code span) and cell (a code span in a table cell) escape them
// for Markdown.
type Data struct {
	// ID is a short stable hash of Policies.
	ID string
	// Name is the one policy's key made branch-safe ("flux-system-web"),
	// or "all" for a group of several.
	Name string
	// Policies are the policy keys ("namespace:name" for Flux v2
	// ImagePolicies, the workload for Flux v1 automation), sorted.
	Policies []string
	// Base is the branch the pull request merges into.
	Base string
	// Branch is the head branch (empty while the branch template renders).
	Branch string
	// Bumps are the changes, sorted by file and line.
	Bumps []Bump
	// Summary has one Bump per distinct image and versions, in Bumps
	// order: an image used by three containers is one entry.
	Summary []Bump
	// Files are the rewritten files, sorted.
	Files []string
}

// Bump is one image reference change with its parts split for templates.
type Bump struct {
	images.Change
	// Image is the repository without tag or digest; OldTag and NewTag are
	// the tags (or digests, or whole values when there is no tag).
	Image, OldTag, NewTag string
}

// Short is "name:old → new" with the last path element of the image (the
// policy's name for a bare tag).
func (b Bump) Short() string {
	name := b.Image
	if name == "" {
		_, name, _ = strings.Cut(b.Policy, ":")
	}
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	return fmt.Sprintf("%s:%s → %s", name, b.OldTag, b.NewTag)
}

// group is the unit of one pull request: a policy set and its changes.
type group struct {
	policies []string
	changes  []images.Change
}

// policyKey names the policy a change follows: the ImagePolicy of a
// marker, or the Flux v1 workload (whose "policy" is only a pattern).
func policyKey(marker, policy, object string) string {
	if marker != "" && policy != "" {
		return policy
	}
	return object
}

// groups splits a plan's changes into pull requests. Grouped, the policy
// set is every policy the plan knows, not only those with changes, so the
// branch stays the same when one more image gets a bump.
func groups(plan *images.Plan, grouped bool) []group {
	if len(plan.Changes) == 0 {
		return nil
	}
	if grouped {
		set := map[string]bool{}
		for _, e := range plan.Entries {
			set[policyKey(e.Marker, e.Policy, e.Object.String())] = true
		}
		for _, c := range plan.Changes {
			set[policyKey(c.Marker, c.Policy, c.Object.String())] = true
		}
		return []group{{policies: slices.Sorted(maps.Keys(set)), changes: slices.Clone(plan.Changes)}}
	}
	by := map[string][]images.Change{}
	for _, c := range plan.Changes {
		k := policyKey(c.Marker, c.Policy, c.Object.String())
		by[k] = append(by[k], c)
	}
	var out []group
	for _, k := range slices.Sorted(maps.Keys(by)) {
		out = append(out, group{policies: []string{k}, changes: by[k]})
	}
	return out
}

// policyID is a short hash of the policy set: stable across runs and
// machines, and safe in a branch name whatever the policy names contain.
func policyID(policies []string) string {
	sum := sha256.Sum256([]byte(strings.Join(policies, "\n")))
	return hex.EncodeToString(sum[:])[:12]
}

func newData(g group, base string) Data {
	d := Data{ID: policyID(g.policies), Base: markdown.Line(base), Name: "all"}
	for _, p := range g.policies {
		d.Policies = append(d.Policies, markdown.Line(p))
	}
	if len(g.policies) == 1 {
		d.Name = BranchSafe(g.policies[0])
	}
	files := map[string]bool{}
	for _, c := range g.changes {
		img, oldTag := splitRef(c.Old)
		_, newTag := splitRef(c.New)
		if img == "" {
			img = c.Repository // a bare tag: the value does not name it
		}
		c.File, c.Policy, c.Marker, c.Container = markdown.Line(c.File), markdown.Line(c.Policy), markdown.Line(c.Marker), markdown.Line(c.Container)
		c.Old, c.New = markdown.Line(c.Old), markdown.Line(c.New)
		d.Bumps = append(d.Bumps, Bump{Change: c, Image: markdown.Line(img), OldTag: markdown.Line(oldTag), NewTag: markdown.Line(newTag)})
		files[c.File] = true
	}
	slices.SortFunc(d.Bumps, func(a, b Bump) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Old, b.Old))
	})
	d.Files = slices.Sorted(maps.Keys(files))
	seen := map[string]bool{}
	for _, b := range d.Bumps {
		if k := b.Image + "\x00" + b.OldTag + "\x00" + b.NewTag; !seen[k] {
			seen[k] = true
			d.Summary = append(d.Summary, b)
		}
	}
	return d
}

// splitRef splits "registry/repo:tag@digest" into the repository and what
// identifies the version (tag, else digest). A value without either (a
// marker on a bare tag field) is its own version.
func splitRef(ref string) (image, version string) {
	rest, digest, hasDigest := strings.Cut(ref, "@")
	slash := strings.LastIndex(rest, "/")
	if colon := strings.LastIndex(rest, ":"); colon > slash {
		return rest[:colon], rest[colon+1:]
	}
	if hasDigest {
		return rest, digest
	}
	if slash < 0 {
		// A marker on a tag field: the value is the version alone.
		return "", ref
	}
	return rest, ref
}

// BranchSafe makes s usable in a branch name: lower case, letters,
// digits, '.', '_' and '-' kept, runs of anything else turned into one
// '-'.
func BranchSafe(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	out := b.String()
	for strings.Contains(out, "..") {
		out = strings.ReplaceAll(out, "..", ".")
	}
	return strings.Trim(out, "-.")
}

// templates are the parsed templates of one run.
type templates struct {
	branch, message, body *template.Template
}

func parseTemplates(o Options) (*templates, error) {
	funcs := template.FuncMap{"join": strings.Join, "md": markdown.Text, "code": markdown.Code, "cell": markdown.Cell}
	var t templates
	for _, x := range []struct {
		dst  **template.Template
		name string
		text string
	}{
		{&t.branch, "branch template", o.BranchTemplate},
		{&t.message, "message template", o.MessageTemplate},
		{&t.body, "body template", o.BodyTemplate},
	} {
		p, err := template.New(x.name).Funcs(funcs).Option("missingkey=error").Parse(x.text)
		if err != nil {
			return nil, fmt.Errorf("%w (see the Data fields in the propose package documentation)", err)
		}
		*x.dst = p
	}
	return &t, nil
}

func render(t *template.Template, d Data) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("%s: %w", t.Name(), err)
	}
	return b.String(), nil
}

// validBranch refuses names Git or the forges would reject, so a bad
// template fails before anything is pushed.
func validBranch(b string) error {
	switch {
	case b == "", strings.HasPrefix(b, "/"), strings.HasSuffix(b, "/"), strings.HasSuffix(b, ".lock"),
		strings.HasPrefix(b, "-"), strings.Contains(b, ".."), strings.Contains(b, "//"), strings.Contains(b, "@{"),
		strings.ContainsAny(b, " ~^:?*[\\\t\n"):
		return fmt.Errorf("branch template gave %q, which is not a valid branch name", b)
	}
	return nil
}

// titleOf is the first line of a commit message.
func titleOf(message string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(message), "\n")
	return strings.TrimSpace(line)
}
