package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"

	"github.com/tidegate/tidegate/desired"
	"github.com/tidegate/tidegate/images"
	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/render"
)

// WorkloadsCmd groups the workload commands.
type WorkloadsCmd struct {
	List WorkloadsListCmd `cmd:"" help:"List the workloads the repository renders, their containers, images and automation policies (fluxctl list-workloads)."`
}

// WorkloadsListCmd is the successor of fluxctl list-workloads. It needs no
// cluster unless --live asks what is running there.
type WorkloadsListCmd struct {
	SourceFlags
	KeyFlags
	Namespace     string `short:"n" help:"Only workloads in this namespace, as rendered (no namespace counts as default). Default: every namespace." env:"TIDEGATE_WORKLOADS_NAMESPACE" placeholder:"NS"`
	AllNamespaces bool   `short:"a" help:"Every namespace. This is the default; the flag is kept for fluxctl habits and cannot be combined with --namespace." env:"TIDEGATE_WORKLOADS_ALL_NAMESPACES"`
	Container     string `short:"c" help:"Only containers with this name." env:"TIDEGATE_WORKLOADS_CONTAINER" placeholder:"NAME"`
	Live          bool   `help:"Also read each workload from the cluster (--kubeconfig) and show the image each container runs there; - when the workload or container is not in the cluster." env:"TIDEGATE_WORKLOADS_LIVE"`
}

// workloadRow is one workload of the listing, the unit of --output json.
type workloadRow struct {
	// Workload is namespace:kind/name, as fluxctl wrote it.
	Workload  string `json:"workload"`
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	// LiveError says why the cluster could not be read for this workload.
	LiveError  string         `json:"liveError,omitempty"`
	Containers []containerRow `json:"containers"`

	group string
	// origin is where render read the workload (the join's files).
	origin render.Origin
}

type containerRow struct {
	Name  string `json:"name"`
	Init  bool   `json:"init,omitempty"`
	Image string `json:"image"`
	// Live is the image the cluster runs: absent without --live, "" when
	// the workload or the container is not in the cluster.
	Live   *string         `json:"live,omitempty"`
	Policy containerPolicy `json:"policy"`
}

// containerPolicy is what the repository's files say about automating a
// container. It reports declarations: an ignored workload may still say
// automated.
type containerPolicy struct {
	Automated bool `json:"automated"`
	Locked    bool `json:"locked"`
	Ignored   bool `json:"ignored"`
	// Filter is the Flux v1 tag pattern, e.g. semver:~1.2.
	Filter string `json:"filter,omitempty"`
	// Marker is the ImagePolicy a setter marker names, namespace:name.
	Marker string `json:"marker,omitempty"`
	// File and Line locate the declaration that decides: the ignore or
	// locked annotation, else the marked or automated image.
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

// String is the POLICY column.
func (p containerPolicy) String() string {
	if p.Ignored {
		return "ignore"
	}
	var parts []string
	switch {
	case p.Marker != "":
		parts = append(parts, "marker "+p.Marker)
	case p.Automated:
		parts = append(parts, strings.TrimSpace("automated "+p.Filter))
	}
	if p.Locked {
		parts = append(parts, "locked")
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func (p containerPolicy) location() string {
	if p.File == "" {
		return "-"
	}
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// workloadKind says how to read a workload kind from the cluster (where
// it keeps its pods is object.PodSpecPath).
type workloadKind struct {
	version  string
	resource string
}

var workloadKinds = map[schema.GroupKind]workloadKind{
	{Group: "apps", Kind: "Deployment"}:  {"v1", "deployments"},
	{Group: "apps", Kind: "StatefulSet"}: {"v1", "statefulsets"},
	{Group: "apps", Kind: "DaemonSet"}:   {"v1", "daemonsets"},
	{Group: "apps", Kind: "ReplicaSet"}:  {"v1", "replicasets"},
	{Group: "batch", Kind: "Job"}:        {"v1", "jobs"},
	{Group: "batch", Kind: "CronJob"}:    {"v1", "cronjobs"},
	{Group: "", Kind: "Pod"}:             {"v1", "pods"},
	// Flux v1 automated helm-operator HelmReleases like workloads; their
	// images are in spec.values (images.HelmReleaseImages).
	{Group: "helm.fluxcd.io", Kind: "HelmRelease"}:   {"v1", "helmreleases"},
	{Group: "flux.weave.works", Kind: "HelmRelease"}: {"v1beta1", "helmreleases"},
}

// Run renders, joins the repository's policies and prints the listing.
func (c *WorkloadsListCmd) Run(ctx context.Context, g *Globals) error {
	if c.AllNamespaces && c.Namespace != "" {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--all-namespaces and --namespace %s contradict each other; give one", c.Namespace)}
	}
	co, res, err := renderSource(ctx, g, &c.SourceFlags, &c.KeyFlags)
	if err != nil {
		return err
	}
	defer co.Close()
	rows := workloadRows(ctx, res)
	attachPolicies(rows, co.Dir, g.Logger())
	rows = filterRows(rows, c.Namespace, c.Container)
	if c.Live {
		if err := readLive(ctx, g, rows); err != nil {
			return err
		}
	}
	containers := 0
	for _, r := range rows {
		containers += len(r.Containers)
	}
	g.summarize(Summary{Command: "workloads list", Source: co.URL, Revision: co.Revision,
		Counts: map[string]int{"workloads": len(rows), "containers": containers}})
	if g.Output == "json" {
		return printJSON(g.stdout(), rows)
	}
	return printWorkloads(g.stdout(), rows, c.Live)
}

// workloadRows extracts the workloads of a render, sorted by namespace,
// kind and name. Their namespaces are settled by reconcile's own step
// (desired.Resolve), so a workload without one is listed where a
// reconcile puts it. A workload a reconcile would refuse is still listed:
// the listing is about Git, and check says what is wrong with it.
func workloadRows(ctx context.Context, res *render.Result) []workloadRow {
	rows := []workloadRow{}
	// Resolve settles namespaces in place: the render's identities, which
	// key its origins, are read before.
	origins := make(map[*unstructured.Unstructured]render.Origin, len(res.Objects))
	for _, o := range res.Objects {
		origins[o] = res.Origins[object.FromUnstructured(o)]
	}
	for _, it := range desired.Resolve(ctx, res, workloadScopes{}, desired.Policy{}).Items {
		gvk := it.Obj.GroupVersionKind()
		if _, ok := workloadKinds[gvk.GroupKind()]; !ok || it.Verdict == desired.Skip {
			continue
		}
		ns := it.ID.Namespace
		r := workloadRow{Workload: workloadName(ns, gvk.Kind, it.ID.Name), Namespace: ns, Kind: gvk.Kind, Name: it.ID.Name, group: gvk.Group, origin: origins[it.Obj]}
		r.Containers = containersOf(it.Obj.Object, gvk.Kind)
		rows = append(rows, r)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Name < b.Name
	})
	return rows
}

// workloadScopes answers desired.Resolve without a cluster: the workload
// kinds are built in and namespaced, and the kinds the listing leaves out
// need no answer.
type workloadScopes struct{}

func (workloadScopes) Namespaced(_ context.Context, gvk schema.GroupVersionKind) (bool, error) {
	if _, ok := workloadKinds[gvk.GroupKind()]; ok {
		return true, nil
	}
	return false, &meta.NoKindMatchError{GroupKind: gvk.GroupKind(), SearchedVersions: []string{gvk.Version}}
}

func workloadName(ns, kind, name string) string {
	return ns + ":" + strings.ToLower(kind) + "/" + name
}

// containersOf lists init containers, then containers, in spec order;
// for a helm-operator HelmRelease, the images of its values under the
// names Flux v1 gave them.
func containersOf(obj map[string]any, kind string) []containerRow {
	if kind == "HelmRelease" {
		return releaseContainers(obj)
	}
	podSpec, _ := object.PodSpecPath(kind)
	out := []containerRow{}
	for _, list := range []string{"initContainers", "containers"} {
		items, _, _ := unstructured.NestedSlice(obj, append(append([]string(nil), podSpec...), list)...)
		for _, it := range items {
			m, _ := it.(map[string]any)
			name, _ := m["name"].(string)
			image, _ := m["image"].(string)
			out = append(out, containerRow{Name: name, Init: list == "initContainers", Image: image})
		}
	}
	return out
}

// releaseContainers lists a HelmRelease's images. A release whose
// mapping annotations cannot be read lists none here; images list and
// update say what is wrong with it.
func releaseContainers(obj map[string]any) []containerRow {
	out := []containerRow{}
	imgs, err := images.HelmReleaseImages(obj)
	if err != nil {
		return out
	}
	for _, img := range imgs {
		out = append(out, containerRow{Name: img.Name, Image: img.Image})
	}
	return out
}

// filterRows keeps the workloads in ns (all when empty) and, of those,
// the containers named container (all when empty); a workload left with
// no container is dropped.
func filterRows(rows []workloadRow, ns, container string) []workloadRow {
	out := []workloadRow{}
	for _, r := range rows {
		if ns != "" && r.Namespace != ns {
			continue
		}
		if container != "" {
			var keep []containerRow
			for _, c := range r.Containers {
				if c.Name == container {
					keep = append(keep, c)
				}
			}
			if len(keep) == 0 {
				continue
			}
			r.Containers = keep
		}
		out = append(out, r)
	}
	return out
}

// readLive fills in the images the cluster runs with one LIST per kind
// and namespace. Only an unreachable cluster fails the command; a LIST
// that fails (RBAC, say) is reported on the workloads it concerns.
func readLive(ctx context.Context, g *Globals, rows []workloadRow) error {
	cfg, err := g.RESTConfig()
	if err != nil {
		return fmt.Errorf("--live needs the cluster: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("--live: %w", err)
	}
	if _, err := dc.ServerVersion(); err != nil {
		return fmt.Errorf("--live: cannot reach the cluster: %w (check --kubeconfig and --context, or drop --live)", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("--live: %w", err)
	}
	type listKey struct {
		gk schema.GroupKind
		ns string
	}
	type listed struct {
		byName map[string]*unstructured.Unstructured
		err    error
	}
	lists := map[listKey]listed{}
	for i := range rows {
		r := &rows[i]
		k := listKey{schema.GroupKind{Group: r.group, Kind: r.Kind}, r.Namespace}
		wk := workloadKinds[k.gk]
		l, done := lists[k]
		if !done {
			gvr := schema.GroupVersionResource{Group: k.gk.Group, Version: wk.version, Resource: wk.resource}
			list, err := dyn.Resource(gvr).Namespace(k.ns).List(ctx, metav1.ListOptions{})
			l = listed{byName: map[string]*unstructured.Unstructured{}, err: err}
			if err != nil {
				g.Logger().Warn("could not read workloads from the cluster; their live images are unknown", "kind", k.gk.Kind, "namespace", k.ns, "error", err)
			} else {
				for j := range list.Items {
					l.byName[list.Items[j].GetName()] = &list.Items[j]
				}
			}
			lists[k] = l
		}
		live := map[string]string{}
		if obj := l.byName[r.Name]; obj != nil {
			for _, c := range containersOf(obj.Object, k.gk.Kind) {
				live[c.Name] = c.Image
			}
		}
		if l.err != nil {
			r.LiveError = fmt.Sprintf("list %s in namespace %s: %v (grant list on %s there, or drop --live)", wk.resource, r.Namespace, l.err, wk.resource)
		}
		for j := range r.Containers {
			c := &r.Containers[j]
			img := live[c.Name]
			if l.err != nil {
				img = liveErrorText(l.err)
			}
			c.Live = &img
		}
	}
	return nil
}

// liveErrorText is what the LIVE column shows for a workload the cluster
// would not give: short, the full error goes to the log and JSON.
func liveErrorText(err error) string {
	if r := apierrors.ReasonForError(err); r != metav1.StatusReasonUnknown {
		return "error: " + strings.ToLower(string(r))
	}
	return "error"
}

// printWorkloads prints one line per container. LIVE is shown only with
// --live, because a column of "-" would read as "not running".
func printWorkloads(w io.Writer, rows []workloadRow, live bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if live {
		fmt.Fprintln(tw, "WORKLOAD\tCONTAINER\tIMAGE\tLIVE\tPOLICY\tLOCATION")
	} else {
		fmt.Fprintln(tw, "WORKLOAD\tCONTAINER\tIMAGE\tPOLICY\tLOCATION")
	}
	for _, r := range rows {
		containers := r.Containers
		if len(containers) == 0 {
			containers = []containerRow{{}}
		}
		for _, c := range containers {
			cols := []string{r.Workload, dash(c.Name), dash(c.Image)}
			if live {
				l := ""
				if c.Live != nil {
					l = *c.Live
				}
				cols = append(cols, dash(l))
			}
			cols = append(cols, c.Policy.String(), c.Policy.location())
			fmt.Fprintln(tw, strings.Join(cols, "\t"))
		}
	}
	return tw.Flush()
}
