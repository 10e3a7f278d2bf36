package workload

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

const deployment = `# The shop's web front end.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # keep this name
  namespace: shop
  annotations:
    fluxcd.io/automated: "false"
    team: "shop"
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: ghcr.io/acme/migrate:1.0.0
      containers:
        - name: app
          image: ghcr.io/acme/web:1.2.0 # {"$imagepolicy": "flux-system:web"}
        - name: sidecar
          image: 'ghcr.io/acme/proxy:2.0'
`

func find(t *testing.T, files map[string]string, ref string) *Workload {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		write(t, dir, name, content)
	}
	r, err := ParseRef(ref)
	if err != nil {
		t.Fatal(err)
	}
	w, err := Find(dir, []string{"."}, r)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestParseRef(t *testing.T) {
	for in, want := range map[string]Ref{
		"shop:deployment/web": {Namespace: "shop", Kind: "deployment", Name: "web"},
		"CronJob/backup":      {Kind: "CronJob", Name: "backup"},
	} {
		got, err := ParseRef(in)
		if err != nil || got != want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"web", "shop:web", "shop:service/web", "shop:deployment/", "shop:deployment/a/b"} {
		if _, err := ParseRef(bad); err == nil {
			t.Errorf("ParseRef(%q) succeeded", bad)
		}
	}
}

func TestFind(t *testing.T) {
	files := map[string]string{
		"apps/web.yaml":    deployment,
		"apps/other.yaml":  "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\n",
		"base/worker.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: worker\nspec: {}\n---\napiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: web\n",
		"notes.txt":        "kind: Deployment\nmetadata:\n  name: web\n",
	}
	w := find(t, files, "shop:deployment/web")
	if w.File != "apps/web.yaml" || w.Line != 2 || w.Ref.Namespace != "shop" {
		t.Errorf("found %+v", w)
	}
	// No namespace in the manifest (an overlay sets it): it matches.
	w = find(t, files, "prod:deployment/worker")
	if w.File != "base/worker.yaml" || w.doc != 0 {
		t.Errorf("found %+v", w)
	}
	if w := find(t, files, "x:cronjob/web"); w.doc != 1 || w.Line != 7 {
		t.Errorf("cronjob: %+v", w)
	}

	dir := t.TempDir()
	for name, content := range files {
		write(t, dir, name, content)
	}
	write(t, dir, "copy/web.yaml", deployment)
	_, err := Find(dir, nil, Ref{Namespace: "shop", Kind: "Deployment", Name: "web"})
	if err == nil || !strings.Contains(err.Error(), "apps/web.yaml:2") || !strings.Contains(err.Error(), "copy/web.yaml:2") {
		t.Errorf("two declarations: %v", err)
	}
	_, err = Find(dir, []string{"apps"}, Ref{Namespace: "shop", Kind: "Deployment", Name: "api"})
	if err == nil || !strings.Contains(err.Error(), "workloads list") {
		t.Errorf("missing: %v", err)
	}
}

// Each edit changes exactly the lines it must: the whole expected file is
// compared, comments and quoting included.
func TestAnnotationEdits(t *testing.T) {
	w := find(t, map[string]string{"web.yaml": deployment}, "shop:deployment/web")
	if v, ok := w.Annotation(Automated); !ok || v != "false" {
		t.Fatalf("automated = %q, %v", v, ok)
	}
	mustChange := func(changed bool, err error) {
		t.Helper()
		if err != nil || !changed {
			t.Fatalf("edit: changed=%v err=%v", changed, err)
		}
	}
	mustChange(w.SetAnnotation(Automated, "true"))
	mustChange(w.SetAnnotation(TagPrefix+"app", "semver:~1.2"))
	mustChange(w.RemoveAnnotation(Automated))
	mustChange(w.SetAnnotation(Locked, "true"))
	if changed, err := w.SetAnnotation(Locked, "true"); changed || err != nil {
		t.Errorf("setting the same value again: changed=%v err=%v", changed, err)
	}
	if changed, err := w.RemoveAnnotation(Ignore); changed || err != nil {
		t.Errorf("removing an absent key: changed=%v err=%v", changed, err)
	}
	want := strings.Replace(deployment, `    fluxcd.io/automated: "false"
    team: "shop"
`, `    team: "shop"
    fluxcd.io/tag.app: "semver:~1.2"
    fluxcd.io/locked: "true"
`, 1)
	if got := string(w.Content()); got != want {
		t.Errorf("edited file:\n%s\nwant:\n%s", got, want)
	}
}

func TestAnnotationsAddedWhereThereAreNone(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"no annotations": {
			in:   "kind: Deployment\nmetadata:\n    name: web\n    labels: {app: web}\nspec: {}\n",
			want: "kind: Deployment\nmetadata:\n    annotations:\n      fluxcd.io/locked: \"true\"\n    name: web\n    labels: {app: web}\nspec: {}\n",
		},
		"empty map": {
			in:   "kind: Deployment\nmetadata:\n  name: web\n  annotations: {}\n",
			want: "kind: Deployment\nmetadata:\n  name: web\n  annotations:\n    fluxcd.io/locked: \"true\"\n",
		},
		"null": {
			in:   "kind: Deployment\nmetadata:\n  name: web\n  annotations:\nspec: {}\n",
			want: "kind: Deployment\nmetadata:\n  name: web\n  annotations:\n    fluxcd.io/locked: \"true\"\nspec: {}\n",
		},
		"legacy prefix replaced": {
			in:   "kind: Deployment\nmetadata:\n  name: web\n  annotations:\n    flux.weave.works/locked: \"false\"\n    a: b\n",
			want: "kind: Deployment\nmetadata:\n  name: web\n  annotations:\n    a: b\n    fluxcd.io/locked: \"true\"\n",
		},
	} {
		t.Run(name, func(t *testing.T) {
			w := find(t, map[string]string{"w.yaml": tc.in}, "x:deployment/web")
			if changed, err := w.SetAnnotation(Locked, "true"); err != nil || !changed {
				t.Fatalf("SetAnnotation: %v, %v", changed, err)
			}
			if got := string(w.Content()); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestRemoveLastAnnotationRemovesTheMap(t *testing.T) {
	in := "kind: Deployment\nmetadata:\n  name: web\n  annotations:\n    fluxcd.io/locked: \"true\" # frozen for the audit\nspec: {}\n"
	w := find(t, map[string]string{"w.yaml": in}, "x:deployment/web")
	if changed, err := w.RemoveAnnotation(Locked); err != nil || !changed {
		t.Fatalf("RemoveAnnotation: %v, %v", changed, err)
	}
	if got, want := string(w.Content()), "kind: Deployment\nmetadata:\n  name: web\nspec: {}\n"; got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestEditsRefusedWithAReason(t *testing.T) {
	for name, in := range map[string]string{
		"flow annotations": "kind: Deployment\nmetadata:\n  name: web\n  annotations: {a: b}\n",
		"flow metadata":    "kind: Deployment\nmetadata: {name: web}\n",
		"multi-line value": "kind: Deployment\nmetadata:\n  name: web\n  annotations:\n    fluxcd.io/locked: |\n      true\n",
	} {
		t.Run(name, func(t *testing.T) {
			w := find(t, map[string]string{"w.yaml": in}, "x:deployment/web")
			_, err := w.SetAnnotation(Locked, "false")
			if err == nil || !strings.Contains(err.Error(), "by hand") || !strings.Contains(err.Error(), "w.yaml") {
				t.Errorf("SetAnnotation = %v, want a refusal naming the file and saying what to do", err)
			}
			if string(w.Content()) != in {
				t.Errorf("a refused edit changed the content:\n%s", w.Content())
			}
		})
	}
}

func TestSetImage(t *testing.T) {
	w := find(t, map[string]string{"web.yaml": deployment}, "shop:deployment/web")
	cs := w.Containers()
	if len(cs) != 3 || !cs[0].Init || cs[1].Name != "app" || cs[1].Line != 18 || !strings.Contains(cs[1].Marker, "$imagepolicy") {
		t.Fatalf("containers = %+v", cs)
	}
	if _, err := w.SetImage("", "x"); err == nil || !strings.Contains(err.Error(), "--container") {
		t.Errorf("no container named with three: %v", err)
	}
	if _, err := w.SetImage("db", "x"); err == nil || !strings.Contains(err.Error(), "app") {
		t.Errorf("unknown container: %v", err)
	}
	for _, e := range [][2]string{{"app", "ghcr.io/acme/web:1.1.9"}, {"sidecar", "ghcr.io/acme/proxy:2.1"}} {
		if changed, err := w.SetImage(e[0], e[1]); err != nil || !changed {
			t.Fatalf("SetImage(%s): %v, %v", e[0], changed, err)
		}
	}
	want := strings.NewReplacer("web:1.2.0 #", "web:1.1.9 #", "'ghcr.io/acme/proxy:2.0'", "'ghcr.io/acme/proxy:2.1'").Replace(deployment)
	if got := string(w.Content()); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	cron := "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: backup\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n            - name: backup\n              image: busybox:1.36\n"
	w = find(t, map[string]string{"cron.yaml": cron}, "x:cronjob/backup")
	if changed, err := w.SetImage("", "busybox:1.37"); err != nil || !changed {
		t.Fatalf("cronjob: %v %v", changed, err)
	}
	if got := string(w.Content()); got != strings.Replace(cron, "1.36", "1.37", 1) {
		t.Errorf("cronjob got:\n%s", got)
	}
}
