package cli

import (
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/desired"
	"github.com/tidegate/tidegate/images"
)

// The policies of a workload live in the repository's files, as written:
// comments (setter markers) do not survive a render, and images update
// acts on the files, not on the render. render says, for each object, the
// file it came from and the kustomizations that built it (kustomize's own
// origin and transformer annotations); joining the two is then a
// prediction only within those files: keep what the kustomizations do to
// names (namespace, namePrefix, nameSuffix), and so compute the identity
// each document of the files gets in the render. What the prediction
// cannot see (patches that rename, components' prefixes, replacements,
// remote bases, Helm charts) falls back to kind and name alone when that
// is unambiguous, and is otherwise listed without a policy.

// nameTransform is what the kustomizations between a --path and a file
// do to the identity of the objects in that file.
type nameTransform struct {
	namespace      string
	prefix, suffix string
	// via are the kustomization files on the way, outermost first: their
	// images entries (and the markers on them) apply to the objects.
	via []string
}

func (t nameTransform) apply(kind, ns, name string) string {
	if t.namespace != "" {
		ns = t.namespace
	}
	if ns == "" {
		ns = desired.DefaultNamespace
	}
	return workloadName(ns, kind, t.prefix+name+t.suffix)
}

// repoFiles are the repository files the render read for the workloads,
// as render's origins tell.
type repoFiles struct {
	// files are slash paths relative to the root, with the ways they were
	// reached.
	files map[string][]nameTransform
	// images are the images entries of each kustomization file.
	images map[string][]types.Image
	// kustomizations are the kustomization files read, by path.
	kustomizations map[string]*kustomizationFile
}

// kustomizationFile is what the join needs of one kustomization.
type kustomizationFile struct {
	namespace, prefix, suffix string
	// patches are its patch files, repository-relative: they can carry
	// markers and annotations of their own.
	patches []string
}

// originFiles collects, for each row, the file it came from and the
// patch files of the kustomizations that built it, each with the name
// transform the kustomizations outside it apply. A kustomization that
// cannot be read is logged and left out.
func originFiles(rows []workloadRow, root string, log *slog.Logger) *repoFiles {
	r := &repoFiles{files: map[string][]nameTransform{}, images: map[string][]types.Image{}, kustomizations: map[string]*kustomizationFile{}}
	for _, row := range rows {
		via := row.origin.Kustomizations()
		var t nameTransform
		for _, kf := range via {
			k := r.kustomization(root, kf, log)
			if k == nil {
				continue
			}
			// The outermost namespace wins: an overlay moves its bases'
			// objects.
			if t.namespace == "" {
				t.namespace = k.namespace
			}
			t.prefix, t.suffix = t.prefix+k.prefix, k.suffix+t.suffix
			t.via = append(slices.Clone(t.via), kf)
			r.add(kf, t)
			for _, p := range k.patches {
				r.add(p, t)
			}
		}
		t.via = via
		if row.origin.File != "" {
			r.add(row.origin.File, t)
		}
	}
	return r
}

// kustomization reads the kustomization file kf once.
func (r *repoFiles) kustomization(root, kf string, log *slog.Logger) *kustomizationFile {
	if k, ok := r.kustomizations[kf]; ok {
		return k
	}
	r.kustomizations[kf] = nil
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(kf)))
	if err != nil {
		log.Warn("could not read a kustomization; policies of its workloads may be missing", "file", kf, "error", err)
		return nil
	}
	var k types.Kustomization
	if err := yaml.Unmarshal(data, &k); err != nil {
		log.Warn("could not read a kustomization; policies of its workloads may be missing", "file", kf, "error", err)
		return nil
	}
	out := &kustomizationFile{namespace: k.Namespace, prefix: k.NamePrefix, suffix: k.NameSuffix}
	var patches []string
	for _, p := range k.PatchesStrategicMerge {
		if !strings.Contains(string(p), "\n") {
			patches = append(patches, string(p))
		}
	}
	for _, p := range k.Patches {
		if p.Path != "" {
			patches = append(patches, p.Path)
		}
	}
	dir := path.Dir(kf)
	for _, ref := range patches {
		p := path.Clean(path.Join(dir, filepath.ToSlash(ref)))
		if p == ".." || strings.HasPrefix(p, "../") || path.IsAbs(p) {
			continue // render refuses it
		}
		if fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(p))); err == nil && !fi.IsDir() {
			out.patches = append(out.patches, p)
		}
	}
	r.kustomizations[kf] = out
	r.images[kf] = k.Images
	return out
}

func (r *repoFiles) add(file string, t nameTransform) {
	for _, have := range r.files[file] {
		if have.namespace == t.namespace && have.prefix == t.prefix && have.suffix == t.suffix && slices.Equal(have.via, t.via) {
			return
		}
	}
	r.files[file] = append(r.files[file], t)
}

// sorted returns the files in lexical order.
func (r *repoFiles) sorted() []string {
	out := make([]string, 0, len(r.files))
	for f := range r.files {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// sourceRef is one document of the repository that declares something
// about a workload.
type sourceRef struct {
	file, kind, ns, name string
}

// declared is what one document says: Sites by container name, in file
// order, and its Flux v1 annotations.
type declared struct {
	sites    map[string][]images.Site
	workload *images.Workload
}

// attachPolicies fills in each container's policy from the repository
// files the render read for it. Problems reading policies are logged:
// the listing is still useful without them.
func attachPolicies(rows []workloadRow, root string, log *slog.Logger) {
	files := originFiles(rows, root, log)
	if len(files.files) == 0 {
		return
	}
	src, err := images.Load(root, files.sorted()...)
	if err != nil {
		log.Warn("some files could not be read for image policies", "error", err)
	}
	if src == nil {
		return
	}
	join(rows, files, src)
}

// join is attachPolicies without the file system.
func join(rows []workloadRow, files *repoFiles, src *images.Sources) {
	docs := map[sourceRef]*declared{}
	doc := func(ref sourceRef) *declared {
		d := docs[ref]
		if d == nil {
			d = &declared{sites: map[string][]images.Site{}}
			docs[ref] = d
		}
		return d
	}
	// Markers in kustomizations sit on images entries, by entry name.
	kustSites := map[string]map[string][]images.Site{}
	for _, s := range src.Sites {
		if _, ok := files.images[s.File]; ok {
			if kustSites[s.File] == nil {
				kustSites[s.File] = map[string][]images.Site{}
			}
			kustSites[s.File][s.Container] = append(kustSites[s.File][s.Container], s)
			continue
		}
		d := doc(sourceRef{s.File, s.Object.Kind, s.Object.Namespace, s.Object.Name})
		d.sites[s.Container] = append(d.sites[s.Container], s)
	}
	for i := range src.Workloads {
		w := &src.Workloads[i]
		doc(sourceRef{w.File, w.Object.Kind, w.Object.Namespace, w.Object.Name}).workload = w
	}

	// Predict where each document lands in the render.
	type landing struct {
		ref sourceRef
		via []string
	}
	predicted := map[string][]landing{}
	byKindName := map[string][]sourceRef{}
	refs := make([]sourceRef, 0, len(docs))
	for ref := range docs {
		refs = append(refs, ref)
	}
	sort.Slice(refs, func(i, j int) bool {
		a, b := refs[i], refs[j]
		return a.file < b.file || a.file == b.file && (a.kind+"/"+a.ns+"/"+a.name) < (b.kind+"/"+b.ns+"/"+b.name)
	})
	for _, ref := range refs {
		for _, t := range files.files[ref.file] {
			key := t.apply(ref.kind, ref.ns, ref.name)
			predicted[key] = append(predicted[key], landing{ref, t.via})
		}
		byKindName[ref.kind+"/"+ref.name] = append(byKindName[ref.kind+"/"+ref.name], ref)
	}

	for i := range rows {
		r := &rows[i]
		lands := predicted[r.Workload]
		if len(lands) == 0 {
			if cands := byKindName[r.Kind+"/"+r.Name]; len(cands) == 1 {
				for _, t := range files.files[cands[0].file] {
					lands = append(lands, landing{cands[0], t.via})
				}
			}
		}
		var w *images.Workload
		var via []string
		for _, l := range lands {
			d := docs[l.ref]
			if d.workload != nil && (w == nil || stronger(d.workload, w)) {
				w = d.workload
			}
			for _, k := range l.via {
				if !slices.Contains(via, k) {
					via = append(via, k)
				}
			}
		}
		for j := range r.Containers {
			c := &r.Containers[j]
			var site *images.Site
			for _, l := range lands {
				if s := docs[l.ref].sites[c.Name]; len(s) > 0 {
					site = &s[0]
					break
				}
			}
			if site == nil {
				site = kustomizationSite(files, kustSites, via, c.Image)
			}
			c.Policy = policyOf(site, w)
		}
	}
}

// stronger prefers the annotations that keep automation off, so that a
// lock in a patch is not hidden by the base it patches.
func stronger(a, b *images.Workload) bool {
	rank := func(w *images.Workload) int {
		switch {
		case w.Ignored:
			return 2
		case w.Locked:
			return 1
		}
		return 0
	}
	return rank(a) > rank(b)
}

// kustomizationSite finds a marker on an images entry of a kustomization
// the workload was built through whose image (newName, else name) is the
// container's repository.
func kustomizationSite(files *repoFiles, kustSites map[string]map[string][]images.Site, via []string, image string) *images.Site {
	repo, _, _ := images.SplitImage(image)
	for _, k := range via {
		for _, e := range files.images[k] {
			target := e.NewName
			if target == "" {
				target = e.Name
			}
			if target != repo {
				continue
			}
			if s := kustSites[k][e.Name]; len(s) > 0 {
				return &s[0]
			}
		}
	}
	return nil
}

func policyOf(site *images.Site, w *images.Workload) containerPolicy {
	var p containerPolicy
	if w != nil {
		p.Automated, p.Locked, p.Ignored = w.Automated, w.Locked, w.Ignored
	}
	if site != nil {
		p.File, p.Line = site.File, site.Line
		switch {
		case site.Marker != nil:
			p.Automated, p.Marker = true, site.Marker.Policy()
		case site.Pattern != nil:
			p.Automated, p.Filter = true, site.Pattern.String()
		}
	}
	if w != nil && (p.Locked || p.Ignored || p.File == "") {
		p.File, p.Line = w.File, w.Line
	}
	return p
}
