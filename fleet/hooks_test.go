package fleet_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	helmrepo "helm.sh/helm/v4/pkg/repo/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/tidegate/tidegate/fleet"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/reconcile"
)

// publishChart packages the chart testdata/charts/name at version into
// the repository and rewrites its index.
func (c *chartRepo) publishChart(name, version string) {
	c.t.Helper()
	ch, err := loader.LoadDir(filepath.Join("testdata", "charts", name))
	if err != nil {
		c.t.Fatal(err)
	}
	ch.Metadata.Version = version
	if _, err := chartutil.Save(ch, c.dir); err != nil {
		c.t.Fatal(err)
	}
	idx, err := helmrepo.IndexDirectory(c.dir, "")
	if err != nil {
		c.t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(c.dir, "index.yaml"), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// hookedRelease is HelmRelease name of chart hooked; extra is more of
// its spec.
func hookedRelease(ns, name, extra string) string {
	return fmt.Sprintf(`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: %s
  namespace: %s
spec:
  interval: 10m
  chart:
    spec:
      chart: hooked
      version: "*"
      sourceRef:
        kind: HelmRepository
        name: charts
%s`, name, ns, extra)
}

// writes counts the requests that write to the API server: a
// RoundTripper under the run's client, so nothing is missed.
type writes struct {
	mu   sync.Mutex
	seen []string
}

func (w *writes) config() *rest.Config {
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			switch r.Method {
			case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
				w.mu.Lock()
				w.seen = append(w.seen, r.Method+" "+r.URL.Path)
				w.mu.Unlock()
			}
			return rt.RoundTrip(r)
		})
	})
	return cfg
}

func (w *writes) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.seen)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func runWith(t *testing.T, cfg *rest.Config, o fleet.Options) (*reconcile.Report, error) {
	t.Helper()
	f, err := fleet.New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	return f.Run(context.Background())
}

// jobEnd is what the observer does with a hook Job: there is no
// controller-manager in the test cluster, so a Job ends only when the
// test writes its status.
type jobEnd int

const (
	jobComplete jobEnd = iota
	jobFail
	jobLeave
)

// observer watches the namespace's ConfigMaps and Jobs while tidegate
// runs: the ConfigMap events in the order the API server made them, and
// for each Job, when it appears, which of the release's other objects
// existed then. It ends each Job as told.
type observer struct {
	t      *testing.T
	ns     string
	prefix string
	end    jobEnd
	// ends overrides end for the Jobs it names.
	ends   map[string]jobEnd
	mu     sync.Mutex
	events []string
	// atJob lists, per Job creation, the ConfigMaps of the release that
	// existed when the Job appeared.
	atJob  [][]string
	cancel context.CancelFunc
	done   sync.WaitGroup
}

func observe(t *testing.T, ns, prefix string, end jobEnd) *observer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	o := &observer{t: t, ns: ns, prefix: prefix, end: end, cancel: cancel}
	list, err := env.Client().CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o.done.Add(2)
	// From the list's resourceVersion on, resumed after an error event
	// (the API server's watch cache may not serve a fresh one at once),
	// so that no event is lost.
	go func() {
		defer o.done.Done()
		rv := list.ResourceVersion
		for ctx.Err() == nil {
			w, err := env.Client().CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				cm, ok := ev.Object.(*corev1.ConfigMap)
				if !ok {
					time.Sleep(100 * time.Millisecond)
					break
				}
				rv = cm.ResourceVersion
				if !strings.HasPrefix(cm.Name, prefix) || (ev.Type != watch.Added && ev.Type != watch.Deleted) {
					continue
				}
				o.mu.Lock()
				o.events = append(o.events, string(ev.Type)+" "+cm.Name)
				o.mu.Unlock()
			}
			w.Stop()
		}
	}()
	// Jobs are polled: a watch of a kind the API server's cache has just
	// begun to serve may fail at first.
	go func() {
		defer o.done.Done()
		seen := map[types.UID]bool{}
		for ctx.Err() == nil {
			list, err := env.Client().BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			for _, job := range list.Items {
				if seen[job.UID] {
					continue
				}
				seen[job.UID] = true
				var present []string
				cms, err := env.Client().CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
				if err == nil {
					for _, cm := range cms.Items {
						if strings.HasPrefix(cm.Name, prefix) {
							present = append(present, cm.Name)
						}
					}
				}
				o.mu.Lock()
				o.atJob = append(o.atJob, present)
				o.mu.Unlock()
				if err := o.finish(ctx, &job); err != nil && ctx.Err() == nil {
					t.Errorf("end Job %s: %v", job.Name, err)
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	t.Cleanup(o.stop)
	return o
}

// finish writes the Job's status through the status subresource, as the
// Job controller would.
func (o *observer) finish(ctx context.Context, job *batchv1.Job) error {
	o.mu.Lock()
	end, ok := o.ends[job.Name]
	o.mu.Unlock()
	if !ok {
		end = o.end
	}
	if end == jobLeave {
		return nil
	}
	now := metav1.Now()
	job.Status.StartTime = &now
	if end == jobComplete {
		job.Status.Succeeded = 1
		job.Status.CompletionTime = &now
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
	} else {
		job.Status.Failed = 1
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: "BackoffLimitExceeded"},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: "BackoffLimitExceeded", Message: "the migration failed"},
		}
	}
	_, err := env.Client().BatchV1().Jobs(o.ns).UpdateStatus(ctx, job, metav1.UpdateOptions{})
	return err
}

// stop ends the watches and returns what was seen; events that are
// still in flight are waited for.
func (o *observer) stop() {
	time.Sleep(300 * time.Millisecond)
	o.cancel()
	o.done.Wait()
}

func (o *observer) seen() (events []string, atJob [][]string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.events), slices.Clone(o.atJob)
}

func (o *observer) reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events, o.atJob = nil, nil
}

func jobExists(t *testing.T, ns, name string) bool {
	t.Helper()
	_, err := env.Client().BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// hookLines are the report's hooks as "event object result[, deleted]".
func hookLines(rep *reconcile.Report) []string {
	var out []string
	for _, h := range rep.Hooks {
		line := h.Event + " " + h.Object + " " + string(h.Result)
		if h.Deleted {
			line += ", deleted"
		}
		out = append(out, line)
	}
	return out
}

// waitFor polls cond for up to 5s: watch events reach the observer a
// little after the run that caused them returns.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 50 {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("%s: not after 5s", what)
}

// TestFleetHelmHooks: a release's pre-install hooks are applied and
// waited for before anything else of the unit is written (a Job until
// it completes, then a ConfigMap of higher weight), its post-install
// hooks after the objects; hook-succeeded deletes a hook once the
// event's hooks all succeeded, the default policy leaves it; hooks are
// not inventory members but carry its label. A second run runs no hook
// and makes no write request at all. A diff of changed values runs no
// hook and lists them; the run that applies the change runs the
// pre-upgrade and post-upgrade hooks (recreating the default-policy
// hook, before-hook-creation) and not the post-install-only one.
func TestFleetHelmHooks(t *testing.T) {
	ns := env.Namespace(t)
	srv := newChartRepo(t, nil)
	srv.publishChart("hooked", "0.1.0")
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
	r.write("apps/repository.yaml", helmRepository(ns, "charts", srv.srv.URL, ""))
	r.write("apps/release.yaml", hookedRelease(ns, "web", "  values:\n    greeting: hello\n"))
	o := options(r, ns)
	obs := observe(t, ns, "web-", jobComplete)

	rep, err := run(t, o)
	if err != nil {
		logUnits(t, rep)
		t.Fatalf("install: %v", err)
	}
	wantEvents := []string{"ADDED web-pre-config", "ADDED web-app", "ADDED web-post-done", "ADDED web-post-marker", "DELETED web-post-done"}
	waitFor(t, "the install's ConfigMap events", func() bool { ev, _ := obs.seen(); return len(ev) >= len(wantEvents) })
	events, atJob := obs.seen()
	if d := cmp.Diff(wantEvents, events); d != "" {
		t.Errorf("ConfigMap events of the install, in order (-want +got):\n%s", d)
	}
	if d := cmp.Diff([][]string{nil}, atJob); d != "" {
		t.Errorf("release objects present when the pre-install Job appeared (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{
		"pre-install Job.batch/" + ns + "/web-migrate succeeded, deleted",
		"pre-install ConfigMap/" + ns + "/web-pre-config succeeded",
		"post-install ConfigMap/" + ns + "/web-post-done succeeded, deleted",
		"post-install ConfigMap/" + ns + "/web-post-marker succeeded",
	}, hookLines(rep)); d != "" {
		t.Errorf("hooks in the report (-want +got):\n%s", d)
	}
	if jobExists(t, ns, "web-migrate") || exists(t, ns, "web-post-done") {
		t.Error("a hook-succeeded hook is still there")
	}
	pre := configMapOf(t, ns, "web-pre-config")
	marker := configMapOf(t, ns, "web-post-marker")
	parent := fleet.UnitInventory(o.Run.Inventory, ns, "apps")
	if got := pre.Labels[inventory.PartOfLabel]; got != parent.ID() {
		t.Errorf("hook %s=%q, want the unit's inventory %s", inventory.PartOfLabel, got, parent.ID())
	}
	inv := configMapOf(t, ns, parent.Name)
	if m := inv.Data["members"]; !strings.Contains(m, "web-app") || strings.Contains(m, "web-pre-config") || strings.Contains(m, "web-migrate") || strings.Contains(m, "web-post") {
		t.Errorf("inventory members: %q, want the release's object and no hook", m)
	}

	// No-op: nothing rendered changed, so no hook runs and not one
	// write request reaches the API server.
	obs.reset()
	var w writes
	rep, err = runWith(t, w.config(), o)
	if err != nil {
		t.Fatalf("no-op run: %v", err)
	}
	if got := w.list(); len(got) > 0 {
		t.Errorf("the no-op run wrote: %v", got)
	}
	if len(rep.Hooks) > 0 || rep.Changed() {
		t.Errorf("the no-op run ran hooks %v or changed %v", hookLines(rep), actions(rep))
	}

	// A diff of a values change lists the hooks an upgrade runs and
	// creates none.
	r.write("apps/release.yaml", hookedRelease(ns, "web", "  values:\n    greeting: changed\n"))
	rep, err = diff(t, o)
	if err != nil {
		t.Fatalf("diff: %v", err)
	}
	if d := cmp.Diff([]string{
		"pre-upgrade Job.batch/" + ns + "/web-migrate would run",
		"pre-upgrade ConfigMap/" + ns + "/web-pre-config would run",
		"post-upgrade ConfigMap/" + ns + "/web-post-done would run",
	}, hookLines(rep)); d != "" {
		t.Errorf("hooks in the diff (-want +got):\n%s", d)
	}
	if jobExists(t, ns, "web-migrate") || configMapOf(t, ns, "web-pre-config").UID != pre.UID {
		t.Error("the diff ran a hook")
	}

	rep, err = run(t, o)
	if err != nil {
		logUnits(t, rep)
		t.Fatalf("upgrade: %v", err)
	}
	if d := cmp.Diff([]string{
		"pre-upgrade Job.batch/" + ns + "/web-migrate succeeded, deleted",
		"pre-upgrade ConfigMap/" + ns + "/web-pre-config succeeded",
		"post-upgrade ConfigMap/" + ns + "/web-post-done succeeded, deleted",
	}, hookLines(rep)); d != "" {
		t.Errorf("hooks of the upgrade (-want +got):\n%s", d)
	}
	waitFor(t, "the upgrade's Job", func() bool { _, at := obs.seen(); return len(at) == 1 })
	if _, at := obs.seen(); len(at) != 1 || !slices.Equal(at[0], []string{"web-app", "web-post-marker", "web-pre-config"}) {
		t.Errorf("when the pre-upgrade Job appeared: %v (want the old objects, the pre hook not yet recreated)", at)
	}
	if cm := configMapOf(t, ns, "web-pre-config"); cm.UID == pre.UID || cm.Data["greeting"] != "changed" {
		t.Errorf("pre-config not recreated (before-hook-creation): same UID %v, greeting %q", cm.UID == pre.UID, cm.Data["greeting"])
	}
	if g := configMapOf(t, ns, "web-app").Data["greeting"]; g != "changed" {
		t.Errorf("app greeting %q after the upgrade", g)
	}
	if configMapOf(t, ns, "web-post-marker").UID != marker.UID {
		t.Error("the post-install-only hook ran on upgrade")
	}
}

// TestFleetHelmHookFails: a pre-install hook that fails, or does not
// complete within the unit's timeout, fails the unit before anything
// else of it is written: the release's objects are not created, its
// other hooks do not run, nothing is pruned (an object Git dropped in
// the same change stays), and hook-failed deletes the failed Job. The
// report says which hook failed.
func TestFleetHelmHookFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  jobEnd
		want string
	}{
		{"failed", jobFail, "failed: Job failed: the migration failed"},
		{"timed out", jobLeave, "not done after 30s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := env.Namespace(t)
			srv := newChartRepo(t, nil)
			srv.publishChart("hooked", "0.1.0")
			r := newRepo(t)
			// 30s is the shortest timeout Flux gives a unit.
			r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", "  timeout: 30s\n"))
			r.write("apps/repository.yaml", helmRepository(ns, "charts", srv.srv.URL, ""))
			r.write("apps/keep.yaml", configMap(ns, "web-keep", "v1"))
			o := options(r, ns)
			if rep, err := run(t, o); err != nil {
				logUnits(t, rep)
				t.Fatal(err)
			}
			r.remove("apps/keep.yaml")
			r.write("apps/release.yaml", hookedRelease(ns, "web", ""))
			obs := observe(t, ns, "web-", tc.end)

			rep, err := run(t, o)
			u := unit(rep, ns+"/apps")
			if err == nil || u.Status != reconcile.UnitFailed {
				t.Fatalf("unit %s, error %v; want it failed", u.Status, err)
			}
			for _, want := range []string{"HelmRelease " + ns + "/web", "pre-install hook", "Job.batch/" + ns + "/web-migrate", tc.want, "nothing else was applied or pruned"} {
				if !strings.Contains(u.Reason, want) {
					t.Errorf("reason %q does not say %q", u.Reason, want)
				}
			}
			if d := cmp.Diff([]string{"pre-install Job.batch/" + ns + "/web-migrate failed, deleted"}, hookLines(rep)); d != "" {
				t.Errorf("hooks (-want +got):\n%s", d)
			}
			obs.stop()
			if _, at := obs.seen(); len(at) != 1 {
				t.Errorf("the Job appeared %d times, want once", len(at))
			}
			for _, name := range []string{"web-app", "web-pre-config", "web-post-done", "web-post-marker"} {
				if exists(t, ns, name) {
					t.Errorf("%s was written after the pre hook failed", name)
				}
			}
			if jobExists(t, ns, "web-migrate") {
				t.Error("the failed Job is still there (hook-failed)")
			}
			if !exists(t, ns, "web-keep") {
				t.Error("web-keep was pruned though the pre hook failed")
			}
		})
	}
}

// TestHostileHelmHookName: a hook whose name is taken by an object
// tidegate did not create (a person's ConfigMap; another inventory's)
// refuses the unit before any write: the object is neither overwritten
// nor deleted (before-hook-creation would delete it), no hook runs, the
// release's objects are not applied and no inventory is written; the
// error names the object, the release and what to do.
func TestHostileHelmHookName(t *testing.T) {
	for _, tc := range []struct {
		name, object string
		labels       map[string]string
		owner        string
	}{
		{"pre hook name taken by a person", "web-pre-config", nil, "written by kubectl"},
		{"post hook name of another inventory", "web-post-marker", map[string]string{inventory.PartOfLabel: "applyset-other-v1"}, "belongs to inventory applyset-other-v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := env.Namespace(t)
			ctx := context.Background()
			theirs := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: tc.object, Namespace: ns, Labels: tc.labels}, Data: map[string]string{"owner": "someone else"}}
			created, err := env.Client().CoreV1().ConfigMaps(ns).Create(ctx, theirs, metav1.CreateOptions{FieldManager: "kubectl"})
			if err != nil {
				t.Fatal(err)
			}
			srv := newChartRepo(t, nil)
			srv.publishChart("hooked", "0.1.0")
			r := newRepo(t)
			r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
			r.write("apps/repository.yaml", helmRepository(ns, "charts", srv.srv.URL, ""))
			r.write("apps/release.yaml", hookedRelease(ns, "web", ""))
			o := options(r, ns)
			obs := observe(t, ns, "web-", jobComplete)

			rep, err := run(t, o)
			u := unit(rep, ns+"/apps")
			if err == nil || u.Status != reconcile.UnitFailed {
				t.Fatalf("unit %s, error %v; want it refused", u.Status, err)
			}
			for _, want := range []string{"ConfigMap/" + ns + "/" + tc.object, "HelmRelease " + ns + "/web", "tidegate did not create", tc.owner, "Rename the hook", "nothing was written"} {
				if !strings.Contains(u.Reason, want) {
					t.Errorf("reason %q does not say %q", u.Reason, want)
				}
			}
			obs.stop()
			if _, at := obs.seen(); len(at) > 0 || len(rep.Hooks) > 0 {
				t.Errorf("a hook ran: Jobs %v, report %v", at, hookLines(rep))
			}
			now := configMapOf(t, ns, tc.object)
			if now.UID != created.UID || now.ResourceVersion != created.ResourceVersion || now.Data["owner"] != "someone else" {
				t.Errorf("the other owner's object was written or recreated: %+v", now.ObjectMeta)
			}
			parent := fleet.UnitInventory(o.Run.Inventory, ns, "apps")
			for _, name := range []string{"web-app", parent.Name} {
				if exists(t, ns, name) {
					t.Errorf("%s was written", name)
				}
			}
		})
	}
}

// TestFleetHelmNoOpWritesNothing is the benchmark's claim as a test:
// ten HelmReleases (each with a pre-install hook) reconciled three times
// (the second is each release's upgrade: the test chart renders
// .Release.IsInstall, so it changes and runs its pre-upgrade hook); the
// third sends the API server no write request (no PATCH, POST, PUT or
// DELETE, dry-run or not) and runs no hook.
func TestFleetHelmNoOpWritesNothing(t *testing.T) {
	ns := env.Namespace(t)
	srv := newChartRepo(t, nil)
	srv.publish("0.1.0")
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
	r.write("apps/repository.yaml", helmRepository(ns, "charts", srv.srv.URL, ""))
	for i := range 10 {
		r.write(fmt.Sprintf("apps/release-%d.yaml", i), helmRelease(ns, fmt.Sprintf("hello-%d", i), "*", fmt.Sprintf("  values:\n    greeting: hello-%d\n", i)))
	}
	o := options(r, ns)
	rep, err := run(t, o)
	if err != nil {
		logUnits(t, rep)
		t.Fatalf("first run: %v", err)
	}
	if n := len(rep.Filter(reconcile.Created)); n != 20 || len(rep.Hooks) != 10 {
		t.Fatalf("first run: %d objects created, %d hooks; want 20 and 10", n, len(rep.Hooks))
	}
	if rep, err = run(t, o); err != nil || len(rep.Filter(reconcile.Configured)) != 10 || len(rep.Hooks) != 10 {
		t.Fatalf("upgrade run: %v; %d configured, hooks %v; want 10 and 10", err, len(rep.Filter(reconcile.Configured)), hookLines(rep))
	}
	var w writes
	rep, err = runWith(t, w.config(), o)
	if err != nil {
		t.Fatalf("no-op run: %v", err)
	}
	if got := w.list(); len(got) > 0 {
		t.Errorf("the no-op run of 10 HelmReleases sent %d write requests: %v", len(got), got)
	}
	if rep.Changed() || len(rep.Hooks) > 0 || len(rep.Filter(reconcile.Unchanged)) != 20 {
		t.Errorf("no-op run: changed %v, hooks %v, %d unchanged (want 20)", actions(rep), hookLines(rep), len(rep.Filter(reconcile.Unchanged)))
	}
}

// TestFleetHelmPostHookOfOwnCRD: a post-install hook of a kind whose
// CRD the release itself brings (crds/) runs once the CRD is applied:
// before the apply its kind is unknown, which is no refusal.
func TestFleetHelmPostHookOfOwnCRD(t *testing.T) {
	ns := env.Namespace(t)
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = dyn.Resource(crds).Delete(context.Background(), "gadgets.hooks.tidegate.test", metav1.DeleteOptions{})
	})
	srv := newChartRepo(t, nil)
	srv.publishChart("crdhook", "0.1.0")
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
	r.write("apps/repository.yaml", helmRepository(ns, "charts", srv.srv.URL, ""))
	r.write("apps/release.yaml", strings.ReplaceAll(hookedRelease(ns, "web", ""), "chart: hooked", "chart: crdhook"))
	o := options(r, ns)
	rep, err := run(t, o)
	if err != nil {
		logUnits(t, rep)
		t.Fatalf("install: %v", err)
	}
	if d := cmp.Diff([]string{"post-install Gadget.hooks.tidegate.test/" + ns + "/web-gadget succeeded"}, hookLines(rep)); d != "" {
		t.Errorf("hooks (-want +got):\n%s", d)
	}
	g, err := dyn.Resource(schema.GroupVersionResource{Group: "hooks.tidegate.test", Version: "v1", Resource: "gadgets"}).Namespace(ns).Get(context.Background(), "web-gadget", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the post hook's Gadget: %v", err)
	}
	if got := g.GetLabels()[inventory.PartOfLabel]; got != fleet.UnitInventory(o.Run.Inventory, ns, "apps").ID() {
		t.Errorf("the Gadget's %s=%q", inventory.PartOfLabel, got)
	}
}

// TestFleetHelmPostHookFails: a post-install hook that fails fails the
// unit after its objects were applied, and the release's digest is not
// recorded: the next run upgrades and runs its hooks again (pre and
// post), and the run after that, with nothing changed, runs none.
func TestFleetHelmPostHookFails(t *testing.T) {
	ns := env.Namespace(t)
	srv := newChartRepo(t, nil)
	srv.publishChart("hooked", "0.1.0")
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
	r.write("apps/repository.yaml", helmRepository(ns, "charts", srv.srv.URL, ""))
	r.write("apps/release.yaml", hookedRelease(ns, "web", "  values:\n    postJob: true\n"))
	o := options(r, ns)
	obs := observe(t, ns, "web-", jobComplete)
	obs.mu.Lock()
	obs.ends = map[string]jobEnd{"web-check": jobFail}
	obs.mu.Unlock()

	rep, err := run(t, o)
	u := unit(rep, ns+"/apps")
	if err == nil || u.Status != reconcile.UnitFailed || !strings.Contains(u.Reason, "post-install hook: Job.batch/"+ns+"/web-check: failed") {
		t.Fatalf("unit %s (%s), error %v; want it failed on the post hook", u.Status, u.Reason, err)
	}
	if !exists(t, ns, "web-app") {
		t.Error("the release's object is not applied, though only a post hook failed")
	}
	if got := hookLines(rep); len(got) != 5 || got[4] != "post-install Job.batch/"+ns+"/web-check failed" {
		t.Errorf("hooks: %v", got)
	}

	obs.mu.Lock()
	obs.ends = nil
	obs.mu.Unlock()
	rep, err = run(t, o)
	if err != nil {
		logUnits(t, rep)
		t.Fatalf("the run after the failed post hook: %v", err)
	}
	if d := cmp.Diff([]string{
		"pre-upgrade Job.batch/" + ns + "/web-migrate succeeded, deleted",
		"pre-upgrade ConfigMap/" + ns + "/web-pre-config succeeded",
		"post-upgrade ConfigMap/" + ns + "/web-post-done succeeded, deleted",
		"post-upgrade Job.batch/" + ns + "/web-check succeeded",
	}, hookLines(rep)); d != "" {
		t.Errorf("hooks run again (-want +got):\n%s", d)
	}
	if rep, err = run(t, o); err != nil || len(rep.Hooks) > 0 {
		t.Errorf("third run: hooks %v, error %v; want none", hookLines(rep), err)
	}
}
