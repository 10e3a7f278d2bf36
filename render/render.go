package render

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/tidegate/tidegate/internal/plaintext"
	"github.com/tidegate/tidegate/object"
)

// Options configures Render.
type Options struct {
	// Keys decrypt SOPS files.
	Keys Keys
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
	// Decrypted, when set, is told of every SOPS file the render tries to
	// decrypt (repository-relative) with nil or the reason it could not,
	// so that a pre-flight check can say which files lack a key. It never
	// sees plaintext. A file read twice (two overlays sharing a base) is
	// reported twice.
	Decrypted func(file string, err error)
	// Plaintext, when set, records every value decrypted (see package
	// plaintext), so that the caller can scrub every output of the run.
	// nil: the render keeps its own, in Result.Plaintext.
	Plaintext *plaintext.Set
	// MaxFileBytes bounds each file render reads, before kustomize or
	// the YAML reader sees it; 0 means DefaultMaxFileBytes (16 MiB).
	MaxFileBytes int64
	// MaxAliasNodes bounds how many nodes YAML anchors and aliases may
	// add when expanded, in one file and over all files of the render;
	// 0 means DefaultMaxAliasNodes (100,000).
	MaxAliasNodes int64
	// Flux, when set, builds every path as a Flux Kustomization object
	// says (see Flux).
	Flux *Flux
	// LazyFiles leaves Origin.File and Origin.Kustomizations empty for
	// the objects of a kustomization file's build, unless the build
	// decrypted a SOPS file or renders Flux objects
	// (*.toolkit.fluxcd.io): those need the file, and are built again
	// with kustomize's origin tracking. The tracking costs up to twice a
	// build's CPU and memory (kustomize then annotates every object at
	// every transformer); a run that only applies names kustomized
	// objects by their --path's build anyway. The objects themselves are
	// the same either way.
	LazyFiles bool
	// noPlainBuild turns plainBuild off, for the tests that compare it
	// with kustomize.
	noPlainBuild bool
	// Ignore are gitignore patterns, relative to the repository root,
	// that leave files out of the source, as a GitRepository's
	// spec.ignore does. They add to Flux's default rules and the
	// repository's .sourceignore files; they replace nothing.
	Ignore []string
	// Helm, when set, inflates the charts of kustomizations' helmCharts
	// (see HelmInflater); nil refuses them.
	Helm HelmInflater
}

// Origin says where an object came from.
type Origin struct {
	// Path is the --path that rendered it.
	Path string `json:"path"`
	// File is the repository-relative file the object was read from
	// (for kustomize output, as kustomize's origin annotations say; for
	// a generated object, the kustomization that generates it).
	File string `json:"file,omitempty"`
	// Decrypted is true when the object came, wholly or partly, from a
	// SOPS-encrypted file: it is masked as a Secret is, whatever its
	// kind (see Result.Mask).
	Decrypted bool `json:"decrypted,omitempty"`

	// via are Kustomizations, one a line: a string, so that an Origin
	// stays comparable.
	via string
	// kustomized is true when a kustomization file built the object:
	// messages then name the --path's build, which is where a reader
	// finds the transformations, rather than the file.
	kustomized bool
}

// Kustomizations returns the repository's kustomization files whose
// transformers (images, patches, namespace, prefixes...) ran over the
// object on its way into the render, outermost first, as kustomize's
// transformer annotations say; nil for plain files.
func (o Origin) Kustomizations() []string {
	if o.via == "" {
		return nil
	}
	return strings.Split(o.via, "\n")
}

func (o Origin) String() string {
	if o.File != "" && !o.kustomized {
		return o.File
	}
	return o.Path + " (kustomization)"
}

// rendered is one object of a path, with where it came from.
type rendered struct {
	obj    *unstructured.Unstructured
	origin Origin
}

// Result is a render's output.
type Result struct {
	// Objects in a deterministic order: path order, then the order
	// kustomize or the files give.
	Objects []*unstructured.Unstructured
	// Origins maps each object to where it came from.
	Origins map[object.ID]Origin
	// Plaintext holds every value decrypted by this render.
	Plaintext *plaintext.Set

	// paths are, per decrypted file, the key paths of its decrypted
	// values.
	paths map[string]map[string]bool
	// plainBuilds counts the Flux units read without a kustomize build
	// (plainBuild), for the tests that compare the two.
	plainBuilds int
}

// kustomizationFiles are the names kustomize recognises, in its order.
var kustomizationFiles = [...]string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// Render renders each path (relative to root, the repository's working
// tree) and returns the objects. It fails as a whole: a caller gets every
// object or an error, never a partial list.
func Render(ctx context.Context, root string, paths []string, opts Options) (*Result, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if absRoot, err = filepath.EvalSymlinks(absRoot); err != nil {
		return nil, fmt.Errorf("repository root %s: %w", root, err)
	}
	dec, err := newDecryptor(opts.Keys)
	if err != nil {
		return nil, err
	}
	dec.report = opts.Decrypted
	if opts.Plaintext != nil {
		dec.plain = opts.Plaintext
	}
	defer dec.close()
	lim := opts.limits()
	lim.budget = &aliasBudget{byFile: map[string]int64{}}
	r := &renderer{ctx: ctx, root: absRoot, dec: dec, lim: lim, helm: opts.Helm, lazyFiles: opts.LazyFiles, noPlainBuild: opts.noPlainBuild,
		helmOrigins: map[string]string{}, helmDecrypted: map[string]bool{}, children: map[string][]string{}, namespaces: map[string]string{}}
	if err := r.loadIgnores(opts.Ignore); err != nil {
		return nil, err
	}

	res := &Result{Origins: map[object.ID]Origin{}, Plaintext: dec.plain, paths: dec.paths}
	var errs []error
	for _, p := range paths {
		start := time.Now()
		dir, rel, err := r.resolve(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var objs []rendered
		switch {
		case opts.Flux != nil:
			objs, err = r.fluxBuild(dir, rel, opts.Flux)
		case r.isKustomization(dir):
			objs, err = r.kustomize(dir, rel)
		default:
			objs, err = r.plainDir(dir, rel)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, ro := range objs {
			o, origin := ro.obj, ro.origin
			id := object.FromUnstructured(o)
			if prev, dup := res.Origins[id]; dup {
				errs = append(errs, fmt.Errorf("%s is rendered twice: from %s and from %s; keep one of them", id, prev, origin))
				continue
			}
			if err := checkObject(o, id, origin); err != nil {
				errs = append(errs, err)
				continue
			}
			res.Origins[id] = origin
			res.Objects = append(res.Objects, o)
		}
		log.Debug("rendered", "path", rel, "objects", len(objs), "duration", time.Since(start))
	}
	if len(errs) > 0 {
		// kustomize's errors can dump a node with its decrypted values.
		// Each is scrubbed on its own, so the join stays a join.
		for i, err := range errs {
			errs[i] = dec.plain.ScrubError(err)
		}
		return nil, errors.Join(errs...)
	}
	res.plainBuilds = r.plainBuilds
	return res, nil
}

// checkObject refuses objects that must never reach the cluster.
func checkObject(o *unstructured.Unstructured, id object.ID, origin Origin) error {
	if o.GetKind() == "" || o.GetAPIVersion() == "" {
		return fmt.Errorf("%s: a document without apiVersion or kind; every document must be a Kubernetes object", origin)
	}
	if o.GetName() == "" {
		return fmt.Errorf("%s: %s %s has no metadata.name", origin, o.GetAPIVersion(), o.GetKind())
	}
	if _, ok := o.Object["sops"]; ok {
		return fmt.Errorf("%s: %s still carries SOPS metadata after rendering: it is encrypted, or was merged from an encrypted file; tidegate never applies ciphertext (check the file is a complete SOPS file and its key is given)", origin, id)
	}
	return nil
}

type renderer struct {
	ctx  context.Context
	root string
	dec  *decryptor
	lim  limits
	scan *scanner
	// ignore holds the source's ignore rules (ignore.go).
	ignore *ignoreRules
	// lazyFiles is Options.LazyFiles.
	lazyFiles bool
	// noPlainBuild makes every Flux unit's plain directory a kustomize
	// build, for the tests that compare the two (plainBuild).
	noPlainBuild bool
	// plainBuilds counts plainBuild's reads (Result.plainBuilds).
	plainBuilds int
	// virtual are kustomization files served from memory instead of
	// the disk, by absolute path: the kustomization Flux generates or
	// merges for a directory, never written to the checkout.
	virtual map[string][]byte

	// helm inflates helmCharts (helm.go); helmOrigins maps each file a
	// chart's objects are served under to the kustomization that
	// lists the chart (repository-relative), helmDecrypted says
	// whether its values came from a SOPS file.
	helm          HelmInflater
	helmOrigins   map[string]string
	helmDecrypted map[string]bool
	// children are, per kustomization directory, the directories
	// krusty builds from it, and namespaces its namespace field: the
	// namespace kustomize hands down to the charts below. buildRoot is
	// the directory of the krusty build under way.
	children   map[string][]string
	namespaces map[string]string
	buildRoot  string
	helmErrs   []error
}

// rel names a path inside the root in errors: repository-relative.
func (r *renderer) rel(abs string) string {
	rel, err := filepath.Rel(r.root, abs)
	if err != nil {
		return abs
	}
	return filepath.ToSlash(rel)
}

// resolve turns a --path into a directory inside the root.
func (r *renderer) resolve(p string) (dir, rel string, err error) {
	clean := filepath.Clean(filepath.FromSlash(p))
	if filepath.IsAbs(clean) {
		return "", "", fmt.Errorf("path %s: give paths relative to the repository root", p)
	}
	dir = filepath.Join(r.root, clean)
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", "", fmt.Errorf("path %s does not exist in the repository (check --path and --ref)", p)
		}
		return "", "", fmt.Errorf("path %s: %w", p, err)
	}
	if !within(r.root, real) {
		return "", "", fmt.Errorf("path %s leads outside the repository root; tidegate reads only the repository", p)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", "", fmt.Errorf("path %s: %w", p, err)
	}
	if !fi.IsDir() {
		return "", "", fmt.Errorf("path %s is a file; give the directory that holds it", p)
	}
	rel, _ = filepath.Rel(r.root, real)
	return real, filepath.ToSlash(rel), nil
}

func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// isKustomization reports whether dir holds a kustomization file that
// the ignore rules leave in the source.
func (r *renderer) isKustomization(dir string) bool {
	f, ok := KustomizationFile(dir)
	return ok && !r.ignored(f)
}

// kustomize builds a kustomization with krusty on a filesystem that stays
// inside the repository and decrypts SOPS files as they are read, once
// every kustomization it reaches was checked for entries that would
// leave the repository.
func (r *renderer) kustomize(dir, rel string) ([]rendered, error) {
	if err := r.scanner().kustomization(dir); err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", rel, err)
	}
	spec, err := r.originSpec(dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", rel, err)
	}
	objs, err := r.buildUnit(dir, rel, spec)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", rel, err)
	}
	return objs, nil
}

// build runs krusty on dir, the kustomization as it is.
func (r *renderer) build(dir string) ([]*unstructured.Unstructured, error) {
	resMap, err := r.run(dir)
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, res := range resMap.Resources() {
		o, err := toUnstructured(res)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// krustyMu serialises krusty builds in the process. kustomize keeps
// process-wide state (the OpenAPI schema a kustomization's openapi field
// replaces, maps its builtins fill lazily; kubernetes-sigs/kustomize
// #3659), so two builds at once, as the units of a Flux repository run,
// can crash the process with a concurrent map write that no recover
// catches. kustomize-controller holds the same kind of lock.
var krustyMu sync.Mutex

// run runs krusty on dir.
func (r *renderer) run(dir string) (m resmap.ResMap, err error) {
	krustyMu.Lock()
	defer krustyMu.Unlock()
	defer func() {
		// krusty panics on some malformed input; that is this
		// kustomization's error, not a crash of the run.
		if p := recover(); p != nil {
			m, err = nil, fmt.Errorf("kustomize failed on this kustomization (%v); check its files", p)
		}
	}()
	r.buildRoot = dir
	opts := krusty.MakeDefaultOptions()
	// Overlays reach their bases with ../; the repository root, enforced
	// by the filesystem below, is the limit instead of the overlay's own
	// directory.
	opts.LoadRestrictions = types.LoadRestrictionsNone
	// Builtins only: no exec, Go or KRM-function plugins, and Helm off
	// (HelmConfig.Enabled false), so kustomize refuses helmCharts itself
	// even if the scan missed one; render serves them inflated instead
	// (helm.go).
	opts.PluginConfig = types.DisabledPluginConfig()
	fs := &repoFS{FileSystem: filesys.MakeFsOnDisk(), r: r}
	r.helmErrs = nil
	resMap, err := krusty.MakeKustomizer(opts).Run(fs, dir)
	if len(r.helmErrs) > 0 {
		return nil, errors.Join(r.helmErrs...)
	}
	if err != nil {
		return nil, r.clean(err)
	}
	return resMap, nil
}

func toUnstructured(res *resource.Resource) (*unstructured.Unstructured, error) {
	if m, ok := objectOfResource(res); ok {
		return &unstructured.Unstructured{Object: m}, nil
	}
	j, err := res.MarshalJSON()
	if err != nil {
		return nil, err
	}
	m, err := jsonObject(j)
	if err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// clean makes kustomize's errors about the repository, not the machine.
func (r *renderer) clean(err error) error {
	msg := strings.ReplaceAll(err.Error(), r.root+string(filepath.Separator), "")
	return errors.New(msg)
}

// repoFS is the filesystem kustomize sees: reads outside the repository
// root fail, SOPS files read as plaintext, and nothing can be written.
type repoFS struct {
	filesys.FileSystem
	r *renderer
}

func (f *repoFS) check(path string) error { return f.r.check(path) }

// check refuses a path that is, or leads through a link to, outside
// the root.
func (r *renderer) check(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			// Let kustomize report a missing file in its own words.
			real = abs
		} else {
			return err
		}
	}
	if !within(r.root, real) {
		rel, _ := filepath.Rel(r.root, abs)
		return fmt.Errorf("%s is outside the repository root; tidegate reads only files of the repository", filepath.ToSlash(rel))
	}
	return nil
}

// ReadFile is how krusty reads every file: bounded in size, and, for
// what parses as YAML, in alias expansion, before krusty parses it; a
// kustomization or builtin plugin config is checked again for entries
// that leave the repository, in case the scan did not reach it.
func (f *repoFS) ReadFile(path string) ([]byte, error) {
	data, err := f.readFile(path)
	if err != nil || !isKustomizationFile(path) {
		return data, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	data, err = f.r.withHelmCharts(abs, data)
	if err != nil {
		// krusty takes a kustomization it cannot read for a missing
		// one and drops the error; run reports it instead.
		f.r.helmErrs = append(f.r.helmErrs, err)
	}
	return data, err
}

func (f *repoFS) readFile(path string) ([]byte, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if v, ok := f.r.virtual[abs]; ok {
		return v, nil // made from files checked already
	}
	if err := f.check(path); err != nil {
		return nil, err
	}
	if f.r.ignored(abs) {
		return nil, ignoredError(f.r.rel(abs))
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, err
	}
	rel := f.r.rel(abs)
	data, err := readFile(real, rel, f.r.lim)
	if err != nil {
		return nil, err
	}
	scanned := f.r.scan != nil && f.r.scan.checked[real]
	if !scanned {
		if err := checkYAML(rel, data, f.r.lim, false); err != nil {
			return nil, err
		}
	}
	if isEncrypted(data) {
		if data, err = f.r.dec.decrypt(f.r.ctx, rel, data); err != nil {
			return nil, err
		}
		if err := checkYAML(rel, data, f.r.lim, false); err != nil {
			return nil, err
		}
		scanned = false // the plaintext is what krusty parses
	}
	if scanned {
		return data, nil
	}
	if isKustomizationFile(abs) {
		var k types.Kustomization
		if k.Unmarshal(data) == nil {
			if err := errors.Join(inlineChecks(rel, &k, f.r.lim), kustomizationChecks(rel, &k, f.r.helm != nil)); err != nil {
				return nil, err
			}
		}
	}
	if hasBuiltinConfig(data) {
		for _, c := range pluginDocs(data) {
			if v, _ := c["apiVersion"].(string); v != builtinVersion {
				continue // a manifest; non-builtin plugins are refused by krusty
			}
			if err := pluginConfigChecks(rel, "plugin config", c); err != nil {
				return nil, err
			}
		}
	}
	return data, nil
}

func isKustomizationFile(path string) bool {
	base := filepath.Base(path)
	for _, name := range kustomizationFiles {
		if base == name {
			return true
		}
	}
	return false
}

func (f *repoFS) Open(path string) (filesys.File, error) {
	if err := f.check(path); err != nil {
		return nil, err
	}
	return f.FileSystem.Open(path)
}

func (f *repoFS) ReadDir(path string) ([]string, error) {
	if err := f.check(path); err != nil {
		return nil, err
	}
	return f.FileSystem.ReadDir(path)
}

func (f *repoFS) Create(path string) (filesys.File, error) { return nil, errReadOnly }
func (f *repoFS) WriteFile(string, []byte) error           { return errReadOnly }
func (f *repoFS) Mkdir(string) error                       { return errReadOnly }
func (f *repoFS) MkdirAll(string) error                    { return errReadOnly }
func (f *repoFS) RemoveAll(string) error                   { return errReadOnly }

var errReadOnly = errors.New("rendering never writes to the repository")
