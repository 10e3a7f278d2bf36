package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreclient "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/tidegate/tidegate/images"
	"github.com/tidegate/tidegate/images/scan"
	"github.com/tidegate/tidegate/propose"
)

// ImagesCmd groups the image automation commands.
type ImagesCmd struct {
	List   ImagesListCmd   `cmd:"" help:"List workloads, their images and the tags their policies select."`
	Update ImagesUpdateCmd `cmd:"" help:"Rewrite image references to the tags their policies select."`
}

// RegistryFlags configure registry access for the images commands.
type RegistryFlags struct {
	DockerConfig     string   `help:"Directory with a Docker config.json holding registry credentials. Default: $$DOCKER_CONFIG, then ~/.docker." env:"TIDEGATE_DOCKER_CONFIG" type:"path" placeholder:"DIR"`
	InsecureRegistry []string `help:"Registry host[:port] to reach over plain HTTP instead of HTTPS. Repeatable." env:"TIDEGATE_INSECURE_REGISTRY" sep:"," placeholder:"HOST"`
	Concurrency      int      `help:"Registry requests in flight at once, across repositories." default:"8" env:"TIDEGATE_IMAGES_CONCURRENCY"`
	Strict           bool     `help:"Fail on a marker naming an ImagePolicy the scanned paths do not declare (default: leave it untouched with a warning)." env:"TIDEGATE_IMAGES_STRICT"`
	ClusterSecrets   bool     `help:"Read an ImageRepository's spec.secretRef Secret from the cluster when the paths do not hold it, as Flux does (needs get on that Secret; uses --kubeconfig or the in-cluster service account)." env:"TIDEGATE_CLUSTER_SECRETS"`
}

func (f *RegistryFlags) options(g *Globals, paths []string) (images.Options, error) {
	dir := f.DockerConfig
	if dir == "" {
		dir = g.getenv("DOCKER_CONFIG")
	}
	if dir == "" {
		if home := g.getenv("HOME"); home != "" {
			dir = filepath.Join(home, ".docker")
		}
	}
	keychain := &scan.Keychain{}
	if dir != "" {
		var err error
		if keychain, err = scan.LoadDockerConfig(dir); err != nil {
			return images.Options{}, fmt.Errorf("%w (fix the file or point --docker-config at another directory)", err)
		}
	}
	var secrets func(context.Context, string, string) ([]byte, bool, error)
	if f.ClusterSecrets {
		cfg, err := g.RESTConfig()
		if err != nil {
			return images.Options{}, fmt.Errorf("--cluster-secrets: %w", err)
		}
		client, err := coreclient.NewForConfig(cfg)
		if err != nil {
			return images.Options{}, fmt.Errorf("--cluster-secrets: %w", err)
		}
		secrets = clusterSecret(client)
	}
	return images.Options{
		Paths:        paths,
		Strict:       f.Strict,
		SecretSource: secrets,
		Logger:       g.Logger(),
		Scan: scan.Options{
			Concurrency: f.Concurrency,
			Keychain:    keychain,
			Insecure:    f.InsecureRegistry,
			Logger:      g.Logger(),
		},
	}, nil
}

// ImagesListCmd lists every automated image with its candidate tags, like
// fluxctl list-images.
type ImagesListCmd struct {
	SourceFlags
	RegistryFlags
	Limit int `help:"Tags shown per image, the policy's preference first." default:"5" env:"TIDEGATE_IMAGES_LIMIT"`
}

// Run scans the registries and prints one entry per marker or Flux v1
// container. Registry errors are printed with their entries and make the
// command fail after printing.
func (c *ImagesListCmd) Run(ctx context.Context, g *Globals) error {
	co, err := c.Open(ctx)
	if err != nil {
		return err
	}
	defer co.Close()
	opts, err := c.options(g, c.Path)
	if err != nil {
		return err
	}
	opts.Tags = c.Limit
	plan, err := images.List(ctx, co.Dir, opts)
	if plan == nil {
		return err
	}
	if g.Output == "json" {
		if perr := printJSON(g.stdout(), listJSON{Entries: nonNil(plan.Entries), Warnings: nonNil(plan.Warnings)}); perr != nil {
			return perr
		}
		return err
	}
	if perr := printEntries(g.stdout(), plan.Entries); perr != nil {
		return perr
	}
	return err
}

type listJSON struct {
	Entries  []images.Entry `json:"entries"`
	Warnings []string       `json:"warnings"`
}

func printEntries(w io.Writer, entries []images.Entry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OBJECT\tCONTAINER\tLOCATION\tPOLICY\tIMAGE\tSTATUS")
	for _, e := range entries {
		status := string(e.Status)
		switch e.Status {
		case images.StatusUpdate:
			status += " -> " + e.Latest
		case images.StatusError, images.StatusSkipped, images.StatusLocked:
			status += ": " + e.Reason
		}
		policy := e.Policy
		if e.Marker != "" {
			policy = e.Marker
		}
		repo := e.Repository
		if repo == "" {
			repo = e.Current
		}
		fmt.Fprintf(tw, "%s\t%s\t%s:%d\t%s\t%s\t%s\n", e.Object, dash(e.Container), e.File, e.Line, policy, repo, status)
		inUse := false
		for _, t := range e.Tags {
			prefix, suffix := "|   ", ""
			if t == e.CurrentTag {
				prefix, inUse = "'-> ", true
			}
			if t == e.Latest {
				suffix = " (selected)"
			}
			fmt.Fprintf(tw, "\t\t\t\t%s%s%s\t\n", prefix, t, suffix)
		}
		if !inUse && e.CurrentTag != "" && len(e.Tags) > 0 {
			fmt.Fprintf(tw, "\t\t\t\t'-> %s (in use)\t\n", e.CurrentTag)
		}
	}
	return tw.Flush()
}

// ImagesUpdateCmd rewrites the marked image references in the working
// tree.
type ImagesUpdateCmd struct {
	SourceFlags
	RegistryFlags
	ProposeFlags
	DryRun bool `help:"Print a unified diff of the bumps and write nothing (with --propose: the branch, commit message and pull request body). Exit 2 when there are bumps." env:"TIDEGATE_DRY_RUN"`
}

// Run updates the working tree of the source and prints the change set.
// Repositories that failed are reported after everything else was
// written.
func (c *ImagesUpdateCmd) Run(ctx context.Context, g *Globals) error {
	co, err := c.Open(ctx)
	if err != nil {
		return err
	}
	defer co.Close()
	if err := checkPaths(co.Dir, c.Path); err != nil {
		return err
	}
	opts, err := c.options(g, c.Path)
	if err != nil {
		return err
	}
	// A proposal is one branch per policy (or one with --group), which
	// propose.Run plans from the bumps itself.
	if c.Propose {
		return c.runPropose(ctx, g, co, opts)
	}
	d := delivery{DryRun: c.DryRun}
	if err := d.refuseRemote(co, "change it through pull requests", "the bumps"); err != nil {
		return err
	}
	// images only plans the rewrite (checking every target); the delivery
	// writes it, as for every other command that edits the repository.
	res, err := images.Update(ctx, co.Dir, opts)
	if res == nil {
		return err
	}
	if _, werr := d.deliver(ctx, co, edits{Files: bumpedFiles(res.Files)}, nil, propose.Options{}); werr != nil {
		err = errors.Join(err, werr)
	}
	var perr error
	switch {
	case g.Output == "json":
		perr = printJSON(g.stdout(), updateJSON{DryRun: c.DryRun, Changes: nonNil(res.Changes), Files: editedFiles(res.Files), Warnings: nonNil(res.Warnings), Diff: diffIf(c.DryRun, res)})
	case c.DryRun:
		_, perr = io.WriteString(g.stdout(), res.Diff())
	default:
		perr = printChanges(g.stdout(), res.Changes)
	}
	g.Logger().Info("image update", "changes", len(res.Changes), "files", len(res.Files), "dryRun", c.DryRun)
	if err != nil || perr != nil {
		return errors.Join(err, perr)
	}
	if c.DryRun && len(res.Changes) > 0 {
		return &ExitError{Code: ExitChanges}
	}
	return nil
}

type updateJSON struct {
	DryRun   bool            `json:"dryRun"`
	Changes  []images.Change `json:"changes"`
	Files    []string        `json:"files"`
	Warnings []string        `json:"warnings"`
	Diff     string          `json:"diff,omitempty"`
}

func printChanges(w io.Writer, changes []images.Change) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tOBJECT\tCONTAINER\tPOLICY\tCHANGE")
	for _, c := range changes {
		policy := c.Policy
		if c.Marker != "" {
			policy = c.Marker
		}
		fmt.Fprintf(tw, "%s:%d\t%s\t%s\t%s\t%s -> %s\n", c.File, c.Line, c.Object, dash(c.Container), policy, c.Old, c.New)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	files := map[string]bool{}
	for _, c := range changes {
		files[c.File] = true
	}
	_, err := fmt.Fprintf(w, "%d image references updated in %d files\n", len(changes), len(files))
	return err
}

func editedFiles(fs []images.FileEdit) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.File)
	}
	slices.Sort(out)
	return out
}

// bumpedFiles are the rewritten files of an update, to be delivered.
func bumpedFiles(fs []images.FileEdit) []fileEdit {
	out := make([]fileEdit, 0, len(fs))
	for _, f := range fs {
		out = append(out, fileEdit{Path: f.File, Data: f.After})
	}
	return out
}

func diffIf(dryRun bool, res *images.Result) string {
	if !dryRun {
		return ""
	}
	return res.Diff()
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// nonNil keeps JSON arrays as [] instead of null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// clusterSecret reads dockerconfigjson Secrets from the cluster, the way
// Flux's image-reflector-controller reads an ImageRepository's secretRef.
func clusterSecret(client coreclient.SecretsGetter) func(context.Context, string, string) ([]byte, bool, error) {
	return func(ctx context.Context, ns, name string) ([]byte, bool, error) {
		s, err := client.Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		data, ok := s.Data[corev1.DockerConfigJsonKey]
		if s.Type != corev1.SecretTypeDockerConfigJson || !ok {
			return nil, false, fmt.Errorf("Secret %s/%s is of type %s, not %s with a %s key", ns, name, s.Type, corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey)
		}
		return data, true, nil
	}
}
