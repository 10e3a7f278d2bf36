package charts_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/chartrender"
	"github.com/tidegate/tidegate/charts"
	"github.com/tidegate/tidegate/charts/chartstest"
	"github.com/tidegate/tidegate/images/registrytest"
)

const kubeVersion = "v1.34.1"

// writeFiles writes name → content under root.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(body), 0o644))
	}
}

// configMapChart is a chart of one ConfigMap that prints a value.
func configMapChart(name, version string) map[string]string {
	return map[string]string{
		"Chart.yaml":             "apiVersion: v2\nname: " + name + "\nversion: " + version + "\n",
		"values.yaml":            "message: from " + name + "\n",
		"templates/cm.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Chart.Name }}\ndata:\n  message: {{ .Values.message | quote }}\n  version: {{ .Chart.Version | quote }}\n",
		"templates/_helpers.tpl": "{{- define \"x\" -}}{{- end -}}\n",
	}
}

// depServers are the three places the parent chart's dependencies come
// from: an HTTP chart repository (whose index can grow a version), an
// OCI registry, and a directory of the same checkout.
type depServers struct {
	http     *chartstest.Server
	registry *registrytest.Registry
	newer    atomic.Bool
}

func startDepServers(t *testing.T) *depServers {
	t.Helper()
	s := &depServers{}
	src := t.TempDir()
	writeFiles(t, src, configMapChart("hello", "0.1.0"))
	before := chartstest.Package(t, src, "", "0.1.0", "0.1.5", "0.2.0")
	after := chartstest.Package(t, src, "", "0.1.0", "0.1.5", "0.1.9", "0.2.0")
	s.http = chartstest.Record(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dir := before
		if s.newer.Load() {
			dir = after
		}
		http.FileServer(http.Dir(dir)).ServeHTTP(w, r)
	}), false)

	s.registry = registrytest.New(t)
	greet := t.TempDir()
	writeFiles(t, greet, configMapChart("greet", "0.4.0"))
	pkgs := chartstest.Package(t, greet, "", "0.4.0", "0.4.2", "0.5.0")
	for _, v := range []string{"0.4.0", "0.4.2", "0.5.0"} {
		chartstest.PushOCI(t, s.registry.Host(), nil, "charts/greet", v, readFile(t, filepath.Join(pkgs, "greet-"+v+".tgz")))
	}
	return s
}

// checkout is a work tree with the parent chart at apps/parent and its
// file:// dependency at libs/local.
func (s *depServers) checkout(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"apps/parent/Chart.yaml": "apiVersion: v2\nname: parent\nversion: 1.0.0\ndependencies:\n" +
			"  - name: hello\n    version: \"^0.1.0\"\n    repository: " + s.http.URL + "\n" +
			"  - name: greet\n    version: \"~0.4.0\"\n    repository: oci://" + s.registry.Host() + "/charts\n    alias: hi\n" +
			"  - name: greet\n    version: \"~0.4.0\"\n    repository: oci://" + s.registry.Host() + "/charts\n    alias: hey\n" +
			"  - name: local\n    version: \">=0.3.0\"\n    repository: file://../../libs/local\n    condition: local.enabled\n",
		"apps/parent/values.yaml":         "hello:\n  message: set by the parent\nhi:\n  message: aliased\nlocal:\n  enabled: true\n",
		"apps/parent/templates/cm.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-parent\ndata:\n  name: {{ .Chart.Name | quote }}\n",
		"apps/parent/charts/.gitkeep":     "",
		"apps/parent/.helmignore":         "*.tmp\n",
		"apps/parent/templates/NOTES.txt": "hello\n",
	}
	for name, body := range configMapChart("local", "0.3.1") {
		files["libs/local/"+name] = body
	}
	writeFiles(t, root, files)
	return root
}

// helmDependencyBuild copies the chart directory tree to a new place,
// runs helm dependency build there, and returns the chart's copy.
func helmDependencyBuild(t *testing.T, bin, root string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "helmdeps")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.CopyFS(dir, os.DirFS(root)))
	chart := filepath.Join(dir, "apps", "parent")
	chartstest.Helm(t, bin, "dependency", "build", chart, "--plain-http")
	return chart
}

// objects are rendered objects by kind/name, through YAML so both
// sides hold the same Go types.
func objects(t *testing.T, docs []string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, d := range docs {
		var m map[string]any
		must(t, yaml.Unmarshal([]byte(d), &m))
		if len(m) == 0 {
			continue
		}
		md, _ := m["metadata"].(map[string]any)
		out[m["kind"].(string)+"/"+md["name"].(string)] = m
	}
	return out
}

func helmTemplate(t *testing.T, bin, chart string) map[string]map[string]any {
	t.Helper()
	out := chartstest.Helm(t, bin, "template", "rel", chart, "--namespace", "apps", "--kube-version", kubeVersion)
	return objects(t, strings.Split(out, "\n---\n"))
}

func rendered(t *testing.T, c *charts.Chart) map[string]map[string]any {
	t.Helper()
	res, err := chartrender.Render(context.Background(), c.Chart, nil, chartrender.Options{
		ReleaseName: "rel", Namespace: "apps", Capabilities: chartrender.Capabilities{KubeVersion: kubeVersion},
	})
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	for _, o := range res.Objects {
		b, err := yaml.Marshal(o.Object.Object)
		must(t, err)
		docs = append(docs, string(b))
	}
	return objects(t, docs)
}

func subcharts(c *charts.Chart) []string {
	var out []string
	for _, d := range c.Chart.Dependencies() {
		out = append(out, d.Name()+" "+d.Metadata.Version)
	}
	sort.Strings(out)
	return out
}

// TestDirectoryDependencies: a chart directory whose dependencies are
// not vendored renders, once they are fetched from an HTTP repository,
// an OCI registry and a file:// directory, the same objects as helm
// template after helm dependency build; with helm's Chart.lock the
// locked versions win over a newer one the range would pick.
func TestDirectoryDependencies(t *testing.T) {
	bin := os.Getenv("TIDEGATE_HELM")
	if bin == "" {
		t.Skip("TIDEGATE_HELM is unset: build helm with hack/helm-tool.sh and export its path to compare with helm template")
	}
	s := startDepServers(t)
	root := s.checkout(t)
	f := charts.New(charts.Options{CacheDir: filepath.Join(t.TempDir(), "cache")})

	got, err := f.FromDirectoryContext(context.Background(), root, "apps/parent")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"greet 0.4.2", "hello 0.1.5", "local 0.3.1"}, subcharts(got)); diff != "" {
		t.Errorf("sub-charts (-want +got):\n%s", diff)
	}
	helmChart := helmDependencyBuild(t, bin, root)
	want := helmTemplate(t, bin, helmChart)
	if len(want) != 5 {
		t.Fatalf("helm template printed %d objects, want 5 (parent, hello, hi, hey, local): %v", len(want), want)
	}
	if diff := cmp.Diff(want, rendered(t, got)); diff != "" {
		t.Errorf("objects differ from helm template after helm dependency build (-helm +tidegate):\n%s", diff)
	}

	// helm wrote Chart.lock; a newer hello in the repository now
	// matches the range, but the lock pins 0.1.5.
	lock, err := os.ReadFile(filepath.Join(helmChart, "Chart.lock"))
	must(t, err)
	s.newer.Store(true)
	unlocked, err := f.FromDirectoryContext(context.Background(), root, "apps/parent")
	if err != nil {
		t.Fatal(err)
	}
	if !contains(subcharts(unlocked), "hello 0.1.9") {
		t.Errorf("without a lock the range did not pick the newest version: %v", subcharts(unlocked))
	}
	must(t, os.WriteFile(filepath.Join(root, "apps", "parent", "Chart.lock"), lock, 0o644))
	lockedChart, err := f.FromDirectoryContext(context.Background(), root, "apps/parent")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"greet 0.4.2", "hello 0.1.5", "local 0.3.1"}, subcharts(lockedChart)); diff != "" {
		t.Errorf("with Chart.lock (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, rendered(t, lockedChart)); diff != "" {
		t.Errorf("locked render differs from helm template (-helm +tidegate):\n%s", diff)
	}

	// A vendored sub-chart is used as it is, not fetched again.
	vendored := t.TempDir()
	must(t, os.CopyFS(vendored, os.DirFS(helmChart)))
	before := len(s.http.Requests())
	v, err := f.FromDirectoryContext(context.Background(), vendored, ".")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.http.Requests()) - before; n != 0 {
		t.Errorf("%d requests for a chart whose dependencies are all in charts/", n)
	}
	if diff := cmp.Diff(want, rendered(t, v)); diff != "" {
		t.Errorf("vendored render differs from helm template (-helm +tidegate):\n%s", diff)
	}
}

// TestDirectoryDependenciesRequirementsV1: an apiVersion v1 chart
// declares them in requirements.yaml.
func TestDirectoryDependenciesRequirementsV1(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"app/Chart.yaml":        "apiVersion: v1\nname: app\nversion: 1.0.0\n",
		"app/requirements.yaml": "dependencies:\n  - name: local\n    version: 0.3.1\n    repository: file://../local\n",
	}
	for name, body := range configMapChart("local", "0.3.1") {
		files["local/"+name] = body
	}
	writeFiles(t, root, files)
	got, err := charts.New(charts.Options{}).FromDirectory(root, "app")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"local 0.3.1"}, subcharts(got)); diff != "" {
		t.Errorf("sub-charts (-want +got):\n%s", diff)
	}
	objs := rendered(t, got)
	if _, ok := objs["ConfigMap/rel-local"]; !ok {
		t.Errorf("the dependency rendered nothing: %v", objs)
	}
}

// TestHostileDependencies: what a chart's dependency list can ask for
// that must not happen. Each case asserts the refusal, naming the
// dependency, and that no request went out and nothing outside the
// checkout was read or cached.
func TestHostileDependencies(t *testing.T) {
	outside := t.TempDir()
	const canary = "outside-canary-7f3a"
	writeFiles(t, outside, map[string]string{
		"Chart.yaml":        "apiVersion: v2\nname: evil\nversion: 0.1.0\n",
		"templates/cm.yaml": "kind: ConfigMap\napiVersion: v1\nmetadata:\n  name: " + canary + "\n",
		"secret/Chart.yaml": "apiVersion: v2\nname: evil\nversion: 0.1.0\n",
	})
	good := tgz(t, tarEntry{Name: "hello/Chart.yaml", Body: helloChartYAML})
	big := tgz(t, tarEntry{Name: "hello/Chart.yaml", Body: helloChartYAML}, tarEntry{Name: "hello/big.txt", Body: strings.Repeat("x", 64<<10)})

	cases := []struct {
		name string
		// dep is the dependencies entry; SERVER is replaced with the
		// recording server's URL, HOSTPORT with its host:port.
		dep     string
		lock    string
		handler http.HandlerFunc
		opts    charts.Options
		setup   func(t *testing.T, root string)
		wants   []string
		is      error
		paths   []string
	}{
		{name: "file:// out of the checkout", dep: "name: evil\n    version: 0.1.0\n    repository: file://../../" + filepath.Base(outside),
			wants: []string{"Chart.yaml dependency evil", "leaves the repository"}},
		{name: "file:// far out", dep: "name: evil\n    version: 0.1.0\n    repository: file://../../../../../../../../" + strings.TrimPrefix(outside, "/"),
			wants: []string{"leaves the repository"}},
		{name: "file:// absolute", dep: "name: evil\n    version: 0.1.0\n    repository: file://" + outside,
			wants: []string{"a path relative to the chart, inside the repository"}},
		{name: "file:// through a link out of the checkout", dep: "name: evil\n    version: 0.1.0\n    repository: file://../door",
			setup: func(t *testing.T, root string) { must(t, os.Symlink(outside, filepath.Join(root, "door"))) },
			wants: []string{"Chart.yaml dependency evil", `"file://../door"`}},
		{name: "repository that is not http(s) or oci", dep: "name: hello\n    version: 0.1.0\n    repository: ftp://HOSTPORT/charts",
			handler: serveIndex(indexFor("hello-0.1.0.tgz", ""), good), wants: []string{"Chart.yaml dependency hello", `"ftp://`, "is not https://, oci:// or file://"}},
		{name: "git repository", dep: "name: hello\n    version: 0.1.0\n    repository: git+https://HOSTPORT/charts.git",
			handler: serveIndex(indexFor("hello-0.1.0.tgz", ""), good), wants: []string{"is not https://, oci:// or file://"}},
		{name: "credentials in the repository URL", dep: "name: hello\n    version: 0.1.0\n    repository: http://user:s3cr3t-pw@HOSTPORT/",
			handler: serveIndex(indexFor("hello-0.1.0.tgz", ""), good), wants: []string{"has credentials in its URL"}},
		{name: "@name repository", dep: "name: hello\n    version: 0.1.0\n    repository: \"@stable\"",
			handler: serveIndex(indexFor("hello-0.1.0.tgz", ""), good), wants: []string{`repository "@stable" names a repository added with helm repo add`, "write the repository's URL"}},
		{name: "alias: repository", dep: "name: hello\n    version: 0.1.0\n    repository: alias:stable",
			handler: serveIndex(indexFor("hello-0.1.0.tgz", ""), good), wants: []string{`"alias:stable"`, "helm repo add"}},
		{name: "no repository and not vendored", dep: "name: hello\n    version: 0.1.0",
			wants: []string{"Chart.yaml dependency hello: no repository, and it is not in charts/"}},
		{name: "index over the cap", dep: "name: hello\n    version: 0.1.0\n    repository: SERVER",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "apiVersion: v1\nentries:\n")
				chunk := []byte(strings.Repeat("  x: []\n", 1024))
				for {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			}, opts: charts.Options{MaxIndexBytes: 1 << 20},
			wants: []string{"Chart.yaml dependency hello", "index.yaml at", "over the 1 MiB limit"}, paths: []string{"/index.yaml"}},
		{name: "digest mismatch", dep: "name: hello\n    version: 0.1.0\n    repository: SERVER",
			handler: serveIndex(indexFor("hello-0.1.0.tgz", strings.Repeat("ab", 32)), good),
			wants:   []string{"Chart.yaml dependency hello", "index.yaml says sha256:abab", "tampered"}, is: charts.ErrDigestMismatch, paths: []string{"/index.yaml", "/hello-0.1.0.tgz"}},
		{name: "dependency over the chart's unpacked cap", dep: "name: hello\n    version: 0.1.0\n    repository: SERVER",
			handler: serveIndex(indexFor("hello-0.1.0.tgz", ""), big), opts: charts.Options{MaxChartBytes: 32 << 10},
			wants: []string{"Chart.yaml dependency hello", "unpacks to more than"}, paths: []string{"/index.yaml", "/hello-0.1.0.tgz"}},
		{name: "Chart.lock out of sync", dep: "name: hello\n    version: 0.1.0\n    repository: SERVER",
			lock:    "dependencies:\n- name: hello\n  repository: SERVER\n  version: 0.1.0\ndigest: sha256:" + strings.Repeat("0", 64) + "\ngenerated: \"2024-01-01T00:00:00Z\"\n",
			handler: serveIndex(indexFor("hello-0.1.0.tgz", ""), good),
			wants:   []string{"Chart.lock", "out of sync", "helm dependency update"}, is: charts.ErrLockOutOfSync},
		{name: "file:// chart of another name", dep: "name: hello\n    version: 0.1.0\n    repository: file://../other",
			setup: func(t *testing.T, root string) {
				writeFiles(t, filepath.Join(root, "other"), configMapChart("other", "0.1.0"))
			}, wants: []string{`holds chart "other"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var srv *recorder
			url, hostport := "http://127.0.0.1:9", "127.0.0.1:9"
			if c.handler != nil {
				srv = record(t, c.handler, false)
				url, hostport = srv.URL, strings.TrimPrefix(srv.URL, "http://")
			}
			expand := func(s string) string {
				return strings.ReplaceAll(strings.ReplaceAll(s, "SERVER", url), "HOSTPORT", hostport)
			}
			root := t.TempDir()
			writeFiles(t, root, map[string]string{
				"app/Chart.yaml":        "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n  - " + expand(c.dep) + "\n",
				"app/templates/cm.yaml": "kind: ConfigMap\napiVersion: v1\nmetadata:\n  name: app\n",
			})
			if c.lock != "" {
				writeFiles(t, root, map[string]string{"app/Chart.lock": expand(c.lock)})
			}
			if c.setup != nil {
				c.setup(t, root)
			}
			opts := c.opts
			opts.CacheDir = filepath.Join(t.TempDir(), "cache")
			got, err := charts.New(opts).FromDirectoryContext(context.Background(), root, "app")
			if err == nil {
				t.Fatalf("loaded %s with sub-charts %v, want a refusal", got.Name, subcharts(got))
			}
			t.Logf("refused: %v", err)
			for _, w := range append([]string{"chart directory app"}, c.wants...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error is not %v", c.is)
			}
			for _, secret := range []string{canary, "s3cr3t-pw"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error prints %q: %v", secret, err)
				}
			}
			if srv != nil {
				if diff := cmp.Diff(c.paths, srv.paths()); diff != "" {
					t.Errorf("requests (-allowed +got):\n%s", diff)
				}
			}
			if !isEmptyDir(t, opts.CacheDir) {
				t.Error("something was written to the cache")
			}
		})
	}
}

func serveIndex(index string, archive []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/index.yaml":
			io.WriteString(w, index)
		case "/hello-0.1.0.tgz":
			w.Write(archive)
		default:
			http.NotFound(w, r)
		}
	}
}
