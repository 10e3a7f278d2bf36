package images

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/tidegate/tidegate/images/marker"
	"github.com/tidegate/tidegate/images/policy"
	"github.com/tidegate/tidegate/object"
)

// Flux v1 automated the images of helm-operator HelmReleases
// (helm.fluxcd.io/v1, and flux.weave.works/v1beta1 before it) by reading
// spec.values: no chart is fetched, so an image only the chart's
// templates know is out of reach, for Flux v1 and for tidegate alike.
//
// An image is found, as Flux v1 found it, in a mapping M that is either
// spec.values itself (the image is then named "chart-image") or a
// mapping under one of its keys (named after the key):
//
//	M.image: repo/app:1.0            the whole reference
//	M.image: repo/app, M.tag: 1.0    the tag apart
//	M.registry: r.example            prepended to M.image, with or without M.tag
//	M.image.repository (+ .tag, .registry)   the same, as a mapping
//
// Annotations map an alias to dot paths below spec.values when a chart
// uses other names: repository.fluxcd.io/<alias> (required; the whole
// reference when alone), tag.fluxcd.io/<alias>, registry.fluxcd.io/<alias>.
// An alias overrides a detected image of the same name. Filters
// (filter.fluxcd.io/<name>, fluxcd.io/tag.<name>) and fluxcd.io/automated,
// locked and ignore read as on a Deployment.
//
// tidegate rewrites one scalar per image: the tag when it has a field of
// its own, else the reference. The repository is never changed, since a
// Flux v1 filter selects tags only.

// ReleaseContainerName is the name Flux v1 gave the image at the top of a
// HelmRelease's values.
const ReleaseContainerName = "chart-image"

// The annotation prefixes that map an alias to paths below spec.values.
const (
	registryPathPrefix   = "registry.fluxcd.io/"
	repositoryPathPrefix = "repository.fluxcd.io/"
	tagPathPrefix        = "tag.fluxcd.io/"
)

// helmOperatorRelease reports whether id is a Flux v1 helm-operator
// HelmRelease, the only kind of HelmRelease whose annotations Flux v1
// automated.
func helmOperatorRelease(id object.ID) bool {
	return id.Kind == "HelmRelease" && (id.Group == "helm.fluxcd.io" || id.Group == "flux.weave.works")
}

// chartImage is one image of a HelmRelease's values: the scalar tidegate
// rewrites and what completes the reference.
type chartImage struct {
	name  string
	value *yaml.Node
	// registry is a registry kept in a field of its own, prepended to the
	// repository in value.
	registry string
	// tagOf is set when value holds the tag alone: the repository the tag
	// belongs to, registry included.
	tagOf string
}

// ref is the full reference, as the registry is asked about it.
func (c chartImage) ref() string {
	if c.tagOf != "" {
		return c.tagOf + ":" + c.value.Value
	}
	if c.registry != "" {
		return c.registry + "/" + c.value.Value
	}
	return c.value.Value
}

// annotationError is a HelmRelease annotation that cannot be used, with
// the line of its key.
type annotationError struct {
	key  string
	line int
	err  error
}

func (e *annotationError) Error() string { return fmt.Sprintf("annotation %s: %v", e.key, e.err) }
func (e *annotationError) Unwrap() error { return e.err }

// annotations are a document's metadata.annotations: values and the lines
// of their keys. Keys with a value that is not a scalar are kept with a
// nil node, so mapping annotations can refuse them.
type annotations struct {
	value map[string]string
	line  map[string]int
	node  map[string]*yaml.Node
}

func readAnnotations(root *yaml.Node) annotations {
	a := annotations{value: map[string]string{}, line: map[string]int{}, node: map[string]*yaml.Node{}}
	if m := lookup(root, "metadata", "annotations"); m != nil && m.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			a.value[k.Value] = v.Value
			a.line[k.Value] = k.Line
			a.node[k.Value] = v
		}
	}
	return a
}

// chartImages finds the images of values as Flux v1 did, in Flux v1's
// order: chart-image first, then by name. An unusable mapping annotation
// is an error and no image is returned, so a typo never leaves part of a
// release automated and part silently not.
func chartImages(values *yaml.Node, ann annotations) ([]chartImage, error) {
	found := map[string]chartImage{}
	if values != nil && values.Kind == yaml.MappingNode {
		if img, ok := asContainer(values); ok {
			img.name = ReleaseContainerName
			found[img.name] = img
		}
		for i := 0; i+1 < len(values.Content); i += 2 {
			k, v := values.Content[i], values.Content[i+1]
			if v.Kind != yaml.MappingNode {
				continue
			}
			if img, ok := asContainer(v); ok {
				img.name = k.Value
				found[img.name] = img
			}
		}
	}
	mapped, err := mappedImages(values, ann)
	if err != nil {
		return nil, err
	}
	for _, img := range mapped {
		found[img.name] = img
	}
	out := make([]chartImage, 0, len(found))
	for _, img := range found {
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].name == ReleaseContainerName) != (out[j].name == ReleaseContainerName) {
			return out[i].name == ReleaseContainerName
		}
		return out[i].name < out[j].name
	})
	return out, nil
}

// asContainer reads M.image as a string (with M.registry and M.tag
// beside it) or as a repository/tag/registry mapping. A value that is not
// an image reference is not an image: values are the chart's, and many
// keys called image mean something else.
func asContainer(m *yaml.Node) (chartImage, bool) {
	img := lookup(m, "image")
	switch {
	case isText(img):
		c, err := interpret(img, lookup(m, "registry"), lookup(m, "tag"))
		return c, err == nil
	case img != nil && img.Kind == yaml.MappingNode:
		repo := lookup(img, "repository")
		if !isText(repo) {
			return chartImage{}, false
		}
		c, err := interpret(repo, lookup(img, "registry"), lookup(img, "tag"))
		return c, err == nil
	}
	return chartImage{}, false
}

// interpret puts an image together from the scalar holding the
// repository (and the tag, unless tag is set) and the optional registry
// and tag beside it. The error says the result is no image reference.
func interpret(repo, registry, tag *yaml.Node) (chartImage, error) {
	c := chartImage{value: repo}
	// A registry is a string; a tag may read as a number (tag: 1.0),
	// which the chart's templates print all the same.
	if isText(registry) && registry.ShortTag() == "!!str" {
		c.registry = registry.Value
	}
	if isText(tag) && (tag.ShortTag() == "!!str" || tag.ShortTag() == "!!int" || tag.ShortTag() == "!!float") {
		r, _, _ := SplitImage(repo.Value)
		if c.registry != "" {
			r = c.registry + "/" + r
		}
		c = chartImage{value: tag, tagOf: r}
	}
	_, err := name.ParseReference(c.ref())
	return c, err
}

// isText reports whether n is a scalar tidegate can read and rewrite in
// place: not null, not an alias, on one line.
func isText(n *yaml.Node) bool {
	return n != nil && n.Kind == yaml.ScalarNode && n.Tag != "!!null" && n.Value != "" && !strings.Contains(n.Value, "\n") &&
		n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) == 0
}

// mappedImages reads the repository/tag/registry.fluxcd.io annotations.
func mappedImages(values *yaml.Node, ann annotations) ([]chartImage, error) {
	type paths struct{ registry, repository, tag string }
	aliases := map[string]*paths{}
	var keys []string
	for k := range ann.value {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		var prefix string
		for _, p := range []string{registryPathPrefix, repositoryPathPrefix, tagPathPrefix} {
			if strings.HasPrefix(k, p) {
				prefix = p
			}
		}
		if prefix == "" {
			continue
		}
		alias := strings.TrimPrefix(k, prefix)
		if alias == "" {
			errs = append(errs, &annotationError{k, ann.line[k], fmt.Errorf("names no image: write %s<name>, the name its filter.fluxcd.io/<name> uses", prefix)})
			continue
		}
		if n := ann.node[k]; n.Kind != yaml.ScalarNode || n.Value == "" {
			errs = append(errs, &annotationError{k, ann.line[k], errors.New("wants a dot path below spec.values as a string, such as image.tag")})
			continue
		}
		p := aliases[alias]
		if p == nil {
			p = &paths{}
			aliases[alias] = p
		}
		switch prefix {
		case registryPathPrefix:
			p.registry = k
		case repositoryPathPrefix:
			p.repository = k
		case tagPathPrefix:
			p.tag = k
		}
	}
	var out []chartImage
	for _, alias := range sortedKeys(aliases) {
		p := aliases[alias]
		if p.repository == "" {
			for _, k := range []string{p.registry, p.tag} {
				if k != "" {
					errs = append(errs, &annotationError{k, ann.line[k], fmt.Errorf("needs %s%s too, the path of the image repository (Flux v1 ignored it without)", repositoryPathPrefix, alias)})
				}
			}
			continue
		}
		resolve := func(k string) *yaml.Node {
			if k == "" {
				return nil
			}
			n, err := valuesPath(values, ann.value[k])
			if err != nil {
				errs = append(errs, &annotationError{k, ann.line[k], err})
			}
			return n
		}
		repo, registry, tag := resolve(p.repository), resolve(p.registry), resolve(p.tag)
		if repo == nil || p.registry != "" && registry == nil || p.tag != "" && tag == nil {
			continue
		}
		c, err := interpret(repo, registry, tag)
		if err != nil {
			errs = append(errs, &annotationError{p.repository, ann.line[p.repository], fmt.Errorf("the values it maps make %q, which is not an image reference; point it at the field holding the repository (name, or name:tag when alone)", c.ref())})
			continue
		}
		c.name = alias
		out = append(out, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// valuesPath follows a Flux v1 dot path below spec.values to the scalar
// it names. Only mapping keys are followed: a path cannot leave
// spec.values, index a list or end on anything but a one-line scalar.
func valuesPath(values *yaml.Node, path string) (*yaml.Node, error) {
	parts := strings.Split(path, ".")
	for _, p := range parts {
		if p == "" || strings.ContainsAny(p, "/\\[]") {
			return nil, fmt.Errorf("path %q leads outside spec.values: write a dot path of keys below spec.values, such as image.tag", path)
		}
	}
	n := values
	for i, p := range parts {
		at := strings.Join(parts[:i], ".")
		switch {
		case n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null":
			if i == 0 {
				return nil, fmt.Errorf("path %q: the HelmRelease has no spec.values", path)
			}
			return nil, fmt.Errorf("path %q: spec.values.%s is empty", path, at)
		case n.Kind == yaml.SequenceNode:
			return nil, fmt.Errorf("path %q: spec.values.%s is a list; dot paths cannot index lists, so map an image outside it", path, at)
		case n.Kind != yaml.MappingNode:
			return nil, fmt.Errorf("path %q: spec.values.%s is a scalar, not a mapping", path, at)
		}
		next := lookup(n, p)
		if next == nil {
			if strings.HasPrefix(path, "spec.values.") {
				return nil, fmt.Errorf("path %q: paths are relative to spec.values; write %s", path, strings.TrimPrefix(path, "spec.values."))
			}
			return nil, fmt.Errorf("path %q: spec.values has no %s; write the path of the field that holds it", path, strings.Join(parts[:i+1], "."))
		}
		n = next
	}
	if !isText(n) {
		return nil, fmt.Errorf("path %q: spec.values.%s is not a one-line string, which is what tidegate can rewrite", path, path)
	}
	return n, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ChartImage is an image a Flux v1 helm-operator HelmRelease names in
// its values.
type ChartImage struct {
	// Name is chart-image, the key under spec.values holding the image,
	// or the alias of a repository.fluxcd.io/<alias> annotation: the name
	// filter.fluxcd.io/<name> uses.
	Name string
	// Image is the full reference, registry and tag included.
	Image string
}

// HelmReleaseImages lists the images of a Flux v1 helm-operator
// HelmRelease as decoded from a render, the way Load reads them from its
// file. It returns nothing for other objects.
func HelmReleaseImages(obj map[string]any) ([]ChartImage, error) {
	var doc yaml.Node
	if err := doc.Encode(obj); err != nil {
		return nil, err
	}
	apiVersion, kind := str(&doc, "apiVersion"), str(&doc, "kind")
	group, _, _ := strings.Cut(apiVersion, "/")
	id := object.ID{Group: group, Kind: kind, Namespace: str(&doc, "metadata", "namespace"), Name: str(&doc, "metadata", "name")}
	if !helmOperatorRelease(id) {
		return nil, nil
	}
	imgs, err := chartImages(lookup(&doc, "spec", "values"), readAnnotations(&doc))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	out := make([]ChartImage, 0, len(imgs))
	for _, c := range imgs {
		out = append(out, ChartImage{Name: c.name, Image: c.ref()})
	}
	return out, nil
}

// releaseSites records the images of an automated helm-operator
// HelmRelease. Any unusable annotation fails the whole release, with no
// Site, so that nothing of it is rewritten until it is fixed.
func (s *Sources) releaseSites(file string, root *yaml.Node, id object.ID, ann annotations, st *v1State) error {
	imgs, err := chartImages(lookup(root, "spec", "values"), ann)
	if err != nil {
		return releaseError(file, root, id, err)
	}
	var sites []Site
	var errs []error
	names := map[string]bool{}
	for _, img := range imgs {
		names[img.name] = true
		raw, line, key := v1Filter(ann, img.name)
		pat, err := policy.ParsePattern(raw)
		if err != nil {
			errs = append(errs, &annotationError{key, line, fmt.Errorf("%w; write semver:<range>, glob:<pattern> or regex:<expression>", err)})
			continue
		}
		v := img.value
		if _, err := marker.Parse(v.LineComment); !errors.Is(err, marker.ErrNoMarker) {
			continue // a setter marker takes precedence
		}
		sites = append(sites, Site{File: file, Line: v.Line, Column: v.Column, Object: id, Container: img.name,
			Value: v.Value, Style: v.Style, Pattern: &pat, Locked: st.locked, Registry: img.registry, TagOf: img.tagOf})
	}
	if len(errs) > 0 {
		return releaseError(file, root, id, errors.Join(errs...))
	}
	// A filter for a name the values do not have filters nothing: most
	// likely a typo, which Flux v1 passed over in silence.
	var have []string
	for _, img := range imgs {
		have = append(have, img.name)
	}
	for _, k := range sortedKeys(ann.value) {
		var n string
		for _, p := range []string{"filter.fluxcd.io/", "filter.flux.weave.works/", "fluxcd.io/tag.", "flux.weave.works/tag."} {
			if strings.HasPrefix(k, p) {
				n = strings.TrimPrefix(k, p)
			}
		}
		if n != "" && !names[n] {
			s.Warnings = append(s.Warnings, fmt.Sprintf("%s:%d: %s: annotation %s names no image of the release (it has %s); it filters nothing",
				file, ann.line[k], id, k, orNone(have)))
		}
	}
	for _, site := range sites {
		for _, img := range imgs {
			if img.value.Line == site.Line && img.value.Column == site.Column {
				st.handled[img.value] = true
			}
		}
	}
	s.Sites = append(s.Sites, sites...)
	return nil
}

// releaseError puts every annotation problem of a release on its own
// line: file:line: Kind/namespace/name: annotation …: what to write.
func releaseError(file string, root *yaml.Node, id object.ID, err error) error {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	var out []error
	for _, e := range list {
		line := root.Line
		var ae *annotationError
		if errors.As(e, &ae) && ae.line > 0 {
			line = ae.line
		}
		out = append(out, &FileError{File: file, Line: line, Err: fmt.Errorf("%s: %w (nothing in the release is changed until it is fixed)", id, e)})
	}
	return errors.Join(out...)
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// helmValuePaths names the mappings of a HelmRelease's spec.values by
// their dot path (spec.values itself is chart-image, as in Flux v1), so
// that a marker there is listed under the part of the values it sits in
// rather than under a name key a chart's values rarely have.
func helmValuePaths(root *yaml.Node, id object.ID) map[*yaml.Node]string {
	if id.Kind != "HelmRelease" {
		return nil
	}
	values := lookup(root, "spec", "values")
	if values == nil || values.Kind != yaml.MappingNode {
		return nil
	}
	out := map[*yaml.Node]string{values: ReleaseContainerName}
	var walk func(n *yaml.Node, path string, depth int)
	walk = func(n *yaml.Node, path string, depth int) {
		if depth > 64 {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind != yaml.MappingNode {
				continue
			}
			p := strings.TrimPrefix(path+"."+k.Value, ".")
			if _, seen := out[v]; !seen {
				out[v] = p
				walk(v, p, depth+1)
			}
		}
	}
	walk(values, "", 0)
	return out
}
