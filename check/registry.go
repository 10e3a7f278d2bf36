package check

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/tidegate/tidegate/images"
	"github.com/tidegate/tidegate/images/scan"
)

// Registries lists the tags of every repository an image policy of src
// scans, once per repository, with the credentials tidegate images would
// use: the ImageRepository's secretRef when the paths hold that Secret,
// the keychain of opts otherwise, and plain HTTP for spec.insecure and
// opts.Insecure. loadErr is what images.Load returned with src; its file
// errors are a failure of their own.
//
// Listing is what tidegate images does first, so it proves the address,
// the credentials and the repository at once; a registry that answers 503
// is retried as opts.Retry says, so keep that short for a quick check.
func Registries(ctx context.Context, src *images.Sources, loadErr error, opts scan.Options) []Result {
	var out []Result
	if loadErr != nil {
		out = append(out, Result{Name: "images", Detail: loadErr.Error(),
			Hint: "fix the files named above; tidegate images skips what it cannot parse"})
	}
	if src == nil {
		return out
	}
	targets, users, problems := registryTargets(src)
	out = append(out, problems...)
	if len(targets) == 0 {
		return append(out, Result{Name: "registry", OK: true, Detail: "no image policies in the paths; no registry to reach"})
	}
	return append(out, reach(ctx, targets, users, opts)...)
}

// registryKey is one probe: the same repository with other settings or
// credentials is asked again.
type registryKey struct {
	repo     string
	insecure bool
	secret   string
}

// registryTargets collects the repositories the image policies and the
// Flux v1 automation sites scan, each with the objects that need it, and
// the policies whose repository or credentials cannot be worked out.
func registryTargets(src *images.Sources) (targets map[registryKey]scan.Target, users map[registryKey][]string, problems []Result) {
	targets = map[registryKey]scan.Target{}
	users = map[registryKey][]string{}
	use := func(k registryKey, t scan.Target, user string) {
		targets[k] = t
		users[k] = append(users[k], user)
	}

	keys := make([]string, 0, len(src.Policies))
	for k := range src.Policies {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, pk := range keys {
		pol := src.Policies[pk]
		user := "ImagePolicy " + policyName(pol.Key)
		ir, ok := lookup(src.Repositories, pol.Repository)
		if !ok {
			problems = append(problems, Result{Name: "registry", Detail: fmt.Sprintf("%s (%s:%d) refers to ImageRepository %s, which the paths do not declare", user, pol.File, pol.Line, policyName(pol.Repository)),
				Hint: "add the ImageRepository to the --path, or fix spec.imageRepositoryRef"})
			continue
		}
		k := registryKey{repo: ir.Image, insecure: ir.Insecure}
		t := scan.Target{Repository: ir.Image, Insecure: ir.Insecure}
		if ir.SecretRef != "" {
			ns, _, _ := strings.Cut(ir.Key, ":")
			secret := ns + "/" + ir.SecretRef
			// A Secret outside the paths falls back to the keychain, as
			// in tidegate images.
			if data, ok := src.Secrets[secret]; ok {
				auth, err := secretAuth(data, ir.Image)
				if err != nil {
					problems = append(problems, Result{Name: "registry", Detail: fmt.Sprintf("%s: ImageRepository %s (%s:%d): Secret %s: %v", ir.Image, policyName(ir.Key), ir.File, ir.Line, secret, err),
						Hint: "fix the Secret's .dockerconfigjson"})
					continue
				}
				k.secret, t.Auth = secret, auth
			}
		}
		use(k, t, user)
	}
	for _, site := range src.Sites {
		if site.Pattern == nil || site.Locked {
			continue
		}
		repo, _ := site.V1Image()
		use(registryKey{repo: repo}, scan.Target{Repository: repo}, site.Object.String()+" (Flux v1 automation)")
	}
	return targets, users, problems
}

// reach lists the tags of every target, as tidegate images would, and
// returns one line per target naming the objects that need it.
func reach(ctx context.Context, targets map[registryKey]scan.Target, users map[registryKey][]string, opts scan.Options) []Result {
	order := make([]registryKey, 0, len(targets))
	for k := range targets {
		order = append(order, k)
	}
	sort.Slice(order, func(i, j int) bool { return fmt.Sprint(order[i]) < fmt.Sprint(order[j]) })
	ts := make([]scan.Target, len(order))
	for i, k := range order {
		ts[i] = targets[k]
	}
	out := make([]Result, 0, len(order))
	for i, tl := range scan.New(opts).Tags(ctx, ts) {
		k := order[i]
		by := "for " + strings.Join(dedupe(users[k]), ", ")
		if k.secret != "" {
			by += ", with Secret " + k.secret
		}
		if tl.Err != nil {
			out = append(out, Result{Name: "registry", Detail: fmt.Sprintf("%s (%s): %v", k.repo, by, tl.Err),
				Hint: "check that the registry is reachable from here, the credentials (--docker-config or the ImageRepository's secretRef), and --insecure-registry for a plain-HTTP registry"})
			continue
		}
		out = append(out, Result{Name: "registry", OK: true, Detail: fmt.Sprintf("%s: %s (%s)", k.repo, plural(len(tl.Tags), "tag"), by)})
	}
	return out
}

// secretAuth picks the credentials for image from a dockerconfigjson.
func secretAuth(data []byte, image string) (authn.Authenticator, error) {
	kc, err := scan.ParseDockerConfig(data)
	if err != nil {
		return nil, err
	}
	repo, err := name.NewRepository(image)
	if err != nil {
		return nil, fmt.Errorf("spec.image %q: %w", image, err)
	}
	return kc.Resolve(repo)
}

// lookup finds an ImageRepository by "namespace:name" as tidegate images
// does: one declared without a namespace (kustomize or Flux set it) is
// found under any namespace.
func lookup(m map[string]*images.ImageRepository, key string) (*images.ImageRepository, bool) {
	if r, ok := m[key]; ok {
		return r, true
	}
	_, n, _ := strings.Cut(key, ":")
	r, ok := m[":"+n]
	return r, ok
}

// policyName prints "namespace:name" keys, which are ":name" when the
// file sets no namespace.
func policyName(key string) string { return strings.TrimPrefix(key, ":") }

func dedupe(ss []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
