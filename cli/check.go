package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	authenticationclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
	coreclient "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/restmapper"

	"github.com/tidegate/tidegate/check"
	"github.com/tidegate/tidegate/fleet"
	"github.com/tidegate/tidegate/images"
	"github.com/tidegate/tidegate/images/scan"
	"github.com/tidegate/tidegate/internal/markdown"
	"github.com/tidegate/tidegate/internal/version"
	"github.com/tidegate/tidegate/render"
	"github.com/tidegate/tidegate/source"
)

// CheckCmd is the pre-flight: is everything a reconcile with the same
// flags needs in place? It takes reconcile's flags so that a check of a
// CronJob's configuration checks exactly that configuration.
type CheckCmd struct {
	SourceFlags
	KeyFlags
	InventoryFlags
	PlanFlags
	FluxFlags

	Lease bool `help:"Hold a coordination.k8s.io Lease named tidegate-<inventory-name> in the inventory namespace while reconciling, so two runs (CronJob and CI) never overlap (--no-lease skips it)." default:"true" negatable:"" env:"TIDEGATE_LEASE"`
	// The registry flags of the images commands, without RegistryFlags'
	// --concurrency, which would clash with PlanFlags'.
	DockerConfig     string   `help:"Directory with a Docker config.json holding registry credentials. Default: $$DOCKER_CONFIG, then ~/.docker." env:"TIDEGATE_DOCKER_CONFIG" type:"path" placeholder:"DIR"`
	InsecureRegistry []string `help:"Registry host[:port] to reach over plain HTTP instead of HTTPS. Repeatable." env:"TIDEGATE_INSECURE_REGISTRY" sep:"," placeholder:"HOST"`
	SkipImages       bool     `help:"Do not check that the registries of the image policies answer." env:"TIDEGATE_SKIP_IMAGES"`
	SkipCluster      bool     `help:"Do not contact the cluster (offline): check only Git, the SOPS keys, the render and the registries." env:"TIDEGATE_SKIP_CLUSTER"`
}

// checkTimeout bounds each request to the cluster: an unreachable API
// server should fail the check in seconds, not hang until the TCP
// timeout of the platform.
const checkTimeout = 30 * time.Second

// Run runs every check, prints one line per check (or, with --output
// json, one document), and exits 1 if any failed. A failed check does
// not stop the others unless they depend on it: without the repository
// there is nothing to render, without the cluster nothing to ask.
func (c *CheckCmd) Run(ctx context.Context, g *Globals) error {
	g.inventory = inventoryRef(c.parent())
	var results []check.Result
	add := func(rs ...check.Result) { results = append(results, rs...) }

	co, err := c.Open(ctx)
	add(check.Git(co, err))
	if err == nil {
		defer co.Close()
	} else {
		co = nil
	}

	cl := c.cluster(g, add)
	who := ""
	if cl != nil {
		var r check.Result
		who, r = check.Identity(ctx, cl.authn.SelfSubjectReviews())
		add(r)
	}

	keys, err := c.Keys(ctx, g)
	if err != nil {
		add(check.Result{Name: "keys", Detail: err.Error(), Hint: "fix the key flags; the render below uses only the keys that could be read"})
	}
	var res *render.Result
	if co != nil {
		var rs []check.Result
		res, rs = check.Render(ctx, co.Dir, c.Path, render.Options{Keys: keys, Logger: g.Logger(), Plaintext: g.plaintext(), Helm: g.helmCharts(c.CacheDir)})
		add(rs...)
	}
	var f *fleet.Fleet
	var plan *fleet.Plan
	if res != nil {
		f, plan, err = c.plan(ctx, g, co, keys, cl != nil)
		if err != nil {
			add(check.Result{Name: "units", Detail: err.Error(), Hint: "fix the Kustomizations the error names"})
		} else {
			defer closePlan(g, plan)
		}
	}

	if cl != nil {
		prev, r := check.Inventory(ctx, cl.dyn, cl.core.Namespaces(), c.parent(), "tidegate/"+version.Version())
		add(r)
		// Without a render the objects' access is unknown, and nothing
		// would be pruned; the inventory's and the lease's access is
		// still worth knowing.
		var objs []*unstructured.Unstructured
		if res != nil {
			objs = res.Objects
		} else {
			prev = nil
		}
		if plan != nil && plan.Flux {
			// Flux's objects are read, not applied: the run needs no
			// access to them.
			objs = appliedObjects(plan.Units[0], plan)
		}
		needs, rs := check.Needs(objs, cl.mapper, check.Reconcile{
			Inventory:          c.parent(),
			Prune:              c.Prune,
			Lease:              c.Lease,
			AllowNamespaces:    c.AllowNamespace,
			AllowClusterScoped: c.AllowClusterScoped,
		}, prev)
		add(rs...)
		add(check.Namespaces(ctx, cl.core.Namespaces(), objs, needs)...)
		add(check.Access(ctx, cl.authz.SelfSubjectAccessReviews(), needs, who)...)
	}
	if plan != nil && plan.Flux {
		add(c.unitChecks(ctx, g, f, plan, cl, who)...)
	}

	if co != nil && !c.SkipImages {
		add(c.registries(ctx, g, co)...)
	}

	return c.finish(g, co, results)
}

// clusterClients are the narrow typed clients check needs; the full
// clientset would link every API group's client into the binary.
type clusterClients struct {
	core   coreclient.CoreV1Interface
	authn  authenticationclient.AuthenticationV1Interface
	authz  authorizationclient.AuthorizationV1Interface
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

// cluster connects and checks the server answers; nil when it was
// skipped or does not answer, and then nothing else asks it.
func (c *CheckCmd) cluster(g *Globals, add func(...check.Result)) *clusterClients {
	if c.SkipCluster {
		return nil
	}
	cfg, err := g.RESTConfig()
	if err != nil {
		add(check.Result{Name: "cluster", Detail: err.Error(), Hint: "or pass --skip-cluster to check only Git, keys, the render and the registries"})
		return nil
	}
	if cfg.Timeout == 0 || cfg.Timeout > checkTimeout {
		cfg.Timeout = checkTimeout
	}
	cl := &clusterClients{}
	var dc *discovery.DiscoveryClient
	for _, mk := range []func() error{
		func() (err error) { cl.core, err = coreclient.NewForConfig(cfg); return },
		func() (err error) { cl.authn, err = authenticationclient.NewForConfig(cfg); return },
		func() (err error) { cl.authz, err = authorizationclient.NewForConfig(cfg); return },
		func() (err error) { cl.dyn, err = dynamic.NewForConfig(cfg); return },
		func() (err error) { dc, err = discovery.NewDiscoveryClientForConfig(cfg); return },
	} {
		if err := mk(); err != nil {
			add(check.Result{Name: "cluster", Detail: fmt.Sprintf("%s: %v", cfg.Host, err), Hint: "check --kubeconfig and --context"})
			return nil
		}
	}
	r := check.Cluster(cfg.Host, dc)
	add(r)
	if !r.OK {
		return nil
	}
	cl.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return cl
}

// registries checks the registries with the credentials and transport
// options of tidegate images.
func (c *CheckCmd) registries(ctx context.Context, g *Globals, co *source.Checkout) []check.Result {
	rf := RegistryFlags{DockerConfig: c.DockerConfig, InsecureRegistry: c.InsecureRegistry}
	opts, err := rf.options(g, c.Path)
	if err != nil {
		return []check.Result{{Name: "registry", Detail: err.Error(), Hint: "or pass --skip-images"}}
	}
	// One quick retry: a pre-flight should answer in seconds, and a
	// registry that needs more is worth a ✗ anyway.
	opts.Scan.Retry = scan.Retry{Attempts: 2, Max: 5 * time.Second}
	src, err := images.Load(co.Dir, c.Path...)
	return check.Registries(ctx, src, err, opts.Scan)
}

// finish prints the results, reports the summary and turns any failure
// into exit code 1.
func (c *CheckCmd) finish(g *Globals, co *source.Checkout, results []check.Result) error {
	failed := check.Failed(results)
	s := Summary{Command: "check", Counts: map[string]int{"ok": len(results) - failed, "failed": failed}}
	if co != nil {
		s.Source, s.Revision = co.URL, co.Revision
	}
	var md strings.Builder
	md.WriteString("| | check | detail |\n|---|---|---|\n")
	for _, r := range results {
		mark := "✔"
		if !r.OK {
			mark = "✗"
		}
		detail := r.Detail
		if !r.OK && r.Hint != "" {
			detail += " — " + r.Hint
		}
		fmt.Fprintf(&md, "| %s | %s | %s |\n", mark, markdown.Text(r.Name), markdown.Text(detail))
	}
	s.Markdown = md.String()
	var err error
	if failed > 0 {
		err = &ExitError{Code: ExitFailure, Err: fmt.Errorf("%d of %d checks failed (the ✗ lines say what to do)", failed, len(results))}
		s.Err = err
	}
	var perr error
	if g.Output == "json" {
		perr = printJSON(g.stdout(), checkJSON{OK: failed == 0, Counts: s.Counts, Checks: nonNil(results)})
	} else {
		perr = check.WriteText(g.stdout(), results)
	}
	g.summarize(s)
	if err == nil {
		return perr
	}
	return err
}

type checkJSON struct {
	OK     bool           `json:"ok"`
	Counts map[string]int `json:"counts"`
	Checks []check.Result `json:"checks"`
}
