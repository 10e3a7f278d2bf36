package bootstrap

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"github.com/tidegate/tidegate/deploy"
	"github.com/tidegate/tidegate/internal/version"
)

// The homes tidegate runs from.
const (
	HomeCronJob = "cronjob"
	HomeGitHub  = "github"
	HomeGitLab  = "gitlab"
)

// Names deploy/base gives tidegate's objects, which the next steps and the
// SSH patch refer to.
const (
	SystemNamespace = "tidegate-system"
	SSHSecret       = "tidegate-ssh"
	SSHMountPath    = "/etc/tidegate/ssh"
)

// Files of the repository that init writes or reads.
const (
	GitLabTemplate = ".gitlab-ci-template.yml"
	GitLabCIFile   = ".gitlab-ci.yml"
	GitHubWorkflow = ".github/workflows/tidegate.yml"
	SOPSFile       = ".sops.yaml"
)

//go:embed templates/*.tmpl
var templateFiles embed.FS

// templates are parsed once per call: they are small, and a package-level
// parse would be an init side effect.
func templates() (*template.Template, error) {
	t, err := template.New("").Option("missingkey=error").Funcs(template.FuncMap{
		"yaml":  yamlScalar,
		"quote": singleQuoted,
	}).ParseFS(templateFiles, "templates/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parse tidegate's embedded init templates (a bug: please report it): %w", err)
	}
	return t, nil
}

func render(name string, data any) ([]byte, error) {
	t, err := templates()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("render tidegate's embedded %s (a bug: please report it): %w", name, err)
	}
	return b.Bytes(), nil
}

// Config is what the files of one home are made of, every value already
// checked by the caller.
type Config struct {
	Home string
	// Paths are the repository paths tidegate reconciles, cleaned.
	Paths     []string
	Inventory string
	Image     Image
	// AgeRecipient, when set, adds a .sops.yaml encrypting for it.
	AgeRecipient string

	// Base is the branch the GitHub workflow reconciles.
	Base string

	// Dir, RBAC (cluster or namespaced), Namespaces, CloneURL and SSHKey
	// (a deploy key mounted from the tidegate-ssh Secret) shape the CronJob.
	Dir        string
	RBAC       string
	Namespaces []string
	CloneURL   string
	SSHKey     bool
}

// Files renders every file of the repository the home needs, keyed by
// slash-separated path.
func Files(cfg Config) (map[string][]byte, error) {
	out := map[string][]byte{}
	if cfg.AgeRecipient != "" {
		b, err := SOPSConfig(cfg.Paths, cfg.AgeRecipient)
		if err != nil {
			return nil, err
		}
		out[SOPSFile] = b
	}
	switch cfg.Home {
	case HomeCronJob:
		if err := cronJobFiles(cfg, out); err != nil {
			return nil, err
		}
	case HomeGitHub:
		b, err := GitHubWorkflowFile(cfg.Paths, cfg.Inventory, cfg.Base, cfg.Image.Release)
		if err != nil {
			return nil, err
		}
		out[GitHubWorkflow] = b
	case HomeGitLab:
		b, err := GitLabCI(cfg.Paths, cfg.Inventory, cfg.Image)
		if err != nil {
			return nil, err
		}
		out[GitLabCIFile] = b
	default:
		return nil, fmt.Errorf("home %q: choose cronjob, github or gitlab", cfg.Home)
	}
	return out, nil
}

// SOPSConfig is the .sops.yaml: one creation rule per path, matched
// wherever sops is run from in the repository.
func SOPSConfig(paths []string, recipient string) ([]byte, error) {
	rules := make([]string, len(paths))
	for i, p := range paths {
		rules[i] = `\.ya?ml$`
		if p != "." {
			rules[i] = "(^|/)" + regexp.QuoteMeta(p) + `/.*\.ya?ml$`
		}
	}
	return render("sops.yaml.tmpl", map[string]any{
		"Example":   path.Join(paths[0], "secret.yaml"),
		"Rules":     rules,
		"Recipient": recipient,
	})
}

// GitHubWorkflowFile is README's workflow split into three jobs, so that
// only the one that opens pull requests may write to the repository.
func GitHubWorkflowFile(paths []string, inventory, base, release string) ([]byte, error) {
	return render("github-workflow.yml.tmpl", map[string]any{
		"Base":         base,
		"Ref":          "refs/heads/" + base,
		"Paths":        strings.Join(paths, ","),
		"InventoryArg": "--inventory-name " + inventory,
		"Release":      release,
	})
}

// GitLabCI includes tidegate's template and extends its three jobs, as in
// the README.
func GitLabCI(paths []string, inventory string, img Image) ([]byte, error) {
	return render("gitlab-ci.yml.tmpl", map[string]any{
		"TemplateURL": GitLabTemplateURL(img.Release),
		"Image":       img.Ref,
		"Paths":       strings.Join(paths, ","),
		"Inventory":   inventory,
	})
}

// cronJobFiles copies deploy/base and the chosen deploy/rbac variant below
// cfg.Dir and fills in the tidegate-config literals, so the manifests build
// offline and match the tidegate that wrote them.
func cronJobFiles(cfg Config, out map[string][]byte) error {
	dir := cfg.Dir
	for _, tree := range []string{"base", "rbac/" + cfg.RBAC} {
		err := fs.WalkDir(deploy.Files, tree, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := deploy.Files.ReadFile(p)
			if err != nil {
				return err
			}
			out[path.Join(dir, p)] = b
			return nil
		})
		if err != nil {
			return fmt.Errorf("read tidegate's embedded deploy/%s: %w", tree, err)
		}
	}
	literals := [][2]string{
		{"TIDEGATE_SOURCE", cfg.CloneURL},
		{"TIDEGATE_PATHS", strings.Join(cfg.Paths, ",")},
		{"TIDEGATE_INVENTORY_NAME", cfg.Inventory},
	}
	if cfg.RBAC == "namespaced" {
		literals = append(literals, [2]string{"TIDEGATE_ALLOW_NAMESPACES", strings.Join(cfg.Namespaces, ",")})
	}
	if cfg.SSHKey {
		literals = append(literals,
			[2]string{"TIDEGATE_SSH_KEY_FILE", SSHMountPath + "/identity"},
			[2]string{"TIDEGATE_KNOWN_HOSTS", SSHMountPath + "/known_hosts"})
	}
	kpath := path.Join(dir, "base/kustomization.yaml")
	k, err := setLiterals(out[kpath], literals)
	if err != nil {
		return err
	}
	out[kpath] = k

	var roleBindings []string
	if cfg.RBAC == "namespaced" {
		tmpl, err := deploy.Files.ReadFile("examples/namespaced/rolebinding-shop.yaml")
		if err != nil {
			return fmt.Errorf("read tidegate's embedded RoleBinding example: %w", err)
		}
		for _, ns := range cfg.Namespaces {
			rb := strings.Replace(string(tmpl), "\n  namespace: shop\n", "\n  namespace: "+ns+"\n", 1)
			if rb == string(tmpl) && ns != "shop" {
				return errors.New("tidegate's embedded RoleBinding example has no namespace to replace (a bug: please report it)")
			}
			name := "rolebinding-" + ns + ".yaml"
			out[path.Join(dir, name)] = []byte(rb)
			roleBindings = append(roleBindings, name)
		}
	}
	// defaultMode 288 in the SSH patch is 0440: the image's non-root user
	// reads the key through fsGroup, and no other user can.
	top, err := render("cronjob-kustomization.yaml.tmpl", map[string]any{
		"Paths":        strings.Join(cfg.Paths, ", "),
		"CloneURL":     cfg.CloneURL,
		"Dir":          dir,
		"RBAC":         cfg.RBAC,
		"RoleBindings": roleBindings,
		"ImageName":    version.ImageRepository,
		"Image":        cfg.Image,
		"SSH":          cfg.SSHKey,
		"SSHSecret":    SSHSecret,
		"SSHMountPath": SSHMountPath,
	})
	if err != nil {
		return err
	}
	out[path.Join(dir, "kustomization.yaml")] = top
	return nil
}

// setLiterals sets KEY=value items of the one configMapGenerator literals
// list in a kustomization, line by line so that its comments stay, and
// appends the keys it lacks.
func setLiterals(kustomization []byte, set [][2]string) ([]byte, error) {
	lines := strings.SplitAfter(string(kustomization), "\n")
	start := slices.IndexFunc(lines, func(l string) bool { return strings.TrimSpace(l) == "literals:" })
	if start < 0 {
		return nil, errors.New("tidegate's embedded deploy/base/kustomization.yaml has no configMapGenerator literals to fill in (a bug: please report it)")
	}
	last, indent := start, ""
	found := map[string]bool{}
	for i := start + 1; i < len(lines); i++ {
		item, ok := strings.CutPrefix(strings.TrimLeft(lines[i], " "), "- ")
		if !ok {
			break
		}
		last, indent = i, lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], " "))]
		key, _, _ := strings.Cut(strings.TrimSpace(item), "=")
		for _, kv := range set {
			if kv[0] == key {
				lines[i] = indent + "- " + yamlScalar(kv[0]+"="+kv[1]) + "\n"
				found[key] = true
			}
		}
	}
	if indent == "" {
		return nil, errors.New("tidegate's embedded deploy/base/kustomization.yaml has an empty literals list (a bug: please report it)")
	}
	var add []string
	for _, kv := range set {
		if !found[kv[0]] {
			add = append(add, indent+"- "+yamlScalar(kv[0]+"="+kv[1])+"\n")
		}
	}
	lines = slices.Insert(lines, last+1, add...)
	return []byte(strings.Join(lines, "")), nil
}
