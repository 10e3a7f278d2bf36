package images

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/tidegate/tidegate/images/marker"
	"github.com/tidegate/tidegate/images/policy"
	"github.com/tidegate/tidegate/internal/yamlfiles"
	"github.com/tidegate/tidegate/object"
)

// Sources is what a repository declares about image automation, parsed
// once. File paths are relative to the directory Load was given, with
// forward slashes.
type Sources struct {
	Repositories map[string]*ImageRepository // by "namespace:name"
	Policies     map[string]*ImagePolicy     // by "namespace:name"
	// Secrets are the dockerconfigjson Secrets found in the tree, by
	// "namespace/name", as .dockerconfigjson bytes.
	Secrets map[string][]byte
	// Sites are the scalars automation may rewrite, in file order.
	Sites []Site
	// Files holds the content of every file that has a Site.
	Files map[string][]byte
	// Workloads are the workloads whose Flux v1 annotations say
	// automated, locked or ignore, in file order. A locked or ignored
	// workload may have no Site at all; listings need it anyway.
	Workloads []Workload
	// Warnings are problems that do not stop a run.
	Warnings []string
	// Skipped are the YAML names the walk passed over (dangling links,
	// links to directories, devices), "file: reason", logged at debug.
	Skipped []string
}

// ImageRepository is a Flux v2 ImageRepository.
type ImageRepository struct {
	Key       string // namespace:name
	File      string
	Line      int
	Image     string
	Exclude   policy.Exclude
	SecretRef string // Secret name in the same namespace
	Insecure  bool
}

// ImagePolicy is a Flux v2 ImagePolicy.
type ImagePolicy struct {
	Key        string // namespace:name
	File       string
	Line       int
	Repository string // key of the ImageRepository
	Policer    policy.Policer
	// ReflectDigest is set when spec.digestReflectionPolicy asks for
	// "name:tag@digest" references.
	ReflectDigest bool
}

// Site is one scalar automation may rewrite: a field with a setter
// marker, or the image of a container in a Flux v1 automated workload.
type Site struct {
	File      string
	Line      int // 1-based, of the scalar
	Column    int // 1-based, in characters
	Object    object.ID
	Container string // the name of the container or kustomize image entry holding the field
	Value     string
	Style     yaml.Style

	// Marker is set for Flux v2 setter markers.
	Marker *marker.Marker
	// Pattern is set for Flux v1 annotated containers.
	Pattern *policy.Pattern
	// Locked workloads (fluxcd.io/locked) are reported but never changed.
	Locked bool
	// Registry is set when a Flux v1 HelmRelease keeps the image's
	// registry in a field of its own: it goes before the repository in
	// Value, which holds the rest of the reference.
	Registry string
	// TagOf is set when a Flux v1 HelmRelease keeps the tag in a field
	// of its own: Value is the tag alone, TagOf the repository it
	// belongs to.
	TagOf string
}

// V1Image is the repository a Flux v1 Site's registry is asked about,
// and the tag the Site holds now.
func (s Site) V1Image() (repo, tag string) {
	if s.TagOf != "" {
		return s.TagOf, s.Value
	}
	repo, tag, _ = SplitImage(s.Value)
	if s.Registry != "" {
		repo = s.Registry + "/" + repo
	}
	return repo, tag
}

// Workload is what a Deployment, StatefulSet, DaemonSet, CronJob, Job or
// helm-operator HelmRelease declares with Flux v1 annotations (fluxcd.io/
// or flux.weave.works/).
type Workload struct {
	File   string
	Object object.ID
	// Line is that of the annotation that decides what automation does
	// with the workload: ignore, else locked, else automated.
	Line      int
	Automated bool
	Locked    bool
	Ignored   bool
}

// FileError locates a problem in the tree.
type FileError struct {
	File string
	Line int // 0 when unknown
	Err  error
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// Load walks paths (relative to dir; "." when empty) and parses every
// *.yaml, *.yml and Kustomization file below them. Errors in individual files are joined;
// the Sources hold everything that parsed.
func Load(dir string, paths ...string) (*Sources, error) {
	s := &Sources{
		Repositories: map[string]*ImageRepository{},
		Policies:     map[string]*ImagePolicy{},
		Secrets:      map[string][]byte{},
		Files:        map[string][]byte{},
	}
	var errs []error
	if err := yamlfiles.Walk(dir, paths, func(rel string, data []byte) {
		if err := s.parseFile(rel, data); err != nil {
			errs = append(errs, err)
		}
	}, yamlfiles.OnSkip(func(rel, reason string) {
		s.Skipped = append(s.Skipped, rel+": "+reason)
	})); err != nil {
		errs = append(errs, err)
	}
	sort.SliceStable(s.Sites, func(i, j int) bool {
		a, b := s.Sites[i], s.Sites[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
	})
	sort.SliceStable(s.Workloads, func(i, j int) bool {
		a, b := s.Workloads[i], s.Workloads[j]
		return a.File < b.File || a.File == b.File && a.Line < b.Line
	})
	return s, errors.Join(errs...)
}

func (s *Sources) parseFile(file string, data []byte) error {
	// Cheap screen first: most manifests mention neither markers, Flux
	// kinds nor Flux v1 annotations.
	if !bytes.Contains(data, []byte(marker.Key)) && !bytes.Contains(data, []byte("image.toolkit.fluxcd.io")) &&
		!bytes.Contains(data, []byte("fluxcd.io/")) && !bytes.Contains(data, []byte("flux.weave.works/")) &&
		!bytes.Contains(data, []byte("dockerconfigjson")) {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var errs []error
	nsites := len(s.Sites)
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return &FileError{File: file, Err: fmt.Errorf("not valid YAML: %w", err)}
		}
		if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			continue
		}
		if err := s.parseDocument(file, doc.Content[0]); err != nil {
			errs = append(errs, err)
		}
	}
	if len(s.Sites) > nsites {
		s.Files[file] = data
	}
	return errors.Join(errs...)
}

func (s *Sources) parseDocument(file string, root *yaml.Node) error {
	apiVersion := str(root, "apiVersion")
	kind := str(root, "kind")
	group, _, _ := strings.Cut(apiVersion, "/")
	if !strings.Contains(apiVersion, "/") {
		group = ""
	}
	id := object.ID{Group: group, Kind: kind, Namespace: str(root, "metadata", "namespace"), Name: str(root, "metadata", "name")}
	key := id.Namespace + ":" + id.Name
	fail := func(line int, err error) error {
		return &FileError{File: file, Line: line, Err: fmt.Errorf("%s: %w", id, err)}
	}

	switch {
	case group == "image.toolkit.fluxcd.io" && kind == "ImageRepository":
		r := &ImageRepository{Key: key, File: file, Line: root.Line, Image: str(root, "spec", "image"),
			SecretRef: str(root, "spec", "secretRef", "name"), Insecure: str(root, "spec", "insecure") == "true"}
		if r.Image == "" {
			return fail(root.Line, errors.New("spec.image is empty"))
		}
		var ex []string
		for _, n := range seq(root, "spec", "exclusionList") {
			ex = append(ex, n.Value)
		}
		var err error
		if r.Exclude, err = policy.NewExclude(ex); err != nil {
			return fail(lineOf(root, "spec", "exclusionList"), err)
		}
		s.Repositories[key] = r
		return nil
	case group == "image.toolkit.fluxcd.io" && kind == "ImagePolicy":
		p, err := parsePolicy(root, id)
		if err != nil {
			var le *lineError
			if errors.As(err, &le) {
				return fail(le.line, le.err)
			}
			return fail(root.Line, err)
		}
		p.File, p.Line = file, root.Line
		s.Policies[key] = p
		return nil
	case group == "" && kind == "Secret" && str(root, "type") == "kubernetes.io/dockerconfigjson":
		if v := str(root, "stringData", ".dockerconfigjson"); v != "" {
			s.Secrets[id.Namespace+"/"+id.Name] = []byte(v)
		} else if v := str(root, "data", ".dockerconfigjson"); v != "" {
			raw, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				// SOPS-encrypted secrets land here: their values are
				// ENC[...] until render decrypts them.
				s.Warnings = append(s.Warnings, fmt.Sprintf("%s: %s: .dockerconfigjson is not base64 (encrypted?); pass the decrypted Secret to tidegate instead", file, id))
				return nil
			}
			s.Secrets[id.Namespace+"/"+id.Name] = raw
		}
		return nil
	}

	v1, err := s.parseV1(file, root, id)
	if err != nil {
		return err
	}
	return s.findMarkers(file, root, id, v1)
}

// v1State is what a workload's Flux v1 annotations say.
type v1State struct {
	locked bool
	// handled holds the scalars the v1 automation already owns.
	handled map[*yaml.Node]bool
	// names are the Flux v1 names of a helm-operator HelmRelease's image
	// scalars, so a marker on one is listed under the same name.
	names map[*yaml.Node]string
}

var v1Prefixes = []string{"fluxcd.io/", "flux.weave.works/"}

func (s *Sources) parseV1(file string, root *yaml.Node, id object.ID) (v1State, error) {
	st := v1State{handled: map[*yaml.Node]bool{}}
	podPath, ok := v1PodSpec(id.Kind)
	release := helmOperatorRelease(id)
	if !ok && !release {
		return st, nil
	}
	annotations := readAnnotations(root)
	ann, annLine := annotations.value, annotations.line
	if release {
		// Errors are reported below when the release is automated.
		imgs, _ := chartImages(lookup(root, "spec", "values"), annotations)
		st.names = map[*yaml.Node]string{}
		for _, img := range imgs {
			st.names[img.value] = img.name
		}
	}
	at := func(name string) (string, int) {
		for _, p := range v1Prefixes {
			if v, ok := ann[p+name]; ok {
				return v, annLine[p+name]
			}
		}
		return "", 0
	}
	get := func(name string) string {
		v, _ := at(name)
		return v
	}
	w := Workload{File: file, Object: id, Automated: get("automated") == "true", Locked: get("locked") == "true", Ignored: get("ignore") == "true"}
	for _, name := range []string{"ignore", "locked", "automated"} {
		if v, line := at(name); v == "true" {
			w.Line = line
			break
		}
	}
	if w.Line > 0 {
		s.Workloads = append(s.Workloads, w)
	}
	if w.Ignored {
		st.locked = true
		return st, nil
	}
	st.locked = w.Locked
	if !w.Automated {
		return st, nil
	}
	if release {
		return st, s.releaseSites(file, root, id, annotations, &st)
	}
	var errs []error
	for _, list := range []string{"initContainers", "containers"} {
		for _, c := range seq(root, append(slices.Clone(podPath), list)...) {
			cname := str(c, "name")
			img := lookup(c, "image")
			if img == nil || img.Kind != yaml.ScalarNode {
				continue
			}
			if _, err := marker.Parse(img.LineComment); !errors.Is(err, marker.ErrNoMarker) {
				continue // a setter marker takes precedence
			}
			raw, line, _ := v1Filter(annotations, cname)
			if line == 0 {
				line = root.Line
			}
			pat, err := policy.ParsePattern(raw)
			if err != nil {
				errs = append(errs, &FileError{File: file, Line: line, Err: fmt.Errorf("%s: container %s: %w", id, cname, err)})
				continue
			}
			st.handled[img] = true
			s.Sites = append(s.Sites, Site{File: file, Line: img.Line, Column: img.Column, Object: id, Container: cname,
				Value: img.Value, Style: img.Style, Pattern: &pat, Locked: st.locked})
		}
	}
	return st, errors.Join(errs...)
}

// v1Filter is the Flux v1 tag filter of a container, "glob:*" when the
// annotations give none, with the line and key of the annotation.
func v1Filter(a annotations, container string) (raw string, line int, key string) {
	for _, k := range []string{"fluxcd.io/tag." + container, "flux.weave.works/tag." + container, "filter.fluxcd.io/" + container, "filter.flux.weave.works/" + container} {
		if v, ok := a.value[k]; ok && v != "" {
			return v, a.line[k], k
		}
	}
	return "glob:*", 0, ""
}

// findMarkers visits every scalar of the document and records those with
// a setter marker. yaml.v3 attaches "key: value # comment" to the value;
// a comment it attached to the key of a scalar value counts too.
func (s *Sources) findMarkers(file string, root *yaml.Node, id object.ID, v1 v1State) error {
	var errs []error
	var visit func(n *yaml.Node, container string)
	add := func(val *yaml.Node, comment, container string) {
		m, err := marker.Parse(comment)
		if errors.Is(err, marker.ErrNoMarker) {
			return
		}
		if err != nil {
			errs = append(errs, &FileError{File: file, Line: val.Line, Err: err})
			return
		}
		if v1.handled[val] {
			return
		}
		if name, ok := v1.names[val]; ok {
			container = name
		}
		s.Sites = append(s.Sites, Site{File: file, Line: val.Line, Column: val.Column, Object: id, Container: container,
			Value: val.Value, Style: val.Style, Marker: &m, Locked: v1.locked})
	}
	valuePaths := helmValuePaths(root, id)
	visit = func(n *yaml.Node, container string) {
		switch n.Kind {
		case yaml.MappingNode:
			if p, ok := valuePaths[n]; ok {
				container = p
			} else if name := lookup(n, "name"); name != nil && name.Kind == yaml.ScalarNode {
				container = name.Value
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Kind == yaml.ScalarNode {
					comment := v.LineComment
					if comment == "" {
						comment = k.LineComment
					}
					add(v, comment, container)
					continue
				}
				visit(v, container)
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				if c.Kind == yaml.ScalarNode {
					add(c, c.LineComment, container)
					continue
				}
				visit(c, container)
			}
		}
	}
	visit(root, "")
	return errors.Join(errs...)
}

type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return e.err.Error() }

func parsePolicy(root *yaml.Node, id object.ID) (*ImagePolicy, error) {
	p := &ImagePolicy{Key: id.Namespace + ":" + id.Name}
	repoNS := str(root, "spec", "imageRepositoryRef", "namespace")
	if repoNS == "" {
		repoNS = id.Namespace
	}
	repoName := str(root, "spec", "imageRepositoryRef", "name")
	if repoName == "" {
		return nil, errors.New("spec.imageRepositoryRef.name is empty")
	}
	p.Repository = repoNS + ":" + repoName
	switch v := str(root, "spec", "digestReflectionPolicy"); v {
	case "", "Never":
	case "Always", "IfNotPresent":
		p.ReflectDigest = true
	default:
		return nil, &lineError{lineOf(root, "spec", "digestReflectionPolicy"), fmt.Errorf("spec.digestReflectionPolicy %q: want Always, IfNotPresent or Never", v)}
	}

	var inner policy.Policer
	var err error
	choice := lookup(root, "spec", "policy")
	switch {
	case lookup(choice, "semver") != nil:
		inner, err = policy.NewSemVer(str(choice, "semver", "range"))
		if err != nil {
			return nil, &lineError{lineOf(choice, "semver", "range"), err}
		}
	case lookup(choice, "alphabetical") != nil:
		inner, err = policy.NewAlphabetical(str(choice, "alphabetical", "order"))
		if err != nil {
			return nil, &lineError{lineOf(choice, "alphabetical", "order"), err}
		}
	case lookup(choice, "numerical") != nil:
		inner, err = policy.NewNumerical(str(choice, "numerical", "order"))
		if err != nil {
			return nil, &lineError{lineOf(choice, "numerical", "order"), err}
		}
	default:
		return nil, errors.New("spec.policy needs one of semver, alphabetical or numerical")
	}
	if f := lookup(root, "spec", "filterTags"); f != nil {
		inner, err = policy.NewFilter(str(f, "pattern"), str(f, "extract"), inner)
		if err != nil {
			return nil, &lineError{lineOf(f, "pattern"), err}
		}
	}
	p.Policer = inner
	return p, nil
}

// lookup follows mapping keys from n; nil when a key is missing.
func lookup(n *yaml.Node, path ...string) *yaml.Node {
	for _, key := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}

func str(n *yaml.Node, path ...string) string {
	v := lookup(n, path...)
	if v == nil || v.Kind != yaml.ScalarNode {
		return ""
	}
	return v.Value
}

func seq(n *yaml.Node, path ...string) []*yaml.Node {
	v := lookup(n, path...)
	if v == nil || v.Kind != yaml.SequenceNode {
		return nil
	}
	return v.Content
}

func lineOf(n *yaml.Node, path ...string) int {
	if v := lookup(n, path...); v != nil {
		return v.Line
	}
	if n != nil {
		return n.Line
	}
	return 0
}

// v1PodSpec is the pod spec path of the kinds Flux v1 automated.
func v1PodSpec(kind string) ([]string, bool) {
	switch kind {
	case "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob":
		return object.PodSpecPath(kind)
	}
	return nil, false
}
