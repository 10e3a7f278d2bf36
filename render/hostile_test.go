package render_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/tidegate/tidegate/render"
)

// recorder is a loopback HTTP server that answers every request with a
// valid ConfigMap, so that a render that fetched would succeed, and
// remembers each request.
type recorder struct {
	mu   sync.Mutex
	reqs []string
	url  string
	host string // host:port
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, r.Method+" "+r.URL.String())
		rec.mu.Unlock()
		w.Write([]byte(cm("fetched", "x")))
	}))
	t.Cleanup(srv.Close)
	rec.url = srv.URL
	rec.host = strings.TrimPrefix(srv.URL, "http://")
	if _, _, err := net.SplitHostPort(rec.host); err != nil {
		t.Fatal(err)
	}
	return rec
}

func (rec *recorder) requests() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.reqs...)
}

// programStubs puts git and helm programs first on PATH that leave a
// marker file when they run, and returns the marker's path.
func programStubs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	marker := filepath.Join(dir, "a-program-ran")
	script := "#!/bin/sh\necho \"$0 $*\" >> " + marker + "\nexit 1\n"
	for _, name := range []string{"git", "helm", "helmV3", "docker"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return marker
}

// TestRemoteHarnessControl shows that the harness of
// TestHostileRenderRemote sees what it looks for: krusty on its own,
// with the options tidegate gives it, fetches from the loopback server
// and runs the git stub.
func TestRemoteHarnessControl(t *testing.T) {
	rec := newRecorder(t)
	marker := programStubs(t)
	root := tree(t, map[string]string{
		"http/kustomization.yaml": "resources:\n- " + rec.url + "/cm.yaml\n",
		"git/kustomization.yaml":  "resources:\n- github.com/tidegate/nothing//base?ref=v1\n",
	})
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsNone
	opts.PluginConfig = types.DisabledPluginConfig()
	if _, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), filepath.Join(root, "http")); err != nil {
		t.Fatalf("krusty did not build from the loopback server: %v", err)
	}
	if len(rec.requests()) == 0 {
		t.Error("the loopback server saw no request from krusty")
	}
	krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), filepath.Join(root, "git"))
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the git stub did not run for a remote base: %v", err)
	}
}

// TestHostileRenderRemote: every way a kustomization can make kustomize
// reach beyond the repository is refused before krusty runs, naming the
// kustomization, the field and the entry; nothing is fetched and no
// program runs.
func TestHostileRenderRemote(t *testing.T) {
	rec := newRecorder(t)
	marker := programStubs(t)
	u, host := rec.url, rec.host
	const builtinCM = "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata:\n  name: gen\n"
	for _, tc := range []struct {
		name  string
		files map[string]string
		path  string
		want  []string // besides "tidegate renders only files of the repository"
	}{
		{"http resource", map[string]string{"k/kustomization.yaml": "resources:\n- " + u + "/cm.yaml\n"}, "k",
			[]string{"k/kustomization.yaml: resources: ", u + "/cm.yaml", "remote base"}},
		{"https resource", map[string]string{"k/kustomization.yaml": "resources:\n- https://" + host + "/cm.yaml\n"}, "k",
			[]string{"k/kustomization.yaml: resources: ", "https://" + host + "/cm.yaml"}},
		{"upper-case scheme", map[string]string{"k/kustomization.yaml": "resources:\n- HTTP://" + host + "/cm.yaml\n"}, "k",
			[]string{"k/kustomization.yaml: resources: ", "HTTP://" + host}},
		{"scheme without slashes", map[string]string{"k/kustomization.yaml": "resources:\n- http:" + host + "/cm.yaml\n"}, "k",
			[]string{"k/kustomization.yaml: resources: ", "http:" + host}},
		{"github shorthand", map[string]string{"k/kustomization.yaml": "resources:\n- github.com/tidegate/nothing//base?ref=v1\n"}, "k",
			[]string{"k/kustomization.yaml: resources: ", "github.com/tidegate/nothing//base?ref=v1", "git"}},
		{"git:: prefix", map[string]string{"k/kustomization.yaml": "resources:\n- git::" + u + "/org/repo.git//base\n"}, "k",
			[]string{"k/kustomization.yaml: resources: ", "git::" + u}},
		{"ssh URL", map[string]string{"k/kustomization.yaml": "resources:\n- ssh://git@" + host + "/org/repo.git\n"}, "k",
			[]string{"k/kustomization.yaml: resources: ", "ssh://git@" + host}},
		{"scp-like address", map[string]string{"k/kustomization.yaml": "resources:\n- git@" + strings.Split(host, ":")[0] + ":org/repo.git//base\n"}, "k",
			[]string{"k/kustomization.yaml: resources: ", "git@"}},
		{"file URL clone", map[string]string{"k/kustomization.yaml": "resources:\n- file:///srv/git/repo.git\n"}, "k",
			[]string{"k/kustomization.yaml: resources: ", "file:///srv/git/repo.git"}},
		{"bases", map[string]string{"k/kustomization.yaml": "bases:\n- " + u + "/base\n"}, "k",
			[]string{"k/kustomization.yaml: bases: ", u + "/base"}},
		{"components", map[string]string{"k/kustomization.yaml": "components:\n- github.com/org/repo//components/x\n"}, "k",
			[]string{"k/kustomization.yaml: components: ", "github.com/org/repo//components/x"}},
		{"field name in other case", map[string]string{"k/kustomization.yaml": "Resources:\n- " + u + "/cm.yaml\n"}, "k",
			[]string{"k/kustomization.yaml: resources: ", u + "/cm.yaml"}},
		{"Kustomization without extension", map[string]string{"k/Kustomization": "resources:\n- " + u + "/cm.yaml\n"}, "k",
			[]string{"k/Kustomization: resources: ", u + "/cm.yaml"}},
		{"in a local base", map[string]string{
			"apps/prod/kustomization.yaml": "resources:\n- ../base\n",
			"apps/base/kustomization.yaml": "resources:\n- ok.yaml\n- " + u + "/cm.yaml\n",
			"apps/base/ok.yaml":            cm("ok", "x"),
		}, "apps/prod", []string{"kustomize build apps/prod", "apps/base/kustomization.yaml: resources: ", u + "/cm.yaml"}},
		{"in a local component", map[string]string{
			"k/kustomization.yaml":    "resources:\n- cm.yaml\ncomponents:\n- ../comp\n",
			"k/cm.yaml":               cm("a", "x"),
			"comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n- " + u + "/cm.yaml\n",
		}, "k", []string{"comp/kustomization.yaml: resources: ", u + "/cm.yaml"}},
		{"configMapGenerator files", map[string]string{"k/kustomization.yaml": "configMapGenerator:\n- name: cfg\n  files:\n  - " + u + "/latest/meta-data\n"}, "k",
			[]string{"k/kustomization.yaml: configMapGenerator[cfg].files: ", u + "/latest/meta-data", "is a URL"}},
		{"configMapGenerator files key=URL", map[string]string{"k/kustomization.yaml": "configMapGenerator:\n- name: cfg\n  files:\n  - token=" + u + "/token\n"}, "k",
			[]string{"k/kustomization.yaml: configMapGenerator[cfg].files: ", "token=" + u + "/token"}},
		{"configMapGenerator envs", map[string]string{"k/kustomization.yaml": "configMapGenerator:\n- name: cfg\n  envs:\n  - " + u + "/x.env\n"}, "k",
			[]string{"k/kustomization.yaml: configMapGenerator[cfg].envs: ", u + "/x.env"}},
		{"configMapGenerator env (legacy)", map[string]string{"k/kustomization.yaml": "configMapGenerator:\n- name: cfg\n  env: " + u + "/x.env\n"}, "k",
			[]string{"k/kustomization.yaml: configMapGenerator[cfg].env: ", u + "/x.env"}},
		{"secretGenerator files", map[string]string{"k/kustomization.yaml": "secretGenerator:\n- name: s\n  files:\n  - " + u + "/secret\n"}, "k",
			[]string{"k/kustomization.yaml: secretGenerator[s].files: ", u + "/secret"}},
		{"helmCharts", map[string]string{"k/kustomization.yaml": "helmCharts:\n- name: chart\n  repo: " + u + "/charts\n  version: 1.0.0\n"}, "k",
			[]string{"k/kustomization.yaml: helmCharts[chart]: ", u + "/charts", "helm binary"}},
		{"helmChartInflationGenerator", map[string]string{"k/kustomization.yaml": "helmChartInflationGenerator:\n- chartName: chart\n  chartRepoUrl: " + u + "/charts\n"}, "k",
			[]string{"k/kustomization.yaml: helmChartInflationGenerator[chart]: ", u + "/charts", "helm binary"}},
		{"openapi path", map[string]string{"k/kustomization.yaml": "resources:\n- cm.yaml\nopenapi:\n  path: " + u + "/schema.json\n", "k/cm.yaml": cm("a", "x")}, "k",
			[]string{"k/kustomization.yaml: openapi.path: ", u + "/schema.json"}},
		{"crds", map[string]string{"k/kustomization.yaml": "crds:\n- " + u + "/crd.yaml\n"}, "k",
			[]string{"k/kustomization.yaml: crds: ", u + "/crd.yaml"}},
		{"configurations", map[string]string{"k/kustomization.yaml": "configurations:\n- " + u + "/conf.yaml\n"}, "k",
			[]string{"k/kustomization.yaml: configurations: ", u + "/conf.yaml"}},
		{"patches path", map[string]string{"k/kustomization.yaml": "resources:\n- cm.yaml\npatches:\n- path: " + u + "/patch.yaml\n", "k/cm.yaml": cm("a", "x")}, "k",
			[]string{"k/kustomization.yaml: patches[0].path: ", u + "/patch.yaml"}},
		{"patchesStrategicMerge", map[string]string{"k/kustomization.yaml": "resources:\n- cm.yaml\npatchesStrategicMerge:\n- " + u + "/patch.yaml\n", "k/cm.yaml": cm("a", "x")}, "k",
			[]string{"k/kustomization.yaml: patchesStrategicMerge: ", u + "/patch.yaml"}},
		{"patchesJson6902 path", map[string]string{"k/kustomization.yaml": "resources:\n- cm.yaml\npatchesJson6902:\n- target: {version: v1, kind: ConfigMap, name: a}\n  path: " + u + "/p.json\n", "k/cm.yaml": cm("a", "x")}, "k",
			[]string{"k/kustomization.yaml: patchesJson6902[0].path: ", u + "/p.json"}},
		{"replacements path", map[string]string{"k/kustomization.yaml": "resources:\n- cm.yaml\nreplacements:\n- path: " + u + "/r.yaml\n", "k/cm.yaml": cm("a", "x")}, "k",
			[]string{"k/kustomization.yaml: replacements[0].path: ", u + "/r.yaml"}},
		{"remote generators", map[string]string{"k/kustomization.yaml": "generators:\n- github.com/org/generators//gen\n"}, "k",
			[]string{"k/kustomization.yaml: generators: ", "github.com/org/generators//gen"}},
		{"remote transformers", map[string]string{"k/kustomization.yaml": "resources:\n- cm.yaml\ntransformers:\n- " + u + "/t.yaml\n", "k/cm.yaml": cm("a", "x")}, "k",
			[]string{"k/kustomization.yaml: transformers: ", u + "/t.yaml"}},
		{"exec or Go plugin", map[string]string{
			"k/kustomization.yaml": "generators:\n- gen.yaml\n",
			"k/gen.yaml":           "apiVersion: someteam.example.com/v1\nkind: ChartInflator\nmetadata:\n  name: x\n",
		}, "k", []string{"k/gen.yaml: generators: ", "someteam.example.com/v1 ChartInflator/x", "exec or Go plugin"}},
		{"KRM exec function", map[string]string{
			"k/kustomization.yaml": "resources:\n- cm.yaml\ntransformers:\n- fn.yaml\n",
			"k/cm.yaml":            cm("a", "x"),
			"k/fn.yaml":            "apiVersion: example.com/v1\nkind: Fn\nmetadata:\n  name: fn\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ./fn.sh\n",
			"k/fn.sh":              "#!/bin/sh\ntouch MARKER\n",
		}, "k", []string{"k/fn.yaml: transformers: ", "KRM function"}},
		{"KRM container function as validator", map[string]string{
			"k/kustomization.yaml": "resources:\n- cm.yaml\nvalidators:\n- v.yaml\n",
			"k/cm.yaml":            cm("a", "x"),
			"k/v.yaml":             "apiVersion: example.com/v1\nkind: Check\nmetadata:\n  name: v\n  annotations:\n    config.k8s.io/function: |\n      container:\n        image: " + host + "/fn:latest\n        network: true\n",
		}, "k", []string{"k/v.yaml: validators: ", "KRM function"}},
		{"builtin generator config with a URL", map[string]string{
			"k/kustomization.yaml": "generators:\n- gen.yaml\n",
			"k/gen.yaml":           builtinCM + "files:\n- " + u + "/f\n",
		}, "k", []string{"k/gen.yaml: generators[ConfigMapGenerator/gen].files: ", u + "/f"}},
		{"builtin Helm generator config", map[string]string{
			"k/kustomization.yaml": "generators:\n- helm.yaml\n",
			"k/helm.yaml":          "apiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata:\n  name: h\nname: chart\nrepo: " + u + "\n",
		}, "k", []string{"k/helm.yaml: generators: ", "HelmChartInflationGenerator/h", "helm binary"}},
		{"inline builtin transformer with a URL", map[string]string{
			"k/kustomization.yaml": "resources:\n- cm.yaml\ntransformers:\n- |\n  apiVersion: builtin\n  kind: PatchTransformer\n  metadata:\n    name: p\n  Path: " + u + "/p.yaml\n",
			"k/cm.yaml":            cm("a", "x"),
		}, "k", []string{"k/kustomization.yaml: transformers[PatchTransformer/p].path: ", u + "/p.yaml"}},
		{"transformer directory that patches a URL in", map[string]string{
			"k/kustomization.yaml": "resources:\n- cm.yaml\ntransformers:\n- xf\n",
			"k/cm.yaml":            cm("a", "x"),
			"k/xf/kustomization.yaml": "resources:\n- vat.yaml\npatches:\n- target: {kind: ValueAddTransformer}\n" +
				"  patch: |\n    - op: add\n      path: /targetFilePath\n      value: " + u + "/targets.yaml\n",
			"k/xf/vat.yaml": "apiVersion: builtin\nkind: ValueAddTransformer\nmetadata:\n  name: va\nvalue: x\n",
		}, "k", []string{"k/xf (built): transformers[ValueAddTransformer/va].targetfilepath: ", u + "/targets.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, tc.files)
			if _, ok := tc.files["k/fn.sh"]; ok {
				os.WriteFile(filepath.Join(root, "k/fn.sh"), []byte("#!/bin/sh\necho ran >> "+marker+"\n"), 0o755)
			}
			before := len(rec.requests())
			_, err := render.Render(context.Background(), root, []string{tc.path}, render.Options{})
			if err == nil {
				t.Fatal("rendered without error")
			}
			for _, w := range append(tc.want, "tidegate renders only files of the repository") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), root) {
				t.Errorf("error shows the machine's path %s: %v", root, err)
			}
			if got := rec.requests()[before:]; len(got) > 0 {
				t.Errorf("the loopback server was asked %v", got)
			}
			if b, err := os.ReadFile(marker); err == nil {
				t.Errorf("a program ran: %s", b)
			}
		})
	}
}

// TestHostileRenderEncryptedKustomization: a SOPS-encrypted
// kustomization cannot hide a remote base: what kustomize would read,
// the plaintext, is what is checked.
func TestHostileRenderEncryptedKustomization(t *testing.T) {
	rec := newRecorder(t)
	marker := programStubs(t)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	enc := encrypt(t, id.Recipient().String(), formats.Yaml, []byte("resources:\n- "+rec.url+"/cm.yaml\n"), "")
	if strings.Contains(string(enc), rec.url) {
		t.Fatal("the test's encryption left the URL in clear")
	}
	root := tree(t, map[string]string{"k/kustomization.yaml": string(enc)})
	_, err = render.Render(context.Background(), root, []string{"k"}, render.Options{Keys: render.Keys{Age: []string{id.String()}}})
	// The URL was encrypted, so it is a decrypted value: the error names
	// the file and the field but scrubs the entry itself.
	if err == nil || !strings.Contains(err.Error(), "k/kustomization.yaml: resources: \"***\" is a remote base") {
		t.Fatalf("err = %v, want the remote base refused", err)
	}
	if strings.Contains(err.Error(), rec.url) {
		t.Errorf("the error quotes the decrypted entry: %v", err)
	}
	if got := rec.requests(); len(got) > 0 {
		t.Errorf("the loopback server was asked %v", got)
	}
	if b, err := os.ReadFile(marker); err == nil {
		t.Errorf("a program ran: %s", b)
	}
}

// TestRemoteLookalikesRender: URLs where kustomize never reads a file
// (annotations, literals, inline patches) are not refused.
func TestRemoteLookalikesRender(t *testing.T) {
	rec := newRecorder(t)
	root := tree(t, map[string]string{
		"k/kustomization.yaml": `resources:
- cm.yaml
commonAnnotations:
  docs: ` + rec.url + `/docs
configMapGenerator:
- name: links
  literals:
  - home=https://example.invalid/
patches:
- target: {kind: ConfigMap, name: a}
  patch: |
    - op: add
      path: /data/url
      value: https://example.invalid/x
`,
		"k/cm.yaml": cm("a", "x"),
	})
	res, err := render.Render(context.Background(), root, []string{"k"}, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 2 {
		t.Errorf("objects = %v", names(res))
	}
	if got := rec.requests(); len(got) > 0 {
		t.Errorf("the loopback server was asked %v", got)
	}
}
