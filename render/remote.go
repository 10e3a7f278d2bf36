package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Kustomize leaves the repository in three ways: a resources, bases or
// components entry that names a Git repository is cloned by running the
// git binary; any file entry that is an http(s) URL is downloaded; and
// helm charts and plugins run programs. krusty has no option that turns
// the first two off (its loader always clones with git and downloads
// with its own HTTP client), so every kustomization a build reaches is
// read here first, as kustomize would read it, and an entry that leaves
// the repository is refused before krusty runs. kustomize-controller's
// --no-remote-bases relies on its filesystem refusing the clone's
// directory, after git has run; refusing the entry is earlier.
//
// The same check runs again on every kustomization krusty itself reads
// through repoFS, so an entry the scan did not reach is still refused
// before krusty acts on it.

// RemoteError is a kustomization entry that would make kustomize reach
// beyond the repository.
type RemoteError struct {
	// File is the repository-relative kustomization (or plugin config).
	File string
	// Field is the field holding the entry, e.g. resources or
	// configMapGenerator[settings].files.
	Field string
	// Entry is the entry as written.
	Entry string
	// Why says what kustomize would do with it.
	Why string
	// Fix says what to do instead.
	Fix string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("%s: %s: %q %s; tidegate renders only files of the repository, with no network and no subprocess (%s)", e.File, e.Field, e.Entry, e.Why, e.Fix)
}

const (
	whyBase   = "is a remote base: kustomize would clone it with the git binary or download it"
	whyURL    = "is a URL: kustomize would download it"
	whyHelm   = "inflates a Helm chart: kustomize would run the helm binary, which downloads the chart"
	whyPlugin = "is a plugin: kustomize would run a program"
	fixBase   = "vendor the base into the repository and refer to it by its relative path"
	fixFile   = "copy the file into the repository and refer to it by its relative path"
	fixHelm   = "render the chart into the repository (helm template) and list the output in resources"
	fixPlugin = "commit the plugin's output and list it in resources; tidegate runs only kustomize's builtin generators and transformers"
)

// scpUser is the user@ of an scp-like Git address (git@github.com:org/repo).
var scpUser = regexp.MustCompile(`^[a-z][a-z0-9-]*@`)

// isRemote reports whether kustomize would read entry from somewhere
// other than the local filesystem. It errs on the side of refusing: it
// covers every form kustomize's loader accepts as a Git repository
// (scheme ssh, https, http or file, a git:: prefix, user@host:path,
// github.com/...) and every URL it downloads, and also any other
// scheme://, so a local path spelled like an address is refused too.
func isRemote(entry string) bool {
	s := strings.ToLower(strings.TrimSpace(entry))
	switch {
	case s == "":
		return false
	case strings.Contains(s, "://"),
		strings.HasPrefix(s, "git::"),
		strings.HasPrefix(s, "github.com/"), strings.HasPrefix(s, "github.com:"),
		scpUser.MatchString(s):
		return true
	}
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "http", "https", "ssh", "file", "git", "git+ssh", "ssh+git":
		return true // "https:host/path" parses too
	}
	return false
}

// kustomizationChecks refuses every entry of one kustomization that
// leaves the repository. file names it in errors. It reads no file.
// helm says whether an inflater will render its helmCharts; without
// one, they are refused.
func kustomizationChecks(file string, k *types.Kustomization, helm bool) error {
	var errs []error
	refuse := func(field, entry, why, fix string) {
		errs = append(errs, &RemoteError{File: file, Field: field, Entry: entry, Why: why, Fix: fix})
	}
	bases := func(field string, entries []string) {
		for _, e := range entries {
			if isRemote(e) {
				refuse(field, e, whyBase, fixBase)
			}
		}
	}
	files := func(field string, entries ...string) {
		for _, e := range entries {
			if isRemote(e) {
				refuse(field, e, whyURL, fixFile)
			}
		}
	}
	bases("resources", k.Resources)
	bases("bases", k.Bases)
	bases("components", k.Components)
	files("crds", k.Crds...)
	files("configurations", k.Configurations...)
	if p, ok := k.OpenAPI["path"]; ok {
		files("openapi.path", p)
	}
	for _, p := range k.PatchesStrategicMerge {
		// An entry is a file or an inline patch; an inline patch is
		// several lines and never looks like an address.
		if s := string(p); !strings.Contains(s, "\n") {
			files("patchesStrategicMerge", s)
		}
	}
	for i, p := range k.PatchesJson6902 {
		files(fmt.Sprintf("patchesJson6902[%d].path", i), p.Path)
	}
	for i, p := range k.Patches {
		files(fmt.Sprintf("patches[%d].path", i), p.Path)
	}
	for i, r := range k.Replacements {
		files(fmt.Sprintf("replacements[%d].path", i), r.Path)
	}
	generator := func(kind, name string, src types.KvPairSources) {
		field := fmt.Sprintf("%s[%s]", kind, name)
		for _, f := range src.FileSources {
			// key=path or path
			_, path, _ := strings.Cut(f, "=")
			if isRemote(f) || isRemote(path) {
				refuse(field+".files", f, whyURL, fixFile)
			}
		}
		files(field+".envs", src.EnvSources...)
		files(field+".env", src.EnvSource)
	}
	for _, g := range k.ConfigMapGenerator {
		generator("configMapGenerator", g.Name, g.KvPairSources)
	}
	for _, g := range k.SecretGenerator {
		generator("secretGenerator", g.Name, g.KvPairSources)
	}
	if helm {
		errs = append(errs, helmChecks(file, k)...)
	} else {
		for _, h := range k.HelmCharts {
			refuse(fmt.Sprintf("helmCharts[%s]", h.Name), h.Repo+" "+h.Name+" "+h.Version, whyHelm, fixHelm)
		}
		for _, h := range k.HelmChartInflationGenerator {
			refuse(fmt.Sprintf("helmChartInflationGenerator[%s]", h.ChartName), h.ChartRepoURL+" "+h.ChartName, whyHelm, fixHelm)
		}
	}
	for field, entries := range map[string][]string{"generators": k.Generators, "transformers": k.Transformers, "validators": k.Validators} {
		for _, e := range entries {
			if !strings.Contains(e, "\n") {
				bases(field, []string{e})
				continue
			}
			// An inline plugin config.
			for _, c := range pluginDocs([]byte(e)) {
				if err := pluginConfigChecks(file, field, c); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// inlineChecks bounds the YAML kustomize parses out of a
// kustomization's strings (inline patches, inline plugin configs): each
// is a stream of its own, which the file's count did not see into.
func inlineChecks(file string, k *types.Kustomization, lim limits) error {
	check := func(field, text string) error {
		if !strings.Contains(text, "\n") && !strings.Contains(text, "&") {
			return nil // a path, or YAML without anchors
		}
		return checkYAML(file+" ("+field+")", []byte(text), lim, false)
	}
	var errs []error
	for i, p := range k.Patches {
		errs = append(errs, check(fmt.Sprintf("patches[%d].patch", i), p.Patch))
	}
	for i, p := range k.PatchesJson6902 {
		errs = append(errs, check(fmt.Sprintf("patchesJson6902[%d].patch", i), p.Patch))
	}
	for i, p := range k.PatchesStrategicMerge {
		errs = append(errs, check(fmt.Sprintf("patchesStrategicMerge[%d]", i), string(p)))
	}
	for field, list := range map[string][]string{"generators": k.Generators, "transformers": k.Transformers, "validators": k.Validators} {
		for i, e := range list {
			errs = append(errs, check(fmt.Sprintf("%s[%d]", field, i), e))
		}
	}
	return errors.Join(errs...)
}

// parseKustomization reads a kustomization as krusty does (so that a
// field kustomize sees is a field checked here: same decoder, same
// case-insensitive keys, same first document), with its line numbers
// checked first.
func parseKustomization(name string, data []byte, lim limits) (*types.Kustomization, error) {
	if err := checkYAML(name, data, lim, true); err != nil {
		return nil, err
	}
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("%s: %w (fix the kustomization)", name, err)
	}
	if err := inlineChecks(name, &k, lim); err != nil {
		return nil, err
	}
	return &k, nil
}

// builtinVersion is the apiVersion of kustomize's builtin plugin configs.
const builtinVersion = "builtin"

// pluginFileKeys are the keys of builtin generator and transformer
// configs that name files (ConfigMapGenerator files/envs/env, patch
// path(s), ReplacementTransformer replacements[].path,
// ValueAddTransformer targetFilePath, Helm values files). kustomize
// decodes these configs case-insensitively, so they are compared in
// lower case.
var pluginFileKeys = map[string]bool{
	"files": true, "envs": true, "env": true, "path": true, "paths": true,
	"targetfilepath": true, "valuesfile": true, "additionalvaluesfiles": true,
}

// pluginConfigChecks refuses a generator, transformer or validator
// config that is not one of kustomize's builtins, that is a KRM
// function, that inflates a Helm chart, or that names a URL.
func pluginConfigChecks(file, field string, c map[string]any) error {
	apiVersion, _ := c["apiVersion"].(string)
	kind, _ := c["kind"].(string)
	name := kind
	if md, ok := c["metadata"].(map[string]any); ok {
		if n, ok := md["name"].(string); ok {
			name = kind + "/" + n
		}
		if an, ok := md["annotations"].(map[string]any); ok {
			for _, k := range []string{"config.kubernetes.io/function", "config.k8s.io/function"} {
				if _, fn := an[k]; fn {
					return &RemoteError{File: file, Field: field, Entry: apiVersion + " " + name, Why: whyPlugin + " (a KRM function: exec, container or starlark)", Fix: fixPlugin}
				}
			}
		}
	}
	if apiVersion != builtinVersion {
		return &RemoteError{File: file, Field: field, Entry: apiVersion + " " + name, Why: whyPlugin + " (an exec or Go plugin)", Fix: fixPlugin}
	}
	if strings.EqualFold(kind, "HelmChartInflationGenerator") {
		return &RemoteError{File: file, Field: field, Entry: apiVersion + " " + name, Why: whyHelm, Fix: fixHelm}
	}
	var errs []error
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, e := range t {
				walk(strings.ToLower(k), e)
			}
		case []any:
			for _, e := range t {
				walk(key, e)
			}
		case string:
			if !pluginFileKeys[key] {
				return
			}
			_, path, _ := strings.Cut(t, "=")
			if isRemote(t) || isRemote(path) {
				errs = append(errs, &RemoteError{File: file, Field: fmt.Sprintf("%s[%s].%s", field, name, key), Entry: t, Why: whyURL, Fix: fixFile})
			}
		}
	}
	walk("", c)
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// pluginDocs decodes the mapping documents of a plugin config stream;
// anything else is left to kustomize's own errors. Call it on data
// checkYAML accepted: decoding expands aliases.
func pluginDocs(data []byte) []map[string]any {
	var out []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			return out
		}
		if m != nil {
			out = append(out, m)
		}
	}
}

// hasBuiltinConfig reports whether a stream may hold a builtin plugin
// config, to spare decoding every manifest krusty reads.
func hasBuiltinConfig(data []byte) bool {
	return bytes.Contains(data, []byte(builtinVersion))
}

// scanner walks every kustomization one build reaches, through local
// resources, bases, components and plugin directories.
type scanner struct {
	r *renderer
	// done holds each kustomization directory scanned (real path) and
	// its result, so that a base shared by several overlays is read
	// once and refused for each of them.
	done map[string]error
	// checked holds the files whose YAML the scan checked, so that
	// repoFS does not parse them again.
	checked map[string]bool
}

func (r *renderer) scanner() *scanner {
	if r.scan == nil {
		r.scan = &scanner{r: r, done: map[string]error{}, checked: map[string]bool{}}
	}
	return r.scan
}

// kustomization scans the kustomization in dir (a real path inside the
// root) and everything local it reaches.
func (s *scanner) kustomization(dir string) error {
	if err, ok := s.done[dir]; ok {
		return err // nil too while dir is being scanned: krusty reports cycles
	}
	s.done[dir] = nil
	err := s.scanDir(dir)
	s.done[dir] = err
	return err
}

func (s *scanner) scanDir(dir string) error {
	var errs []error
	found := false
	for _, name := range kustomizationFiles {
		abs := filepath.Join(dir, name)
		if fi, err := os.Lstat(abs); err != nil || fi.IsDir() {
			continue
		}
		found = true
		rel := s.r.rel(abs)
		if err := s.r.check(abs); err != nil {
			return err
		}
		data, err := readFile(abs, rel, s.r.lim)
		if err != nil {
			return err
		}
		encrypted := isEncrypted(data)
		if encrypted {
			// krusty reads the plaintext, so the plaintext is checked.
			// Not reported to Options.Decrypted: krusty's read will be.
			if err := checkYAML(rel, data, s.r.lim, false); err != nil {
				return err
			}
			if data, err = s.r.dec.decryptFile(s.r.ctx, rel, data); err != nil {
				return err
			}
		}
		k, err := parseKustomization(rel, data, s.r.lim)
		if err != nil {
			return err
		}
		s.checked[abs] = !encrypted
		if err := kustomizationChecks(rel, k, s.r.helm != nil); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, s.entries(dir, rel, k)...)
	}
	if !found {
		return nil // krusty says that it is not a kustomization
	}
	return errors.Join(errs...)
}

// entries follows the local entries of a kustomization that has no
// remote ones: directories are kustomizations, scanned in turn; files
// kustomize parses as YAML are checked as manifests.
func (s *scanner) entries(dir, file string, k *types.Kustomization) []error {
	var errs []error
	s.r.namespaces[dir] = k.Namespace
	local := func(field, entry string) (abs string, isDir bool, ok bool) {
		p := filepath.FromSlash(entry)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return "", false, false // missing: krusty says so in its words
		}
		if !within(s.r.root, real) {
			errs = append(errs, fmt.Errorf("%s: %s: %q leads outside the repository root; tidegate reads only files of the repository", file, field, entry))
			return "", false, false
		}
		fi, err := os.Stat(real)
		if err != nil {
			return "", false, false
		}
		return real, fi.IsDir(), true
	}
	manifest := func(field, entry string) {
		abs, isDir, ok := local(field, entry)
		if !ok {
			return
		}
		if isDir {
			s.r.children[dir] = append(s.r.children[dir], abs)
			if err := s.kustomization(abs); err != nil {
				errs = append(errs, err)
			}
			return
		}
		if err := s.manifest(abs); err != nil {
			errs = append(errs, fmt.Errorf("%w (listed in %s of %s)", err, field, file))
		}
	}
	for _, e := range append(append([]string{}, k.Resources...), k.Bases...) {
		manifest("resources", e)
	}
	for _, e := range k.Components {
		manifest("components", e)
	}
	for _, e := range k.Crds {
		manifest("crds", e)
	}
	for _, e := range k.Configurations {
		manifest("configurations", e)
	}
	for _, p := range k.PatchesStrategicMerge {
		if s := string(p); !strings.Contains(s, "\n") {
			manifest("patchesStrategicMerge", s)
		}
	}
	for _, p := range append(append([]types.Patch{}, k.Patches...), k.PatchesJson6902...) {
		if p.Path != "" {
			manifest("patches", p.Path)
		}
	}
	for _, r := range k.Replacements {
		if r.Path != "" {
			manifest("replacements", r.Path)
		}
	}
	for field, list := range map[string][]string{"generators": k.Generators, "transformers": k.Transformers, "validators": k.Validators} {
		for _, e := range list {
			if strings.Contains(e, "\n") {
				continue // inline, checked with the kustomization
			}
			abs, isDir, ok := local(field, e)
			if !ok {
				continue
			}
			if isDir {
				s.r.children[dir] = append(s.r.children[dir], abs)
			}
			if err := s.plugins(abs, isDir, file, field); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// manifest checks one file kustomize parses as YAML.
func (s *scanner) manifest(abs string) error {
	if s.checked[abs] {
		return nil
	}
	rel := s.r.rel(abs)
	data, err := readFile(abs, rel, s.r.lim)
	if err != nil {
		return err
	}
	if err := checkYAML(rel, data, s.r.lim, true); err != nil {
		return err
	}
	s.checked[abs] = true
	return nil
}

// plugins checks the configs a generators, transformers or validators
// entry names: a file of configs, or a kustomization whose output is
// the configs (built here, after it was scanned, because its patches
// and replacements may change them).
func (s *scanner) plugins(abs string, isDir bool, file, field string) error {
	if !isDir {
		// Read once: the configs are decoded from the data checked here.
		rel := s.r.rel(abs)
		data, err := readFile(abs, rel, s.r.lim)
		if err != nil {
			return err
		}
		if !s.checked[abs] {
			if err := checkYAML(rel, data, s.r.lim, true); err != nil {
				return err
			}
			s.checked[abs] = true
		}
		var errs []error
		for _, c := range pluginDocs(data) {
			errs = append(errs, pluginConfigChecks(rel, field, c))
		}
		return errors.Join(errs...)
	}
	if err := s.kustomization(abs); err != nil {
		return err
	}
	objs, err := s.r.build(abs)
	if err != nil {
		return fmt.Errorf("%s: %s: build %s: %w", file, field, s.r.rel(abs), err)
	}
	var errs []error
	for _, o := range objs {
		errs = append(errs, pluginConfigChecks(s.r.rel(abs)+" (built)", field, o.Object))
	}
	return errors.Join(errs...)
}
