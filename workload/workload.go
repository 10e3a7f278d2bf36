// Package workload finds where a workload is declared in a repository and
// changes that declaration the way a person would with an editor: one
// annotation line added, changed or removed, one image value replaced,
// everything else byte for byte. It is what fluxctl's release, automate,
// lock and policy did to a repository, minus the push to main: the
// caller proposes the edited file as a pull request.
//
// The Flux v1 annotations are written with the fluxcd.io/ prefix; the
// older flux.weave.works/ ones are read and removed too, so a repository
// never ends up with two contradicting keys.
package workload

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/tidegate/tidegate/internal/yamledit"
	"github.com/tidegate/tidegate/internal/yamlfiles"
	"github.com/tidegate/tidegate/object"
)

// Annotation keys (Flux v1), without prefix.
const (
	Automated = "automated"
	Locked    = "locked"
	LockedMsg = "locked_msg"
	Ignore    = "ignore"
	// TagPrefix precedes the container name: tag.<container>.
	TagPrefix = "tag."
)

// Prefix is the prefix tidegate writes; LegacyPrefix is also read.
const (
	Prefix       = "fluxcd.io/"
	LegacyPrefix = "flux.weave.works/"
)

// Ref names a workload the way fluxctl did: namespace:kind/name.
type Ref struct {
	Namespace, Kind, Name string
}

// ParseRef reads "namespace:kind/name" or "kind/name" (any namespace).
// The kind is case-insensitive.
func ParseRef(s string) (Ref, error) {
	var r Ref
	rest := s
	if ns, after, ok := strings.Cut(s, ":"); ok {
		r.Namespace, rest = ns, after
	}
	kind, name, ok := strings.Cut(rest, "/")
	if !ok || kind == "" || name == "" || strings.Contains(name, "/") {
		return Ref{}, fmt.Errorf("workload %q is not namespace:kind/name (for example shop:deployment/web)", s)
	}
	if _, known := object.PodSpecPath(kind); !known {
		return Ref{}, fmt.Errorf("workload %q: kind %q is not a workload kind (Deployment, StatefulSet, DaemonSet, CronJob, Job, ReplicaSet, Pod)", s, kind)
	}
	r.Kind, r.Name = kind, name
	return r, nil
}

func (r Ref) String() string {
	return r.Namespace + ":" + strings.ToLower(r.Kind) + "/" + r.Name
}

// Workload is one workload's declaration in a file, and the file's
// content with the edits made so far.
type Workload struct {
	// Ref is the workload as declared; Namespace may be empty when an
	// overlay sets it.
	Ref Ref
	// File is the slash-separated path relative to the repository root;
	// Line is the line of the document's first key.
	File string
	Line int

	data []byte
	doc  int // index of the document in the file
	root *yaml.Node
}

// Find looks for ref below paths (relative to root) and returns its one
// declaration. A manifest without a namespace matches any namespace,
// since kustomize overlays usually set it; two candidates are an error
// that lists both.
func Find(root string, paths []string, ref Ref) (*Workload, error) {
	if len(paths) == 0 {
		paths = []string{"."}
	}
	var found []*Workload
	err := yamlfiles.Walk(root, paths, func(rel string, data []byte) {
		if !bytes.Contains(data, []byte(ref.Name)) {
			return
		}
		// A file that does not parse cannot hold the workload in a way we
		// could edit; render reports it with its line.
		ws, _ := parse(rel, data)
		for _, w := range ws {
			if w.matches(ref) {
				found = append(found, w)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("workload %s is not declared in %s: check the name, the kind and --path (tidegate workloads list shows what is there)", ref, strings.Join(paths, ", "))
	case 1:
		return found[0], nil
	}
	var where []string
	for _, w := range found {
		where = append(where, fmt.Sprintf("%s:%d (%s)", w.File, w.Line, w.Ref))
	}
	return nil, fmt.Errorf("workload %s is declared %d times: %s; narrow --path to the one to change", ref, len(found), strings.Join(where, ", "))
}

func (w *Workload) matches(ref Ref) bool {
	return strings.EqualFold(w.Ref.Kind, ref.Kind) && w.Ref.Name == ref.Name &&
		(w.Ref.Namespace == "" || ref.Namespace == "" || w.Ref.Namespace == ref.Namespace)
}

// parse returns every workload document of a file.
func parse(file string, data []byte) ([]*Workload, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*Workload
	for i := 0; ; i++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: not valid YAML: %w", file, err)
		}
		if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
			continue
		}
		m := doc.Content[0]
		kind := value(m, "kind")
		if _, ok := object.PodSpecPath(kind); !ok {
			continue
		}
		out = append(out, &Workload{
			Ref:  Ref{Namespace: value(m, "metadata", "namespace"), Kind: kind, Name: value(m, "metadata", "name")},
			File: file, Line: m.Line, data: data, doc: i, root: m,
		})
	}
}

// Content is the file with the edits made so far.
func (w *Workload) Content() []byte { return w.data }

// reload parses the edited content again, so the next edit sees the
// lines as they are now.
func (w *Workload) reload(data []byte) error {
	ws, err := parseAll(w.File, data)
	if err != nil {
		return fmt.Errorf("%s: the edit left invalid YAML (please report this): %w", w.File, err)
	}
	if w.doc >= len(ws) || ws[w.doc] == nil {
		return fmt.Errorf("%s: the edit lost document %d (please report this)", w.File, w.doc+1)
	}
	w.data, w.root, w.Line = data, ws[w.doc], ws[w.doc].Line
	return nil
}

// parseAll returns each document's root mapping (nil for others).
func parseAll(file string, data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
			out = append(out, doc.Content[0])
		} else {
			out = append(out, nil)
		}
	}
}

// Annotations returns the workload's annotations.
func (w *Workload) Annotations() map[string]string {
	out := map[string]string{}
	a := lookup(w.root, "metadata", "annotations")
	if a == nil || a.Kind != yaml.MappingNode {
		return out
	}
	for i := 0; i+1 < len(a.Content); i += 2 {
		out[a.Content[i].Value] = a.Content[i+1].Value
	}
	return out
}

// Annotation returns the Flux v1 annotation key (without prefix), under
// either prefix.
func (w *Workload) Annotation(key string) (string, bool) {
	a := w.Annotations()
	if v, ok := a[Prefix+key]; ok {
		return v, true
	}
	v, ok := a[LegacyPrefix+key]
	return v, ok
}

// SetAnnotation sets the Flux v1 annotation key (without prefix) to
// value, replacing a legacy-prefixed one. It reports whether the file
// changed.
func (w *Workload) SetAnnotation(key, value string) (bool, error) {
	changed := false
	if _, ok := w.Annotations()[LegacyPrefix+key]; ok {
		if err := w.removeKey(LegacyPrefix + key); err != nil {
			return false, err
		}
		changed = true
	}
	c, err := w.setKey(Prefix+key, value)
	return changed || c, err
}

// RemoveAnnotation removes the Flux v1 annotation key (without prefix)
// under both prefixes. It reports whether the file changed.
func (w *Workload) RemoveAnnotation(key string) (bool, error) {
	changed := false
	for _, k := range []string{Prefix + key, LegacyPrefix + key} {
		if _, ok := w.Annotations()[k]; !ok {
			continue
		}
		if err := w.removeKey(k); err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}

func (w *Workload) where(n *yaml.Node) string {
	return fmt.Sprintf("%s:%d", w.File, n.Line)
}

func (w *Workload) setKey(key, val string) (bool, error) {
	meta := lookup(w.root, "metadata")
	if meta == nil || meta.Kind != yaml.MappingNode || meta.Style&yaml.FlowStyle != 0 || len(meta.Content) == 0 {
		return false, fmt.Errorf("%s: %s has no block-style metadata to annotate; add the annotation %s by hand", w.File, w.Ref, key)
	}
	quoted := yamledit.DoubleQuote(val)
	keyNode, annotations := entry(meta, "annotations")
	switch {
	case annotations == nil:
		// No annotations yet: a new block after "metadata:".
		indent := strings.Repeat(" ", meta.Content[0].Column-1)
		return true, w.edit(meta.Content[0].Line, meta.Content[0].Line-1, []string{
			indent + "annotations:",
			indent + "  " + yamlKey(key) + ": " + quoted,
		})
	case annotations.Kind == yaml.MappingNode && annotations.Style&yaml.FlowStyle == 0 && len(annotations.Content) > 0:
		if k, v := entry(annotations, key); v != nil {
			if v.Value == val {
				return false, nil
			}
			if v.Kind != yaml.ScalarNode || v.Line != k.Line || v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
				return false, fmt.Errorf("%s: annotation %s spans several lines; set it to %s by hand", w.where(k), key, quoted)
			}
			line := yamledit.Line(w.data, k.Line)
			newLine := strings.Repeat(" ", k.Column-1) + yamlKey(key) + ": " + quoted
			if v.LineComment != "" {
				newLine += " " + v.LineComment
			}
			if line == newLine {
				return false, nil
			}
			return true, w.edit(k.Line, k.Line, []string{newLine})
		}
		// New keys go after the last one, so that keys added one after
		// the other read in that order; before the first when the last
		// value's end is not known (a block scalar).
		first, last := annotations.Content[0], annotations.Content[len(annotations.Content)-1]
		at := first.Line
		if last.Kind == yaml.ScalarNode && last.Style&(yaml.LiteralStyle|yaml.FoldedStyle) == 0 && !strings.Contains(last.Value, "\n") {
			at = last.Line + 1
		}
		return true, w.edit(at, at-1, []string{strings.Repeat(" ", first.Column-1) + yamlKey(key) + ": " + quoted})
	case annotations.Kind == yaml.MappingNode && len(annotations.Content) == 0 && annotations.Line == keyNode.Line,
		annotations.Kind == yaml.ScalarNode && annotations.Tag == "!!null" && annotations.Line == keyNode.Line:
		// "annotations: {}" or "annotations:" with nothing: rewrite the
		// line as a block.
		indent := strings.Repeat(" ", keyNode.Column-1)
		return true, w.edit(keyNode.Line, keyNode.Line, []string{indent + "annotations:", indent + "  " + yamlKey(key) + ": " + quoted})
	default:
		return false, fmt.Errorf("%s: the annotations of %s are written in flow style ({...}); rewrite them as a block, or add %s: %s by hand", w.where(keyNode), w.Ref, key, quoted)
	}
}

func (w *Workload) removeKey(key string) error {
	_, annotations := entry(lookup(w.root, "metadata"), "annotations")
	if annotations == nil || annotations.Kind != yaml.MappingNode {
		return nil
	}
	k, v := entry(annotations, key)
	if v == nil {
		return nil
	}
	if annotations.Style&yaml.FlowStyle != 0 {
		return fmt.Errorf("%s: the annotations of %s are written in flow style ({...}); remove %s by hand", w.where(k), w.Ref, key)
	}
	last := v.Line
	if v.Kind != yaml.ScalarNode || v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return fmt.Errorf("%s: annotation %s spans several lines; remove it by hand", w.where(k), key)
	}
	if len(annotations.Content) == 2 {
		// The only annotation: remove "annotations:" too rather than
		// leave a null map behind.
		annKey, _ := entry(lookup(w.root, "metadata"), "annotations")
		return w.edit(annKey.Line, last, nil)
	}
	return w.edit(k.Line, last, nil)
}

func (w *Workload) edit(from, to int, lines []string) error {
	data, err := yamledit.ReplaceLines(w.data, from, to, lines)
	if err != nil {
		return fmt.Errorf("%s: %w", w.File, err)
	}
	return w.reload(data)
}

// yamlKey quotes a key only when it has to be: annotation keys are
// plain in every manifest people write.
func yamlKey(k string) string {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(k+": x"), &n); err == nil && len(n.Content) == 1 && len(n.Content[0].Content) == 2 && n.Content[0].Content[0].Value == k {
		return k
	}
	return yamledit.DoubleQuote(k)
}

// Container is one container of the workload's pod template.
type Container struct {
	Name, Image string
	Init        bool
	// Line is the line of the image value.
	Line int
	// Marker is the image value's line comment, e.g. a Flux
	// {"$imagepolicy": ...} setter.
	Marker string

	node *yaml.Node
}

// Containers lists the init containers and containers.
func (w *Workload) Containers() []Container {
	podSpec, _ := object.PodSpecPath(w.Ref.Kind)
	spec := lookup(w.root, podSpec...)
	var out []Container
	for _, field := range []string{"initContainers", "containers"} {
		list := lookup(spec, field)
		if list == nil || list.Kind != yaml.SequenceNode {
			continue
		}
		for _, c := range list.Content {
			img := lookup(c, "image")
			if img == nil || img.Kind != yaml.ScalarNode {
				continue
			}
			out = append(out, Container{Name: value(c, "name"), Image: img.Value, Init: field == "initContainers", Line: img.Line, Marker: img.LineComment, node: img})
		}
	}
	return out
}

// Container returns the named container; name may be empty when the
// workload has only one.
func (w *Workload) Container(name string) (Container, error) {
	cs := w.Containers()
	var names []string
	for _, c := range cs {
		if c.Name == name || name == "" && len(cs) == 1 {
			return c, nil
		}
		names = append(names, c.Name)
	}
	if name == "" {
		return Container{}, fmt.Errorf("%s has %d containers (%s): name one with --container", w.Ref, len(cs), strings.Join(names, ", "))
	}
	return Container{}, fmt.Errorf("%s has no container %q; it has %s", w.Ref, name, strings.Join(names, ", "))
}

// SetImage replaces the image of the named container. It reports
// whether the file changed.
func (w *Workload) SetImage(container, image string) (bool, error) {
	c, err := w.Container(container)
	if err != nil {
		return false, err
	}
	if c.Image == image {
		return false, nil
	}
	data, err := yamledit.Apply(w.data, []yamledit.Edit{{Line: c.node.Line, Column: c.node.Column, Style: c.node.Style, Old: c.Image, New: image}})
	if err != nil {
		return false, fmt.Errorf("%s: %w", w.File, err)
	}
	return true, w.reload(data)
}

// Names returns the container names, for messages.
func (w *Workload) Names() []string {
	var out []string
	for _, c := range w.Containers() {
		out = append(out, c.Name)
	}
	slices.Sort(out)
	return out
}

func lookup(n *yaml.Node, path ...string) *yaml.Node {
	for _, p := range path {
		_, n = entry(n, p)
		if n == nil {
			return nil
		}
	}
	return n
}

// entry returns the key and value nodes of key in mapping m.
func entry(m *yaml.Node, key string) (k, v *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

func value(n *yaml.Node, path ...string) string {
	v := lookup(n, path...)
	if v == nil || v.Kind != yaml.ScalarNode {
		return ""
	}
	return v.Value
}
