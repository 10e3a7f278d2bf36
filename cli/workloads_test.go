package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tidegate/tidegate/render"
)

// workloadsFiles is a repository with every kind of policy: a v2 marker
// in a base, Flux v1 automated (with and without a tag pattern), locked
// and ignored workloads, a CronJob, and an overlay that moves everything
// to ns, prefixes the names, rewrites two images and carries a marker of
// its own on an images entry. plain/ is a plain directory.
func workloadsFiles(ns string) map[string]string {
	return map[string]string{
		"overlay/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: ` + ns + `
namePrefix: prod-
resources:
  - ../base
images:
  - name: registry.example/app
    newTag: 1.1.0
  - name: registry.example/proxy
    newTag: "2.1" # {"$imagepolicy": "flux-system:proxy:tag"}
`,
		"base/kustomization.yaml": `resources:
  - app.yaml
  - legacy.yaml
  - cron.yaml
`,
		"base/app.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
        - name: app
          image: registry.example/app:1.0.0 # {"$imagepolicy": "flux-system:app"}
        - name: sidecar
          image: registry.example/proxy:2.0
---
apiVersion: v1
kind: Service
metadata:
  name: app
spec:
  ports: [{port: 80}]
`,
		"base/legacy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: auto
  annotations:
    fluxcd.io/automated: "true"
    fluxcd.io/tag.app: semver:~1.2
spec:
  selector:
    matchLabels: {app: auto}
  template:
    metadata:
      labels: {app: auto}
    spec:
      initContainers:
        - name: init
          image: registry.example/init:1
      containers:
        - name: app
          image: registry.example/auto:1.2.0
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: frozen
  annotations:
    fluxcd.io/locked: "true"
spec:
  selector:
    matchLabels: {app: frozen}
  template:
    metadata:
      labels: {app: frozen}
    spec:
      containers:
        - name: app
          image: registry.example/frozen:1.0
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: hidden
  annotations:
    fluxcd.io/automated: "true"
    fluxcd.io/ignore: "true"
spec:
  serviceName: hidden
  selector:
    matchLabels: {app: hidden}
  template:
    metadata:
      labels: {app: hidden}
    spec:
      containers:
        - name: app
          image: registry.example/hidden:1.0
`,
		"base/cron.yaml": `apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: job
              image: registry.example/job:3.0 # {"$imagepolicy": "flux-system:job"}
`,
		"plain/tools.yaml": `apiVersion: v1
kind: Pod
metadata:
  name: toolbox
  namespace: tools
spec:
  containers:
    - name: shell
      image: busybox:1.36
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: app
          image: registry.example/migrate:5
`,
	}
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for f, c := range files {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// lineOf is the 1-based line of the only line of content holding s.
func lineOf(t *testing.T, content, s string) int {
	t.Helper()
	found := 0
	for i, l := range strings.Split(content, "\n") {
		if strings.Contains(l, s) {
			if found != 0 {
				t.Fatalf("%q is on lines %d and %d", s, found, i+1)
			}
			found = i + 1
		}
	}
	if found == 0 {
		t.Fatalf("%q is on no line", s)
	}
	return found
}

// tableRows are the lines of a tabwriter table with each run of blanks
// made one space, so rows can be compared exactly without the padding.
func tableRows(out string) []string {
	var rows []string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		rows = append(rows, strings.Join(strings.Fields(l), " "))
	}
	return rows
}

func workloadsCmd(dir string) *WorkloadsListCmd {
	return &WorkloadsListCmd{SourceFlags: SourceFlags{Source: dir, Path: []string{"overlay", "plain"}}}
}

// expectedWorkloads is what workloadsFiles(ns) lists, in order.
func expectedWorkloads(t *testing.T, ns string) []workloadRow {
	f := workloadsFiles(ns)
	line := func(file, s string) int { return lineOf(t, f[file], s) }
	w := func(ns, kind, name string, cs ...containerRow) workloadRow {
		return workloadRow{Workload: workloadName(ns, kind, name), Namespace: ns, Kind: kind, Name: name, Containers: cs}
	}
	return []workloadRow{
		w("default", "Job", "migrate", containerRow{Name: "app", Image: "registry.example/migrate:5"}),
		w(ns, "CronJob", "prod-nightly", containerRow{Name: "job", Image: "registry.example/job:3.0",
			Policy: containerPolicy{Automated: true, Marker: "flux-system:job", File: "base/cron.yaml", Line: line("base/cron.yaml", "image:")}}),
		w(ns, "Deployment", "prod-app",
			containerRow{Name: "app", Image: "registry.example/app:1.1.0",
				Policy: containerPolicy{Automated: true, Marker: "flux-system:app", File: "base/app.yaml", Line: line("base/app.yaml", "registry.example/app:")}},
			containerRow{Name: "sidecar", Image: "registry.example/proxy:2.1",
				Policy: containerPolicy{Automated: true, Marker: "flux-system:proxy", File: "overlay/kustomization.yaml", Line: line("overlay/kustomization.yaml", "newTag: \"2.1\"")}}),
		w(ns, "Deployment", "prod-auto",
			containerRow{Name: "init", Init: true, Image: "registry.example/init:1",
				Policy: containerPolicy{Automated: true, Filter: "glob:*", File: "base/legacy.yaml", Line: line("base/legacy.yaml", "registry.example/init:")}},
			containerRow{Name: "app", Image: "registry.example/auto:1.2.0",
				Policy: containerPolicy{Automated: true, Filter: "semver:~1.2", File: "base/legacy.yaml", Line: line("base/legacy.yaml", "registry.example/auto:")}}),
		w(ns, "Deployment", "prod-frozen", containerRow{Name: "app", Image: "registry.example/frozen:1.0",
			Policy: containerPolicy{Locked: true, File: "base/legacy.yaml", Line: line("base/legacy.yaml", "fluxcd.io/locked")}}),
		w(ns, "StatefulSet", "prod-hidden", containerRow{Name: "app", Image: "registry.example/hidden:1.0",
			Policy: containerPolicy{Automated: true, Ignored: true, File: "base/legacy.yaml", Line: line("base/legacy.yaml", "fluxcd.io/ignore")}}),
		w("tools", "Pod", "toolbox", containerRow{Name: "shell", Image: "busybox:1.36"}),
	}
}

func TestWorkloadsList(t *testing.T) {
	ns := "team-a" // no cluster: the namespace need not exist
	dir := writeTree(t, workloadsFiles(ns))
	f := workloadsFiles(ns)
	line := func(file, s string) string { return fmt.Sprintf("%s:%d", file, lineOf(t, f[file], s)) }
	ctx := context.Background()

	t.Run("text", func(t *testing.T) {
		g, out, _ := testGlobals("text")
		var sum Summary
		g.Sinks = []Sink{SinkFunc(func(_ context.Context, s Summary) error { sum = s; return nil })}
		err := workloadsCmd(dir).Run(ctx, g)
		g.Finish("workloads list", err) // main's Execute publishes the summary
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("tidegate workloads list:\n%s", out)
		want := []string{
			"WORKLOAD CONTAINER IMAGE POLICY LOCATION",
			"default:job/migrate app registry.example/migrate:5 - -",
			"team-a:cronjob/prod-nightly job registry.example/job:3.0 marker flux-system:job " + line("base/cron.yaml", "image:"),
			"team-a:deployment/prod-app app registry.example/app:1.1.0 marker flux-system:app " + line("base/app.yaml", "registry.example/app:"),
			"team-a:deployment/prod-app sidecar registry.example/proxy:2.1 marker flux-system:proxy " + line("overlay/kustomization.yaml", `newTag: "2.1"`),
			"team-a:deployment/prod-auto init registry.example/init:1 automated glob:* " + line("base/legacy.yaml", "registry.example/init:"),
			"team-a:deployment/prod-auto app registry.example/auto:1.2.0 automated semver:~1.2 " + line("base/legacy.yaml", "registry.example/auto:"),
			"team-a:deployment/prod-frozen app registry.example/frozen:1.0 locked " + line("base/legacy.yaml", "fluxcd.io/locked"),
			"team-a:statefulset/prod-hidden app registry.example/hidden:1.0 ignore " + line("base/legacy.yaml", "fluxcd.io/ignore"),
			"tools:pod/toolbox shell busybox:1.36 - -",
		}
		if diff := cmp.Diff(want, tableRows(out.String())); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
		if sum.Command != "workloads list" || !cmp.Equal(sum.Counts, map[string]int{"workloads": 7, "containers": 9}) || sum.Changed {
			t.Errorf("summary = %+v", sum)
		}
	})

	t.Run("json", func(t *testing.T) {
		g, out, _ := testGlobals("json")
		if err := workloadsCmd(dir).Run(ctx, g); err != nil {
			t.Fatal(err)
		}
		var got []workloadRow
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("--output json is not JSON: %v\n%s", err, out)
		}
		if diff := cmp.Diff(expectedWorkloads(t, ns), got, cmpopts.IgnoreUnexported(workloadRow{})); diff != "" {
			t.Errorf("JSON (-want +got):\n%s", diff)
		}
		// Without --live there is no live field at all, not an empty one.
		if strings.Contains(out.String(), `"live"`) {
			t.Errorf("JSON without --live mentions live:\n%s", out)
		}
	})

	t.Run("filters", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			ns, c     string
			all       bool
			workloads []string
		}{
			{"namespace", "tools", "", false, []string{"tools:pod/toolbox shell"}},
			{"default namespace", "default", "", false, []string{"default:job/migrate app"}},
			{"container", "", "app", false, []string{"default:job/migrate app", "team-a:deployment/prod-app app", "team-a:deployment/prod-auto app",
				"team-a:deployment/prod-frozen app", "team-a:statefulset/prod-hidden app"}},
			{"both", "team-a", "sidecar", false, []string{"team-a:deployment/prod-app sidecar"}},
			{"no match", "elsewhere", "", false, nil},
			{"all namespaces", "", "job", true, []string{"team-a:cronjob/prod-nightly job"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				g, out, _ := testGlobals("text")
				cmd := workloadsCmd(dir)
				cmd.Namespace, cmd.Container, cmd.AllNamespaces = tc.ns, tc.c, tc.all
				if err := cmd.Run(ctx, g); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range tableRows(out.String())[1:] {
					f := strings.Fields(r)
					got = append(got, f[0]+" "+f[1])
				}
				if diff := cmp.Diff(tc.workloads, got); diff != "" {
					t.Errorf("rows (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("namespace and all namespaces", func(t *testing.T) {
		g, _, _ := testGlobals("text")
		cmd := workloadsCmd(dir)
		cmd.Namespace, cmd.AllNamespaces = "tools", true
		var ee *ExitError
		if err := cmd.Run(ctx, g); !errors.As(err, &ee) || ee.Code != ExitUsage {
			t.Errorf("-n with -a: %v, want a usage error", err)
		}
	})

	t.Run("render error", func(t *testing.T) {
		g, out, _ := testGlobals("text")
		cmd := workloadsCmd(dir)
		cmd.Path = []string{"missing"}
		if err := cmd.Run(ctx, g); err == nil || !strings.Contains(err.Error(), "missing") {
			t.Errorf("err = %v, want the render's error", err)
		}
		if out.Len() > 0 {
			t.Errorf("printed %q on a failed render", out)
		}
	})
}

// TestWorkloadsListFleet lists the example repository the demo uses: the
// marker sits in apps/base, two overlays away from --path clusters/demo.
func TestWorkloadsListFleet(t *testing.T) {
	g, out, _ := testGlobals("text")
	cmd := &WorkloadsListCmd{SourceFlags: SourceFlags{Source: "../testdata/fleet", Path: []string{"clusters/demo", "apps/demo"}}}
	if err := cmd.Run(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"WORKLOAD CONTAINER IMAGE POLICY LOCATION",
		"demo:deployment/demo demo registry.example/demo:1.4.0 automated semver:~1.4 apps/demo/deployment.yaml:21",
		"production:deployment/web web registry.example/web:1.2.0 marker tidegate-system:web apps/base/deployment.yaml:19",
	}
	if diff := cmp.Diff(want, tableRows(out.String())); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// TestWorkloadsListLive compares with a real API server: one Deployment
// runs an older image and lacks the sidecar; nothing else is deployed.
func TestWorkloadsListLive(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	dir := writeTree(t, workloadsFiles(ns))
	labels := map[string]string{"app": "app"}
	_, err := env.Client().AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "prod-app"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:0.9.0"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("text", func(t *testing.T) {
		g, out := clusterGlobals(t, "text")
		cmd := workloadsCmd(dir)
		cmd.Namespace, cmd.Live = ns, true
		if err := cmd.Run(ctx, g); err != nil {
			t.Fatal(err)
		}
		t.Logf("tidegate workloads list --live:\n%s", out)
		rows := tableRows(out.String())
		if rows[0] != "WORKLOAD CONTAINER IMAGE LIVE POLICY LOCATION" {
			t.Errorf("header = %q", rows[0])
		}
		var got []string
		for _, r := range rows[1:] {
			f := strings.Fields(r)
			got = append(got, strings.Join(f[:4], " "))
		}
		want := []string{
			ns + ":cronjob/prod-nightly job registry.example/job:3.0 -",
			ns + ":deployment/prod-app app registry.example/app:1.1.0 registry.example/app:0.9.0",
			ns + ":deployment/prod-app sidecar registry.example/proxy:2.1 -",
			ns + ":deployment/prod-auto init registry.example/init:1 -",
			ns + ":deployment/prod-auto app registry.example/auto:1.2.0 -",
			ns + ":deployment/prod-frozen app registry.example/frozen:1.0 -",
			ns + ":statefulset/prod-hidden app registry.example/hidden:1.0 -",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
	})

	t.Run("json", func(t *testing.T) {
		g, out := clusterGlobals(t, "json")
		cmd := workloadsCmd(dir)
		cmd.Live = true
		if err := cmd.Run(ctx, g); err != nil {
			t.Fatal(err)
		}
		var got []workloadRow
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("--output json is not JSON: %v\n%s", err, out)
		}
		want := expectedWorkloads(t, ns)
		for i := range want {
			for j := range want[i].Containers {
				c := &want[i].Containers[j]
				live := ""
				if want[i].Name == "prod-app" && c.Name == "app" {
					live = "registry.example/app:0.9.0"
				}
				c.Live = &live
			}
		}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(workloadRow{})); diff != "" {
			t.Errorf("JSON (-want +got):\n%s", diff)
		}
	})

	t.Run("forbidden kinds are reported per workload", func(t *testing.T) {
		// A user who may list Deployments in ns and nothing else.
		user := "workloads-reader-" + ns
		rbac := env.Client().RbacV1()
		if _, err := rbac.Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "reader"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"list"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := rbac.RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "reader"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "reader"},
			Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		g, out := clusterGlobals(t, "json")
		impersonate(t, g.Kubeconfig, user)
		var logs bytes.Buffer
		g.Stderr = &logs
		cmd := workloadsCmd(dir)
		cmd.Live = true
		if err := cmd.Run(ctx, g); err != nil {
			t.Fatalf("a forbidden LIST failed the command: %v", err)
		}
		var got []workloadRow
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("--output json is not JSON: %v\n%s", err, out)
		}
		for _, r := range got {
			deployment := r.Kind == "Deployment" && r.Namespace == ns
			if deployment != (r.LiveError == "") {
				t.Errorf("%s: liveError = %q", r.Workload, r.LiveError)
			}
			if !deployment && !strings.Contains(r.LiveError, "forbidden") {
				t.Errorf("%s: liveError = %q, want the API server's refusal", r.Workload, r.LiveError)
			}
			for _, c := range r.Containers {
				want := "error: forbidden"
				switch {
				case r.Name == "prod-app" && c.Name == "app":
					want = "registry.example/app:0.9.0"
				case deployment:
					want = ""
				}
				if c.Live == nil || *c.Live != want {
					t.Errorf("%s %s: live = %v, want %q", r.Workload, c.Name, c.Live, want)
				}
			}
		}
		if !strings.Contains(logs.String(), "could not read workloads from the cluster") {
			t.Errorf("the refusal was not logged:\n%s", logs.String())
		}
	})

	t.Run("unreachable cluster", func(t *testing.T) {
		g, out, _ := testGlobals("text")
		g.Kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
		kc := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n" +
			"users: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"
		if err := os.WriteFile(g.Kubeconfig, []byte(kc), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := workloadsCmd(dir)
		cmd.Live = true
		err := cmd.Run(ctx, g)
		if err == nil || !strings.Contains(err.Error(), "cannot reach the cluster") {
			t.Errorf("err = %v, want the cluster to be unreachable", err)
		}
		if out.Len() > 0 {
			t.Errorf("printed a listing without the cluster:\n%s", out)
		}
	})
}

// impersonate makes the kubeconfig act as user, with the admin's
// credentials, the way kubectl --as does.
func impersonate(t *testing.T, kubeconfig, user string) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.AuthInfos {
		a.Impersonate = user
		a.ImpersonateGroups = []string{"system:authenticated"}
	}
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
}

func TestContainerPolicyString(t *testing.T) {
	for _, tc := range []struct {
		p    containerPolicy
		want string
	}{
		{containerPolicy{}, "-"},
		{containerPolicy{Automated: true, Filter: "semver:~1.2"}, "automated semver:~1.2"},
		{containerPolicy{Automated: true}, "automated"},
		{containerPolicy{Automated: true, Marker: "flux-system:app"}, "marker flux-system:app"},
		{containerPolicy{Automated: true, Filter: "glob:*", Locked: true}, "automated glob:*, locked"},
		{containerPolicy{Locked: true}, "locked"},
		{containerPolicy{Automated: true, Marker: "a:b", Locked: true, Ignored: true}, "ignore"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.p, got, tc.want)
		}
	}
}

func TestNameTransform(t *testing.T) {
	for _, tc := range []struct {
		t              nameTransform
		kind, ns, name string
		want           string
	}{
		{nameTransform{}, "Deployment", "", "web", "default:deployment/web"},
		{nameTransform{}, "Deployment", "apps", "web", "apps:deployment/web"},
		{nameTransform{namespace: "prod", prefix: "a-", suffix: "-z"}, "CronJob", "apps", "web", "prod:cronjob/a-web-z"},
	} {
		if got := tc.t.apply(tc.kind, tc.ns, tc.name); got != tc.want {
			t.Errorf("%+v.apply(%s, %s, %s) = %q, want %q", tc.t, tc.kind, tc.ns, tc.name, got, tc.want)
		}
	}
}

// TestOriginFiles follows render's origins: the file each workload came
// from and the kustomizations that built it, with their patch files; the
// outermost namespace wins, prefixes and suffixes compose, and files the
// render did not read for a workload are not read; a plain directory's
// sub-directory kustomization is one build in place.
func TestOriginFiles(t *testing.T) {
	deploy := func(name string) string {
		return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: " + name + "}\n"
	}
	dir := writeTree(t, map[string]string{
		"clusters/prod/kustomization.yaml":     "namespace: prod\nnamePrefix: p-\nresources: [../../apps/overlay]\n",
		"apps/overlay/kustomization.yaml":      "namespace: ignored\nnamePrefix: o-\nnameSuffix: -s\nresources: [../base]\npatches: [{path: patch.yaml}]\npatchesStrategicMerge: [smp.yaml, \"apiVersion: apps/v1\\nkind: Deployment\\nmetadata: {name: app}\\n\"]\n",
		"apps/overlay/patch.yaml":              deploy("app"),
		"apps/overlay/smp.yaml":                deploy("app"),
		"apps/overlay/unused.yaml":             deploy("unused"),
		"apps/base/kustomization.yaml":         "resources: [app.yaml]\n",
		"apps/base/app.yaml":                   deploy("app"),
		"apps/base/unused.yaml":                deploy("unused"),
		"plain/a.yaml":                         "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: tools}\n",
		"plain/.github/workflow.yaml":          "on: push\n",
		"plain/flux-system/kustomization.yaml": "namespace: flux-system\nresources: [sync.yaml]\n",
		"plain/flux-system/sync.yaml":          deploy("sync"),
		"plain/flux-system/not-listed.yaml":    deploy("not-listed"),
	})
	res, err := render.Render(context.Background(), dir, []string{"clusters/prod", "plain"}, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := originFiles(workloadRows(context.Background(), res), dir, slog.New(slog.DiscardHandler))
	want := []string{"apps/base/app.yaml", "apps/overlay/kustomization.yaml", "apps/overlay/patch.yaml", "apps/overlay/smp.yaml",
		"clusters/prod/kustomization.yaml", "plain/a.yaml", "plain/flux-system/kustomization.yaml", "plain/flux-system/sync.yaml"}
	if diff := cmp.Diff(want, r.sorted()); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	base := r.files["apps/base/app.yaml"]
	if len(base) != 1 {
		t.Fatalf("apps/base/app.yaml reached %d ways", len(base))
	}
	if got := base[0].apply("Deployment", "", "app"); got != "prod:deployment/p-o-app-s" {
		t.Errorf("base object lands as %s", got)
	}
	if diff := cmp.Diff([]string{"clusters/prod/kustomization.yaml", "apps/overlay/kustomization.yaml"}, base[0].via); diff != "" {
		t.Errorf("via (-want +got):\n%s", diff)
	}
	if got := r.files["apps/overlay/patch.yaml"][0].apply("Deployment", "", "app"); got != "prod:deployment/p-o-app-s" {
		t.Errorf("patched object predicted as %s", got)
	}
	if got := r.files["plain/a.yaml"][0].apply("Pod", "tools", "a"); got != "tools:pod/a" {
		t.Errorf("plain object lands as %s", got)
	}
	if got := r.files["plain/flux-system/sync.yaml"][0].apply("Deployment", "", "sync"); got != "flux-system:deployment/sync" {
		t.Errorf("the unit's object lands as %s", got)
	}
}
