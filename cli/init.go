package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"filippo.io/age"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/tidegate/tidegate/bootstrap"
	"github.com/tidegate/tidegate/forge"
	"github.com/tidegate/tidegate/internal/gitremote"
	"github.com/tidegate/tidegate/internal/markdown"
	"github.com/tidegate/tidegate/propose"
	"github.com/tidegate/tidegate/render"
	"github.com/tidegate/tidegate/source"
)

// InitCmd sets a repository up for tidegate, as `flux bootstrap` does for
// Flux: the manifests or pipeline of the place tidegate will run from, a
// .sops.yaml for an age key, and an SSH deploy key. Private keys go only
// to local files the user names, never into Git, stdout or a pull
// request.
type InitCmd struct {
	SourceFlags
	Home             string   `help:"Where tidegate will run: cronjob (a CronJob in the cluster; manifests under --dir), github (a GitHub Actions workflow, .github/workflows/tidegate.yml) or gitlab (an include of tidegate's GitLab CI template, .gitlab-ci.yml)." required:"" enum:"cronjob,github,gitlab" env:"TIDEGATE_INIT_HOME" placeholder:"cronjob|github|gitlab"`
	Dir              string   `help:"cronjob: directory of the repository for the CronJob's manifests, a kustomization to install with kubectl apply -k DIR. Keep it outside the --path tidegate reconciles." default:"tidegate" env:"TIDEGATE_INIT_DIR" placeholder:"DIR"`
	RBAC             string   `name:"rbac" help:"cronjob: what tidegate may change. cluster: any object, CRDs and Namespaces included (still no escalate, bind or impersonate). namespaced: only the --namespace namespaces, each through a RoleBinding, and the CronJob refuses anything else." enum:"cluster,namespaced" default:"cluster" env:"TIDEGATE_INIT_RBAC"`
	Namespace        []string `help:"cronjob with --rbac namespaced: a namespace tidegate manages (a RoleBinding, and --allow-namespace for the CronJob). Repeatable." env:"TIDEGATE_INIT_NAMESPACES" sep:"," placeholder:"NS"`
	RepoURL          string   `name:"repo-url" help:"cronjob: the repository URL the CronJob clones (TIDEGATE_SOURCE). Default: the source's origin remote, in SSH form (git@host:owner/repo.git) with --deploy-key-out, in HTTPS form without." env:"TIDEGATE_INIT_REPO_URL" placeholder:"URL"`
	InventoryName    string   `help:"Name of the inventory the generated configuration uses (one per set of --path). Default: the last element of --path, or tidegate." env:"TIDEGATE_INVENTORY_NAME" placeholder:"NAME"`
	AgeRecipient     string   `help:"Write a .sops.yaml that encrypts Secrets for this existing age recipient (age1…). The private key stays with you; give it to tidegate yourself." env:"TIDEGATE_AGE_RECIPIENT" placeholder:"AGE1…"`
	AgeKeyOut        string   `help:"Generate a new age key for the .sops.yaml and write its private key to FILE (mode 0600, outside the repository). An existing FILE is reused, never overwritten." env:"TIDEGATE_AGE_KEY_OUT" placeholder:"FILE"`
	DeployKeyOut     string   `help:"Generate an SSH deploy key (ed25519) and write its private key to FILE (mode 0600, OpenSSH format, outside the repository); the public key is printed. An existing FILE is reused. With --home cronjob, the CronJob reads the repository over SSH with it." env:"TIDEGATE_DEPLOY_KEY_OUT" placeholder:"FILE"`
	InstallDeployKey bool     `help:"Add the --deploy-key-out key to the repository as a read-only deploy key through the forge API (needs a token with admin rights on the repository). A key already there is left as it is." env:"TIDEGATE_INSTALL_DEPLOY_KEY"`
	Force            bool     `help:"Overwrite files of the repository that exist with other content (never .gitlab-ci.yml, never a key file)." env:"TIDEGATE_INIT_FORCE"`
	Propose          bool     `help:"Commit the files to the branch tidegate/init and open (or update) one pull/merge request, instead of writing the working tree. Needed for a remote --source." env:"TIDEGATE_PROPOSE"`
	DryRun           bool     `help:"Print the files that would be written, with their content (never a private key), and write nothing: no file, no key, no pull request, no API call. Exit 2 when something would be written." env:"TIDEGATE_DRY_RUN"`
	Image            string   `help:"The tidegate image the CronJob (cronjob) or the jobs (gitlab) run, pinned by tag or digest, never :latest; its release tag also pins the action (github) and the GitLab template. Default: this tidegate's own release, ghcr.io/tidegate/tidegate:vX.Y.Z (a development build names the release it was built after)." env:"TIDEGATE_INIT_IMAGE" placeholder:"IMAGE"`
	ForgeFlags
}

// initBranch is the one branch every init proposes on, so that a second
// run updates its pull request instead of opening another.
const initBranch = "tidegate/init"

// initResult is what init prints, as text or with --output json.
type initResult struct {
	Home      string               `json:"home"`
	Source    string               `json:"source"`
	Paths     []string             `json:"paths"`
	Inventory string               `json:"inventory"`
	DryRun    bool                 `json:"dryRun"`
	Changed   bool                 `json:"changed"`
	Files     []bootstrap.File     `json:"files"`
	AgeKey    *bootstrap.AgeKey    `json:"ageKey,omitempty"`
	DeployKey *bootstrap.DeployKey `json:"deployKey,omitempty"`
	Proposal  *propose.Proposal    `json:"proposal,omitempty"`
	// Snippet is what to add to an existing .gitlab-ci.yml by hand.
	Snippet   string   `json:"snippet,omitempty"`
	NextSteps []string `json:"nextSteps"`
}

// repoInfo is what init knows of the repository beyond its files.
type repoInfo struct {
	// remote is the credential-free remote URL; "" when unknown.
	remote string
	// name is owner/repo (a GitLab project path), for titles and comments.
	name string
	// base is the branch CI reconciles and the pull request merges into.
	base string
	// cloneURL is what a CronJob clones (TIDEGATE_SOURCE).
	cloneURL string
}

// Run writes, proposes or prints the files, keys and next steps.
func (c *InitCmd) Run(ctx context.Context, g *Globals) error {
	paths, inventory, err := c.check()
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	co, err := c.Open(ctx)
	if err != nil {
		return err
	}
	defer co.Close()
	if err := c.checkCheckout(co, paths); err != nil {
		return err
	}
	repo, err := c.repoInfo(g, co)
	if err != nil {
		return err
	}

	res := &initResult{Home: c.Home, Source: co.URL, Paths: paths, Inventory: inventory, DryRun: c.DryRun}
	if err := c.plan(co.Dir, repo, res); err != nil {
		return err
	}

	prForge, keyForge, err := c.forges(g, co, repo)
	if err != nil {
		return err
	}

	for _, f := range res.Files {
		res.Changed = res.Changed || f.Writes()
	}
	res.Changed = res.Changed || (res.AgeKey != nil && res.AgeKey.Created) || (res.DeployKey != nil && res.DeployKey.Created)
	if !c.DryRun {
		// Keys first: .sops.yaml names the age key, so it must not land in
		// Git while the key that decrypts for it failed to be saved.
		if err := bootstrap.WriteKeys(res.AgeKey, res.DeployKey); err != nil {
			return err
		}
	}
	sum := Summary{Command: "init", Source: co.URL, Revision: co.Revision, Changed: res.Changed, Counts: map[string]int{}}
	for _, f := range res.Files {
		sum.Counts[f.Action]++
	}

	// A failed proposal or key installation still prints what was done,
	// so that the public key and the key files are never lost from view.
	runErr, err := c.deliver(ctx, g, co, repo, res, prForge, keyForge)
	if err != nil {
		return err
	}
	if res.Proposal != nil && res.Proposal.PullRequest != nil {
		sum.PullRequestURL = res.Proposal.PullRequest.URL
	}
	if c.DryRun {
		for i, f := range res.Files {
			if f.Writes() {
				res.Files[i].Content = string(f.Data)
			}
		}
	}
	res.NextSteps = c.nextSteps(res, repo)
	var perr error
	if g.Output == "json" {
		perr = printJSON(g.stdout(), res)
	} else {
		perr = c.print(g.stdout(), res, repo)
	}
	sum.Err = runErr
	g.summarize(sum)
	if runErr != nil || perr != nil {
		return errors.Join(runErr, perr)
	}
	if c.DryRun && res.Changed {
		return &ExitError{Code: ExitChanges}
	}
	return nil
}

// checkCheckout refuses, before anything is read or made, a run the
// repository cannot take: a remote one written in place, a --path out of
// it, a key file inside it, or no age key for a missing .sops.yaml.
func (c *InitCmd) checkCheckout(co *source.Checkout, paths []string) error {
	if err := c.delivery().refuseRemote(co, "add the files through a pull request", "them"); err != nil {
		return err
	}
	if err := checkPaths(co.Dir, paths); err != nil {
		return err
	}
	if c.Propose && co.Remote() == "" {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--propose pushes a branch, but %s has no origin remote: add one, or pass the repository as --source URL", co.URL)}
	}
	if !co.Temporary() {
		for flag, file := range map[string]string{"--age-key-out": c.AgeKeyOut, "--deploy-key-out": c.DeployKeyOut} {
			if file != "" && inside(co.Dir, file) {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s %s is inside the repository, where a private key could be committed: write it elsewhere (e.g. ~/.config/tidegate/%s)", flag, file, filepath.Base(file))}
			}
		}
	}
	if c.AgeRecipient == "" && c.AgeKeyOut == "" {
		// Without a key there is no .sops.yaml to write; one that exists
		// already is the user's and stays.
		if _, err := os.Stat(filepath.Join(co.Dir, bootstrap.SOPSFile)); err != nil {
			return &ExitError{Code: ExitUsage, Err: errors.New("SOPS needs an age key: pass --age-key-out FILE to generate one, or --age-recipient age1… to use yours")}
		}
	}
	return nil
}

// plan loads or makes the keys, renders the home's files and decides
// what writing each means, refusing a file the next reconcile would apply.
func (c *InitCmd) plan(dir string, repo repoInfo, res *initResult) error {
	var err error
	if res.AgeKey, err = c.loadAgeKey(); err != nil {
		return err
	}
	if res.DeployKey, err = c.loadDeployKey(repo.name); err != nil {
		return err
	}
	files, err := c.files(repo, res.Paths, res.Inventory, res.AgeKey)
	if err != nil {
		return err
	}
	if res.Files, err = bootstrap.Plan(dir, files, c.Force); err != nil {
		return err
	}
	if err := c.checkRendered(dir, res.Paths, res.Files); err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	for _, f := range res.Files {
		if f.Path == bootstrap.GitLabCIFile && f.Action == bootstrap.Skip && f.Reason != bootstrap.ReasonHasTemplate {
			res.Snippet = string(f.Data)
		}
	}
	return nil
}

// forges makes every forge the run needs before anything is written, so
// that a missing token fails the run while it has done nothing.
func (c *InitCmd) forges(g *Globals, co *source.Checkout, repo repoInfo) (forge.Forge, forge.DeployKeyAdder, error) {
	if c.DryRun {
		return nil, nil, nil
	}
	var prForge forge.Forge
	if c.Propose {
		var err error
		if prForge, err = c.newForge(g, co); err != nil {
			return nil, nil, err
		}
	}
	if !c.InstallDeployKey {
		return prForge, nil, nil
	}
	if repo.remote == "" {
		return nil, nil, fmt.Errorf("--install-deploy-key: %s has no origin remote to tell which repository to add the key to; add the remote, or pass the repository as --source URL", co.URL)
	}
	f, err := c.forgeFor(g, repo.remote, "--install-deploy-key")
	if err != nil {
		return nil, nil, err
	}
	adder, ok := f.(forge.DeployKeyAdder)
	if !ok {
		return nil, nil, fmt.Errorf("--install-deploy-key: %T cannot add deploy keys; add the key printed below by hand", f)
	}
	return prForge, adder, nil
}

// delivery is how init lands its files.
func (c *InitCmd) delivery() delivery { return delivery{Propose: c.Propose, DryRun: c.DryRun} }

// deliver writes the files in place, or proposes them, and installs the
// deploy key. err stops the run at once; runErr is reported after the
// result is printed.
func (c *InitCmd) deliver(ctx context.Context, g *Globals, co *source.Checkout, repo repoInfo, res *initResult, prForge forge.Forge, keyForge forge.DeployKeyAdder) (runErr, err error) {
	d := c.delivery()
	p, err := d.deliver(ctx, co, c.proposal(res, repo), func() (forge.Forge, error) { return prForge, nil }, c.options(g, c.DryRun))
	switch {
	case c.Propose:
		res.Proposal, runErr = p, err
	case err != nil:
		return nil, err
	}
	if keyForge != nil && runErr == nil {
		title := "tidegate " + bootstrap.Fingerprint(res.DeployKey.PublicKey)
		if err := keyForge.AddDeployKey(ctx, title, res.DeployKey.PublicKey, true); err != nil {
			runErr = fmt.Errorf("install the deploy key: %w (or add the public key printed above by hand, read-only)", err)
		} else {
			res.DeployKey.Installed = true
		}
	}
	return runErr, nil
}

// check validates the flags that need no repository, so that a wrong
// command line does nothing at all.
func (c *InitCmd) check() (paths []string, inventory string, err error) {
	switch c.Home {
	case bootstrap.HomeCronJob, bootstrap.HomeGitHub, bootstrap.HomeGitLab:
	default:
		return nil, "", fmt.Errorf("--home %q: choose cronjob (a CronJob in the cluster), github (a GitHub Actions workflow) or gitlab (a GitLab CI include)", c.Home)
	}
	for _, p := range c.Path {
		clean, err := repoPath("--path", p)
		if err != nil {
			return nil, "", err
		}
		if !slices.Contains(paths, clean) {
			paths = append(paths, clean)
		}
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	if c.Home != bootstrap.HomeCronJob && (len(c.Namespace) > 0 || c.RepoURL != "" || c.RBAC == "namespaced") {
		return nil, "", fmt.Errorf("--namespace, --rbac and --repo-url configure the CronJob; --home %s does not use them", c.Home)
	}
	if c.Home == bootstrap.HomeCronJob {
		dir, err := repoPath("--dir", c.Dir)
		if err != nil {
			return nil, "", err
		}
		if dir == "." {
			return nil, "", errors.New("--dir must be a subdirectory of the repository, for example tidegate")
		}
		c.Dir = dir
		switch c.RBAC {
		case "", "cluster":
			c.RBAC = "cluster"
			if len(c.Namespace) > 0 {
				return nil, "", errors.New("--namespace needs --rbac namespaced")
			}
		case "namespaced":
			if len(c.Namespace) == 0 {
				return nil, "", errors.New("--rbac namespaced needs the namespaces tidegate may manage: pass --namespace NS (repeatable)")
			}
		default:
			return nil, "", fmt.Errorf("--rbac %q: choose cluster or namespaced", c.RBAC)
		}
		var nss []string
		for _, ns := range c.Namespace {
			if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
				return nil, "", fmt.Errorf("--namespace %q is not a namespace name: %s", ns, strings.Join(msgs, "; "))
			}
			if !slices.Contains(nss, ns) {
				nss = append(nss, ns)
			}
		}
		c.Namespace = nss
	}
	inventory = c.InventoryName
	if inventory == "" {
		inventory = bootstrap.DefaultInventory(paths)
	} else if msgs := validation.IsDNS1123Subdomain(inventory); len(msgs) > 0 {
		return nil, "", fmt.Errorf("--inventory-name %q is not an object name: %s", inventory, strings.Join(msgs, "; "))
	}
	switch {
	case c.AgeRecipient != "" && c.AgeKeyOut != "":
		return nil, "", errors.New("pass either --age-recipient (your key) or --age-key-out (a new key), not both")
	case c.AgeRecipient != "":
		if _, err := age.ParseX25519Recipient(strings.TrimSpace(c.AgeRecipient)); err != nil {
			return nil, "", fmt.Errorf("--age-recipient %q is not an age recipient (age1…, as age-keygen -y prints it): %w", c.AgeRecipient, err)
		}
	}
	for flag, file := range map[string]string{"--age-key-out": c.AgeKeyOut, "--deploy-key-out": c.DeployKeyOut} {
		if file == "-" || strings.HasPrefix(filepath.Clean(file), "/dev/") || strings.HasPrefix(filepath.Clean(file), "/proc/") {
			return nil, "", fmt.Errorf("%s %s: tidegate never prints a private key; name a file to write it to", flag, file)
		}
	}
	if c.AgeKeyOut != "" && c.AgeKeyOut == c.DeployKeyOut {
		return nil, "", errors.New("--age-key-out and --deploy-key-out name the same file; give each key its own")
	}
	if c.InstallDeployKey && c.DeployKeyOut == "" {
		return nil, "", errors.New("--install-deploy-key installs the key of --deploy-key-out: pass --deploy-key-out FILE too")
	}
	if _, err := bootstrap.ParseImage(c.Image); err != nil {
		return nil, "", err
	}
	return paths, inventory, nil
}

// repoPath cleans a repository-relative, slash-separated path and refuses
// one that leaves the repository.
func repoPath(flag, p string) (string, error) {
	clean := path.Clean(strings.TrimSpace(filepath.ToSlash(p)))
	if clean == "" || path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%s %q must be a path inside the repository, relative to its root (e.g. clusters/prod)", flag, p)
	}
	return clean, nil
}

// inside reports whether file is within dir, links resolved as far as
// they exist.
func inside(dir, file string) bool {
	resolve := func(p string) string {
		abs, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		// The file itself usually does not exist yet; resolve its parent.
		if r, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
			return filepath.Join(r, filepath.Base(abs))
		}
		return abs
	}
	d, err := filepath.EvalSymlinks(dir)
	if err != nil {
		d = dir
	}
	rel, err := filepath.Rel(d, resolve(file))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// repoInfo works out the remote, name, base branch and the URL the
// CronJob clones.
func (c *InitCmd) repoInfo(g *Globals, co *source.Checkout) (repoInfo, error) {
	rem := parseRemote(co.Remote())
	if rem.CloneURL() == "" && co.Temporary() {
		rem = parseRemote(co.URL)
	}
	r := repoInfo{remote: rem.CloneURL()}
	if !rem.IsLocal() {
		r.name = rem.Path
	}
	if r.name == "" {
		r.name = filepath.Base(co.Dir)
	}
	switch {
	case c.Base != "":
		r.base = c.Base
	case co.Temporary() && co.Branch != "":
		r.base = co.Branch
	default:
		r.base = originHead(co.Dir)
		if r.base == "" {
			r.base = co.Branch
		}
		if r.base == "" {
			r.base = "main"
		}
	}
	if c.Home != bootstrap.HomeCronJob {
		return r, nil
	}
	switch {
	case c.RepoURL != "":
		r.cloneURL = c.RepoURL
	case r.remote == "":
		return r, &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s has no origin remote, so the CronJob would not know what to clone: pass --repo-url URL", co.URL)}
	case c.DeployKeyOut != "":
		r.cloneURL = rem.SSHForm()
	default:
		r.cloneURL = rem.HTTPSForm()
	}
	if clone := parseRemote(r.cloneURL); (!strings.Contains(r.cloneURL, "://") && !clone.SCP) || strings.HasPrefix(r.cloneURL, "file://") {
		g.Logger().Warn("the CronJob will clone a local path, which a pod cannot reach; pass --repo-url with the repository's URL", "url", r.cloneURL)
	}
	return r, nil
}

// parseRemote parses a remote for init's purposes: one that does not
// parse is kept as it was, like a local path, for Git to judge.
func parseRemote(raw string) gitremote.Remote {
	r, err := gitremote.Parse(raw)
	if err != nil {
		return gitremote.Local(raw)
	}
	return r
}

// originHead is the branch origin/HEAD points at, the remote's default
// branch as the clone recorded it; "" when unknown.
func originHead(dir string) string {
	r, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return ""
	}
	ref, err := r.Reference(plumbing.NewRemoteHEADReferenceName("origin"), false)
	if err != nil || ref.Type() != plumbing.SymbolicReference {
		return ""
	}
	return strings.TrimPrefix(ref.Target().Short(), "origin/")
}

// loadAgeKey returns the recipient of .sops.yaml: given, read from an
// existing key file, or a new key that bootstrap.WriteKeys saves.
func (c *InitCmd) loadAgeKey() (*bootstrap.AgeKey, error) {
	switch {
	case c.AgeRecipient != "":
		r, err := age.ParseX25519Recipient(strings.TrimSpace(c.AgeRecipient))
		if err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--age-recipient: %w", err)}
		}
		return &bootstrap.AgeKey{Recipient: r.String()}, nil
	case c.AgeKeyOut == "":
		return nil, nil
	}
	return bootstrap.LoadAgeKey(c.AgeKeyOut, c.DryRun)
}

// loadDeployKey reads the deploy key of an existing --deploy-key-out, so
// that a second run installs and configures the same key, or makes one.
func (c *InitCmd) loadDeployKey(repoName string) (*bootstrap.DeployKey, error) {
	if c.DeployKeyOut == "" {
		return nil, nil
	}
	return bootstrap.LoadDeployKey(c.DeployKeyOut, "tidegate@"+repoName, c.DryRun)
}

// files renders every file of the repository init would write.
func (c *InitCmd) files(repo repoInfo, paths []string, inventory string, ak *bootstrap.AgeKey) (map[string][]byte, error) {
	img, err := bootstrap.ParseImage(c.Image)
	if err != nil {
		return nil, err
	}
	cfg := bootstrap.Config{
		Home: c.Home, Paths: paths, Inventory: inventory, Image: img,
		Base: repo.base,
		Dir:  c.Dir, RBAC: c.RBAC, Namespaces: c.Namespace, CloneURL: repo.cloneURL, SSHKey: c.DeployKeyOut != "",
	}
	if ak != nil {
		cfg.AgeRecipient = ak.Recipient
	}
	return bootstrap.Files(cfg)
}

// checkRendered refuses to write a manifest-like file into a path tidegate
// renders as a plain directory: the next reconcile would try to apply a
// kustomization.yaml or a pipeline as a Kubernetes object.
func (c *InitCmd) checkRendered(dir string, paths []string, files []bootstrap.File) error {
	for _, p := range paths {
		if isKustomizationDir(filepath.Join(dir, filepath.FromSlash(p))) {
			continue
		}
		for _, f := range files {
			if !f.Writes() || !renderedBelow(p, f.Path) {
				continue
			}
			hint := "pass --path for the directory with your manifests (e.g. clusters/prod)"
			if c.Home == bootstrap.HomeCronJob && strings.HasPrefix(f.Path, c.Dir+"/") {
				hint += ", or --dir outside it"
			}
			return fmt.Errorf("%s would be inside --path %s, which tidegate renders as a plain directory (it has no kustomization.yaml), so a reconcile would try to apply it: %s", f.Path, p, hint)
		}
	}
	return nil
}

func isKustomizationDir(dir string) bool {
	_, ok := render.KustomizationFile(dir)
	return ok
}

// renderedBelow applies render's plain-directory rules to a file init
// would write below the path.
func renderedBelow(dir, file string) bool {
	rel := file
	if dir != "." {
		var ok bool
		if rel, ok = strings.CutPrefix(file, dir+"/"); !ok {
			return false
		}
	}
	parts := strings.Split(rel, "/")
	for _, d := range parts[:len(parts)-1] {
		if render.PlainSkipsDir(d) {
			return false
		}
	}
	return render.PlainManifest(parts[len(parts)-1])
}

// proposal is what init delivers: every file it writes, and the one
// pull request that holds them.
func (c *InitCmd) proposal(res *initResult, repo repoInfo) edits {
	e := edits{Branch: initBranch}
	var list strings.Builder
	for _, f := range res.Files {
		if f.Writes() {
			e.Files = append(e.Files, fileEdit{Path: f.Path, Data: f.Data})
			fmt.Fprintf(&list, "- %s\n", markdown.Code(f.Path))
		}
	}
	title := markdown.Line("Set up tidegate: " + bootstrap.Title(c.Home) + " for " + strings.Join(res.Paths, ", "))
	e.Message = title + "\n\nWritten by `tidegate init --home " + c.Home + "`.\n"
	var b strings.Builder
	paths := make([]string, len(res.Paths))
	for i, p := range res.Paths {
		paths[i] = markdown.Code(p)
	}
	fmt.Fprintf(&b, "Proposed by `tidegate init --home %s`: tidegate will reconcile %s with the inventory %s.\n\n%s", c.Home, strings.Join(paths, ", "), markdown.Code(res.Inventory), list.String())
	if res.AgeKey != nil {
		fmt.Fprintf(&b, "\nSOPS encrypts Secrets for the age recipient `%s`.\n", res.AgeKey.Recipient)
	}
	if res.DeployKey != nil && res.DeployKey.PublicKey != "" {
		fmt.Fprintf(&b, "\nThe CronJob reads the repository with the read-only deploy key `%s`.\n", res.DeployKey.PublicKey)
	}
	switch c.Home {
	case bootstrap.HomeCronJob:
		fmt.Fprintf(&b, "\nAfter merging, install it with %s.\n", markdown.Code("kubectl apply -k "+shellQuote(c.Dir)))
	case bootstrap.HomeGitHub:
		b.WriteString("\nBefore merging, set the repository secrets `KUBECONFIG` and `SOPS_AGE_KEY`.\n")
	case bootstrap.HomeGitLab:
		b.WriteString("\nBefore merging, set the CI/CD variables `TIDEGATE_KUBECONFIG_B64`, `SOPS_AGE_KEY` and `TIDEGATE_GITLAB_TOKEN`.\n")
	}
	e.Body = b.String()
	return e
}

// shellSafe matches words a POSIX shell reads as themselves.
var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./@:=,+~-]+$`)

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// nextSteps are numbered, copy-pasteable instructions; none of them holds
// a secret, only the names of the files that do.
func (c *InitCmd) nextSteps(res *initResult, repo repoInfo) []string {
	var steps []string
	step := func(text string, cmds ...string) {
		for _, cmd := range cmds {
			text += "\n     " + cmd
		}
		steps = append(steps, text)
	}
	var written []string
	for _, f := range res.Files {
		if !f.Writes() {
			continue
		}
		top := f.Path
		if c.Home == bootstrap.HomeCronJob && strings.HasPrefix(f.Path, c.Dir+"/") {
			top = c.Dir
		}
		if !slices.Contains(written, top) {
			written = append(written, top)
		}
	}
	quoted := make([]string, len(written))
	for i, w := range written {
		quoted[i] = shellQuote(w)
	}
	switch {
	case c.DryRun && len(written) > 0:
		step("Run the same command without --dry-run to write the files.")
	case c.Propose && res.Proposal != nil && res.Proposal.PullRequest != nil:
		step("Review and merge the pull request: " + res.Proposal.PullRequest.URL)
	case !c.Propose && len(written) > 0:
		step("Commit the files and push them:", "git add "+strings.Join(quoted, " ")+" && git commit -m 'Set up tidegate' && git push")
	}
	if res.Snippet != "" {
		step("Add the snippet below to " + bootstrap.GitLabCIFile + " (merge its include: and variables: with yours).")
	}
	ageFile := "YOUR_AGE_KEY_FILE"
	if res.AgeKey != nil && res.AgeKey.File != "" {
		ageFile = shellQuote(res.AgeKey.File)
	}
	switch c.Home {
	case bootstrap.HomeCronJob:
		text := "Install tidegate in the cluster (Namespace, ServiceAccount, RBAC, CronJob):"
		if c.RBAC == "namespaced" {
			text = fmt.Sprintf("Install tidegate in the cluster (Namespace, ServiceAccount, RBAC, CronJob); the namespaces %s must exist:", strings.Join(c.Namespace, ", "))
		}
		step(text, "kubectl apply -k "+shellQuote(c.Dir))
		if res.AgeKey != nil {
			step("Give it the age key that decrypts your Secrets:", fmt.Sprintf("kubectl create secret generic sops-age -n %s --from-file=age.agekey=%s", bootstrap.SystemNamespace, ageFile))
		}
		if dk := res.DeployKey; dk != nil {
			clone := parseRemote(repo.cloneURL)
			host, port := clone.Host, clone.Port
			scan := "ssh-keyscan " + shellQuote(host)
			if port != "" {
				scan = "ssh-keyscan -p " + port + " " + shellQuote(host)
			}
			step(fmt.Sprintf("Give it the deploy key and %s's SSH host key (check the fingerprints against the host's documentation):", host),
				scan+" > known_hosts",
				fmt.Sprintf("kubectl create secret generic %s -n %s --from-file=identity=%s --from-file=known_hosts=known_hosts", bootstrap.SSHSecret, bootstrap.SystemNamespace, shellQuote(dk.File)))
		} else if strings.HasPrefix(repo.cloneURL, "https://") || strings.HasPrefix(repo.cloneURL, "http://") {
			step("If the repository is private, give it a read-only token (or run init again with --deploy-key-out):", fmt.Sprintf("kubectl create secret generic tidegate-git -n %s --from-file=token=TOKEN_FILE", bootstrap.SystemNamespace))
		}
	case bootstrap.HomeGitHub:
		cmds := []string{"gh secret set KUBECONFIG < KUBECONFIG_FILE"}
		if res.AgeKey != nil {
			cmds = append(cmds, "gh secret set SOPS_AGE_KEY < "+ageFile)
		}
		step("Add the repository secrets the workflow reads (Settings → Secrets and variables → Actions):", cmds...)
		step("Let the workflow open pull requests for image bumps: Settings → Actions → General → Workflow permissions → Allow GitHub Actions to create and approve pull requests.")
	case bootstrap.HomeGitLab:
		cmds := []string{`glab variable set TIDEGATE_KUBECONFIG_B64 --masked --value "$(base64 -w0 KUBECONFIG_FILE)"`}
		if res.AgeKey != nil {
			cmds = append(cmds, "grep AGE-SECRET-KEY "+ageFile+" | glab variable set SOPS_AGE_KEY --masked")
		}
		cmds = append(cmds, `glab variable set TIDEGATE_GITLAB_TOKEN --masked --value "$TOKEN"   # a project access token with the api scope`)
		step("Set the CI/CD variables the jobs read (Settings → CI/CD → Variables):", cmds...)
		step("Create a pipeline schedule for the image bumps (Build → Pipeline schedules), e.g. daily.")
	}
	if dk := res.DeployKey; dk != nil && !dk.Installed {
		step(fmt.Sprintf("Add the deploy key printed above to %s as a read-only deploy key, or run again with --install-deploy-key and a forge token.", repo.name))
	}
	if res.AgeKey != nil {
		step("Encrypt Secrets before you commit them:", "sops --encrypt --in-place "+shellQuote(path.Join(res.Paths[0], "my-secret.yaml")))
	}
	if c.Home == bootstrap.HomeCronJob {
		step("Run it now instead of waiting for the schedule, and follow it:",
			fmt.Sprintf("kubectl create job -n %s --from=cronjob/tidegate tidegate-first-run", bootstrap.SystemNamespace),
			fmt.Sprintf("kubectl logs -n %s -f job/tidegate-first-run", bootstrap.SystemNamespace))
	}
	return steps
}

func (c *InitCmd) print(w io.Writer, res *initResult, repo repoInfo) error {
	var b strings.Builder
	switch c.Home {
	case bootstrap.HomeCronJob:
		fmt.Fprintf(&b, "tidegate init: a CronJob reconciling %s of %s every 10 minutes\n\n", strings.Join(res.Paths, ", "), repo.cloneURL)
	case bootstrap.HomeGitHub:
		fmt.Fprintf(&b, "tidegate init: a GitHub Actions workflow reconciling %s on pushes to %s\n\n", strings.Join(res.Paths, ", "), repo.base)
	case bootstrap.HomeGitLab:
		fmt.Fprintf(&b, "tidegate init: GitLab CI jobs reconciling %s on the default branch\n\n", strings.Join(res.Paths, ", "))
	}
	verbs := map[string]string{bootstrap.Create: "created", bootstrap.Overwrite: "overwritten", bootstrap.Unchanged: "unchanged", bootstrap.Skip: "skipped"}
	switch {
	case c.DryRun:
		verbs[bootstrap.Create], verbs[bootstrap.Overwrite] = "would create", "would overwrite"
	case c.Propose:
		verbs[bootstrap.Create], verbs[bootstrap.Overwrite] = "proposed", "proposed"
	}
	for _, f := range res.Files {
		fmt.Fprintf(&b, "  %-15s %s", verbs[f.Action], f.Path)
		if f.Reason != "" {
			fmt.Fprintf(&b, " (%s)", f.Reason)
		}
		b.WriteString("\n")
	}
	if p := res.Proposal; p != nil {
		fmt.Fprintf(&b, "\nbranch %s: %s", p.Branch, p.Action)
		if p.PullRequest != nil {
			fmt.Fprintf(&b, " %s", p.PullRequest.URL)
		}
		b.WriteString("\n")
	} else if c.Propose && !slices.ContainsFunc(res.Files, bootstrap.File.Writes) {
		b.WriteString("\nnothing to propose: the repository has every file\n")
	}
	if ak := res.AgeKey; ak != nil {
		switch {
		case ak.File == "":
			fmt.Fprintf(&b, "\nage recipient (yours): %s\n", ak.Recipient)
		case ak.Created && c.DryRun:
			fmt.Fprintf(&b, "\nage key: would create %s (private: keep it out of Git)\n", ak.File)
		case ak.Created:
			fmt.Fprintf(&b, "\nage key: created %s (private, mode 0600: keep it out of Git)\n  recipient: %s\n", ak.File, ak.Recipient)
		default:
			fmt.Fprintf(&b, "\nage key: using %s\n  recipient: %s\n", ak.File, ak.Recipient)
		}
	}
	if dk := res.DeployKey; dk != nil {
		switch {
		case dk.Created && c.DryRun:
			fmt.Fprintf(&b, "\ndeploy key: would create %s (private: keep it out of Git)\n", dk.File)
		case dk.Created:
			fmt.Fprintf(&b, "\ndeploy key: created %s (private, mode 0600: keep it out of Git)\n", dk.File)
		default:
			fmt.Fprintf(&b, "\ndeploy key: using %s\n", dk.File)
		}
		if dk.PublicKey != "" {
			fmt.Fprintf(&b, "  %s\n", dk.PublicKey)
		}
		if dk.Installed {
			fmt.Fprintf(&b, "  installed on %s as a read-only deploy key\n", repo.name)
		}
	}
	if c.DryRun {
		for _, f := range res.Files {
			if f.Writes() {
				fmt.Fprintf(&b, "\n--- %s\n%s", f.Path, f.Content)
			}
		}
	}
	if res.Snippet != "" {
		fmt.Fprintf(&b, "\nAdd to %s:\n\n%s", bootstrap.GitLabCIFile, res.Snippet)
	}
	if len(res.NextSteps) > 0 {
		b.WriteString("\nNext steps:\n")
		for i, s := range res.NextSteps {
			fmt.Fprintf(&b, "  %d. %s\n", i+1, s)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
