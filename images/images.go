package images

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/tidegate/tidegate/images/marker"
	"github.com/tidegate/tidegate/images/policy"
	"github.com/tidegate/tidegate/images/scan"
	"github.com/tidegate/tidegate/object"
)

// Options configure Resolve and Update. See withDefaults for defaults.
type Options struct {
	// Paths inside the directory to read; default ".".
	Paths []string
	// Scan configures registry access (credentials, concurrency,
	// insecure registries, retries).
	Scan scan.Options
	// Secrets are decrypted dockerconfigjson Secrets by "namespace/name",
	// .dockerconfigjson bytes. They take precedence over Secrets found in
	// the tree, so a caller that decrypted SOPS files can pass them in.
	Secrets map[string][]byte
	// SecretSource, when set, reads a secretRef Secret that is neither in
	// Secrets nor in the tree, e.g. from the cluster: found is false when
	// it does not exist.
	SecretSource func(ctx context.Context, namespace, name string) (dockerConfigJSON []byte, found bool, err error)
	// Strict makes a marker naming an undeclared policy an error instead
	// of a warning.
	Strict bool
	// Tags is how many candidate tags each Entry lists; default 5.
	Tags int
	// Logger receives progress and warnings. Default: discard.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if len(o.Paths) == 0 {
		o.Paths = []string{"."}
	}
	if o.Tags <= 0 {
		o.Tags = 5
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Scan.Logger == nil {
		o.Scan.Logger = o.Logger
	}
	return o
}

// Status says what automation does with a Site.
type Status string

const (
	StatusUpToDate Status = "up-to-date"
	StatusUpdate   Status = "update"
	StatusLocked   Status = "locked"
	StatusSkipped  Status = "skipped"
	StatusError    Status = "error"
)

// Entry is the outcome for one Site: what it holds, what the registry
// offers and what the policy selects.
type Entry struct {
	File      string    `json:"file"`
	Line      int       `json:"line"`
	Object    object.ID `json:"-"`
	Container string    `json:"container,omitempty"`
	// Marker is the setter marker ("ns:name:tag"); empty for Flux v1.
	Marker string `json:"marker,omitempty"`
	// Policy is the ImagePolicy key, or the Flux v1 pattern.
	Policy string `json:"policy"`
	// Repository is the image repository scanned.
	Repository string `json:"repository,omitempty"`
	// Current is the scalar's value; CurrentTag the tag in it, if any.
	Current    string `json:"current"`
	CurrentTag string `json:"currentTag,omitempty"`
	// Tags are up to Options.Tags candidates, the policy's preference
	// first.
	Tags []string `json:"tags,omitempty"`
	// Latest is the tag the policy selects, Digest its digest when
	// resolved.
	Latest string `json:"latest,omitempty"`
	Digest string `json:"digest,omitempty"`
	// New is the value the scalar gets; equal to Current when up to date.
	New    string `json:"new"`
	Status Status `json:"status"`
	// Reason explains locked, skipped and error entries.
	Reason string `json:"reason,omitempty"`
}

// Change is one scalar rewrite, the unit a pull request describes.
type Change struct {
	File      string    `json:"file"`
	Line      int       `json:"line"`
	Object    object.ID `json:"-"`
	Container string    `json:"container,omitempty"`
	Marker    string    `json:"marker,omitempty"`
	Policy    string    `json:"policy"`
	// Repository is the image repository scanned: the only place that
	// names it when the value is a tag alone (a :tag marker, a Helm
	// values tag field).
	Repository string `json:"repository,omitempty"`
	Old        string `json:"old"`
	New        string `json:"new"`
}

// MarshalJSON prints the object as Kind/namespace/name.
func (c Change) MarshalJSON() ([]byte, error) {
	type plain Change
	return json.Marshal(struct {
		plain
		Object string `json:"object"`
	}{plain(c), c.Object.String()})
}

// MarshalJSON prints the object as Kind/namespace/name.
func (e Entry) MarshalJSON() ([]byte, error) {
	type plain Entry
	return json.Marshal(struct {
		plain
		Object string `json:"object"`
	}{plain(e), e.Object.String()})
}

// Plan is the result of Resolve: an Entry per Site and the Changes that
// bring the tree up to date. It is data; printing and rewriting only read
// it.
type Plan struct {
	Entries  []Entry
	Changes  []Change
	Warnings []string
	sources  *Sources
}

// scanKey identifies one registry conversation: the same repository with
// different credentials is scanned twice.
type scanKey struct {
	repo     string
	insecure bool
	secret   string
}

// Resolve asks the registries for the tags of every repository the Sites
// use and applies the policies. A failing repository fails only its
// entries; their errors are joined into the returned error, and the Plan
// is complete for everything else.
func Resolve(ctx context.Context, src *Sources, opts Options) (*Plan, error) {
	opts = opts.withDefaults()
	scanner := scan.New(opts.Scan)
	plan := &Plan{sources: src, Warnings: append([]string(nil), src.Warnings...)}
	warn := func(msg string) {
		plan.Warnings = append(plan.Warnings, msg)
		opts.Logger.Warn(msg)
	}
	for _, s := range src.Skipped {
		opts.Logger.Debug("passed over while reading the tree", "entry", s)
	}

	type pending struct {
		key scanKey
		pol *ImagePolicy
		ir  *ImageRepository
	}
	work := make([]pending, len(src.Sites))
	plan.Entries = make([]Entry, len(src.Sites))
	targets := map[scanKey]scan.Target{}
	for i, site := range src.Sites {
		e := &plan.Entries[i]
		*e = Entry{File: site.File, Line: site.Line, Object: site.Object, Container: site.Container, Current: site.Value, New: site.Value}
		if site.Marker != nil {
			e.Marker = site.Marker.String()
			e.Policy = site.Marker.Policy()
			e.CurrentTag = currentTag(site)
		} else {
			e.Policy = site.Pattern.String()
			e.Repository, e.CurrentTag = site.V1Image()
		}
		if site.Locked {
			e.Status, e.Reason = StatusLocked, "the workload is locked or ignored (fluxcd.io/locked, fluxcd.io/ignore)"
			continue
		}
		if site.Marker == nil {
			k := scanKey{repo: e.Repository}
			targets[k] = scan.Target{Repository: e.Repository}
			work[i] = pending{key: k}
			continue
		}
		pol, ok := src.policy(e.Policy)
		if !ok {
			msg := fmt.Sprintf("the marker names ImagePolicy %s, which the scanned paths do not declare", e.Policy)
			if opts.Strict {
				e.Status, e.Reason = StatusError, msg+" (strict)"
			} else {
				e.Status, e.Reason = StatusSkipped, msg
				warn(fmt.Sprintf("%s:%d: %s: %s; left untouched", site.File, site.Line, site.Object, msg))
			}
			continue
		}
		ir, ok := src.repository(pol.Repository)
		if !ok {
			msg := fmt.Sprintf("ImagePolicy %s (%s:%d) refers to ImageRepository %s, which the scanned paths do not declare", pol.Key, pol.File, pol.Line, pol.Repository)
			if opts.Strict {
				e.Status, e.Reason = StatusError, msg+" (strict)"
			} else {
				e.Status, e.Reason = StatusSkipped, msg
				warn(fmt.Sprintf("%s:%d: %s: %s; left untouched", site.File, site.Line, site.Object, msg))
			}
			continue
		}
		e.Repository = ir.Image
		k := scanKey{repo: ir.Image, insecure: ir.Insecure}
		t := scan.Target{Repository: ir.Image, Insecure: ir.Insecure}
		if ir.SecretRef != "" {
			ns, _, _ := strings.Cut(ir.Key, ":")
			secret := ns + "/" + ir.SecretRef
			auth, err := secretAuth(ctx, ns, ir.SecretRef, ir.Image, opts, src.Secrets)
			switch {
			case err != nil:
				e.Status, e.Reason = StatusError, fmt.Sprintf("ImageRepository %s (%s:%d): %v", ir.Key, ir.File, ir.Line, err)
				continue
			case auth == nil && opts.SecretSource != nil:
				warn(fmt.Sprintf("%s:%d: ImageRepository %s: Secret %s is neither in the scanned paths nor in the cluster; using the docker config credentials", ir.File, ir.Line, ir.Key, secret))
			case auth == nil:
				warn(fmt.Sprintf("%s:%d: ImageRepository %s: Secret %s is not in the scanned paths (--cluster-secrets reads it from the cluster); using the docker config credentials", ir.File, ir.Line, ir.Key, secret))
			default:
				k.secret, t.Auth = secret, auth
			}
		}
		targets[k] = t
		work[i] = pending{key: k, pol: pol, ir: ir}
	}

	// Scan every repository once.
	var keys []scanKey
	for k := range targets {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
	var list []scan.Target
	for _, k := range keys {
		list = append(list, targets[k])
	}
	start := time.Now()
	results := scanner.Tags(ctx, list)
	opts.Logger.Debug("scanned image repositories", "count", len(list), "duration", time.Since(start))
	tags := map[scanKey]scan.TagList{}
	for i, k := range keys {
		tags[k] = results[i]
	}

	// Flux v1 glob and regex patterns order by creation time: fetch it
	// for the tags they match.
	createdRefs := map[scan.Ref]bool{}
	for i, site := range src.Sites {
		e := &plan.Entries[i]
		if e.Status != "" || site.Pattern == nil || !site.Pattern.NeedsCreated() {
			continue
		}
		tl := tags[work[i].key]
		for _, t := range tl.Tags {
			if site.Pattern.Matches(t) {
				createdRefs[scan.Ref{Target: tl.Target, Tag: t}] = true
			}
		}
	}
	created := map[scan.Ref]scan.Info{}
	for _, info := range scanner.Created(ctx, sortedRefs(createdRefs)) {
		created[info.Ref] = info
	}

	// Select.
	for i, site := range src.Sites {
		e := &plan.Entries[i]
		if e.Status != "" {
			continue
		}
		tl := tags[work[i].key]
		if tl.Err != nil {
			e.Status, e.Reason = StatusError, tl.Err.Error()
			continue
		}
		var p policy.Policer
		candidates := tl.Tags
		if w := work[i]; w.pol != nil {
			p = w.pol.Policer
			candidates = w.ir.Exclude.Apply(candidates)
		} else {
			times := map[string]time.Time{}
			var errs []error
			for _, t := range candidates {
				if info, ok := created[scan.Ref{Target: tl.Target, Tag: t}]; ok {
					if info.Err != nil {
						errs = append(errs, info.Err)
						continue
					}
					times[t] = info.Created
				}
			}
			if len(errs) > 0 {
				e.Status, e.Reason = StatusError, errors.Join(errs...).Error()
				continue
			}
			p = site.Pattern.Policer(times)
		}
		top, err := policy.Top(p, candidates, opts.Tags)
		e.Tags = top
		if err == nil && len(top) == 0 {
			err = policy.ErrNoCandidate
		}
		if err != nil {
			e.Status, e.Reason = StatusError, fmt.Sprintf("policy %s: %v (repository %s has %d tags)", e.Policy, err, e.Repository, len(tl.Tags))
			continue
		}
		e.Latest = top[0]
	}

	// Digests, for :digest markers and digest-reflecting policies.
	digestRefs := map[scan.Ref]bool{}
	for i, site := range src.Sites {
		e := &plan.Entries[i]
		if e.Status == "" && site.Marker != nil && (site.Marker.Field == marker.Digest || work[i].pol.ReflectDigest) {
			digestRefs[scan.Ref{Target: tags[work[i].key].Target, Tag: e.Latest}] = true
		}
	}
	digests := map[scan.Ref]scan.Info{}
	for _, info := range scanner.Digests(ctx, sortedRefs(digestRefs)) {
		digests[info.Ref] = info
	}

	var errs []error
	for i, site := range src.Sites {
		e := &plan.Entries[i]
		if e.Status == "" {
			if info, ok := digests[scan.Ref{Target: tags[work[i].key].Target, Tag: e.Latest}]; ok {
				if info.Err != nil {
					e.Status, e.Reason = StatusError, info.Err.Error()
				}
				e.Digest = info.Digest
			}
		}
		if e.Status == "" {
			e.New = newValue(site, work[i].pol, work[i].ir, e)
			e.Status = StatusUpToDate
			if e.New != e.Current {
				e.Status = StatusUpdate
				plan.Changes = append(plan.Changes, Change{File: e.File, Line: e.Line, Object: e.Object, Container: e.Container,
					Marker: e.Marker, Policy: e.Policy, Repository: e.Repository, Old: e.Current, New: e.New})
			}
		}
		if e.Status == StatusError {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %s", e.File, e.Line, e.Object, e.Reason))
		}
	}
	return plan, errors.Join(errs...)
}

func newValue(site Site, pol *ImagePolicy, ir *ImageRepository, e *Entry) string {
	if site.Marker == nil {
		if site.TagOf != "" {
			return e.Latest
		}
		repo, _, _ := SplitImage(site.Value)
		return repo + ":" + e.Latest
	}
	switch site.Marker.Field {
	case marker.Tag:
		return e.Latest
	case marker.Name:
		return ir.Image
	case marker.Digest:
		return e.Digest
	}
	v := ir.Image + ":" + e.Latest
	if pol.ReflectDigest && e.Digest != "" {
		v += "@" + e.Digest
	}
	return v
}

func currentTag(site Site) string {
	switch site.Marker.Field {
	case marker.Tag:
		return site.Value
	case marker.Image:
		_, tag, _ := SplitImage(site.Value)
		return tag
	}
	return ""
}

// SplitImage splits an image reference as written into repository, tag
// and digest, without normalising the repository ("nginx" stays "nginx").
// A reference without tag or digest has the tag "latest".
func SplitImage(ref string) (repo, tag, digest string) {
	repo, digest, _ = strings.Cut(ref, "@")
	slash := strings.LastIndex(repo, "/")
	if colon := strings.LastIndex(repo, ":"); colon > slash {
		repo, tag = repo[:colon], repo[colon+1:]
	} else if digest == "" {
		tag = "latest"
	}
	return repo, tag, digest
}

func secretAuth(ctx context.Context, ns, secretName, image string, opts Options, found map[string][]byte) (authn.Authenticator, error) {
	secret := ns + "/" + secretName
	data, ok := opts.Secrets[secret]
	if !ok {
		data, ok = found[secret]
	}
	if !ok && opts.SecretSource != nil {
		var err error
		if data, ok, err = opts.SecretSource(ctx, ns, secretName); err != nil {
			return nil, fmt.Errorf("read Secret %s: %w", secret, err)
		}
	}
	if !ok {
		return nil, nil
	}
	kc, err := scan.ParseDockerConfig(data)
	if err != nil {
		return nil, fmt.Errorf("Secret %s: %w", secret, err)
	}
	repo, err := name.NewRepository(image)
	if err != nil {
		return nil, fmt.Errorf("spec.image %q: %w", image, err)
	}
	return kc.Resolve(repo)
}

func sortedRefs(set map[scan.Ref]bool) []scan.Ref {
	var out []scan.Ref
	for r := range set {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Target.Repository != out[j].Target.Repository {
			return out[i].Target.Repository < out[j].Target.Repository
		}
		return out[i].Tag < out[j].Tag
	})
	return out
}

// policy finds an ImagePolicy by "namespace:name". A policy whose file
// sets no namespace (kustomize or Flux set it when applying) matches any
// namespace, if it is the only one with that name.
func (s *Sources) policy(key string) (*ImagePolicy, bool) {
	if p, ok := s.Policies[key]; ok {
		return p, true
	}
	_, name, _ := strings.Cut(key, ":")
	p, ok := s.Policies[":"+name]
	return p, ok
}

// repository finds an ImageRepository like policy finds an ImagePolicy.
func (s *Sources) repository(key string) (*ImageRepository, bool) {
	if r, ok := s.Repositories[key]; ok {
		return r, true
	}
	_, name, _ := strings.Cut(key, ":")
	r, ok := s.Repositories[":"+name]
	return r, ok
}
