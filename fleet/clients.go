package fleet

import (
	"context"
	"errors"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tidegate/tidegate/chartrender"
	"github.com/tidegate/tidegate/flux"
	"github.com/tidegate/tidegate/reconcile"
)

// errNoCluster is what a unit gets that needs the cluster in a run
// without one (tidegate render).
var errNoCluster = errors.New("it is not in Git and this command does not read the cluster")

// clients hands each unit the cluster access it runs with: the run's
// own, impersonating the unit's ServiceAccount, or another cluster's
// from the unit's kubeconfig Secret. They are made once per distinct
// access and shared by the units that have it.
type clients struct {
	run *clusterClient
	mu  sync.Mutex
	by  map[string]*clusterClient
}

func newClients(cfg *rest.Config) (*clients, error) {
	run, err := newClusterClient(cfg)
	if err != nil {
		return nil, err
	}
	return &clients{run: run, by: map[string]*clusterClient{}}, nil
}

// forUnit is the access of unit k (nil: the run's own).
func (c *clients) forUnit(ctx context.Context, k *flux.Kustomization) (*clusterClient, error) {
	if k == nil || (k.ServiceAccountName == "" && k.KubeConfig == nil) {
		return c.run, nil
	}
	key := k.Namespace + "|" + k.ServiceAccountName
	if k.KubeConfig != nil {
		key += "|" + k.KubeConfig.Name + "|" + k.KubeConfig.Key
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.by[key]; ok {
		return cl, nil
	}
	if c.run.cfg == nil {
		// No cluster (tidegate render): what the unit reads from one
		// fails when it reads it, saying so.
		return c.run, nil
	}
	cfg := rest.CopyConfig(c.run.cfg)
	if k.KubeConfig != nil {
		var err error
		if cfg, err = c.remote(ctx, k); err != nil {
			return nil, err
		}
	}
	if k.ServiceAccountName != "" {
		// Flux's multi-tenancy lock-down: the unit can do what its
		// ServiceAccount can, not what tidegate can.
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + k.Namespace + ":" + k.ServiceAccountName}
	}
	cl, err := newClusterClient(cfg)
	if err != nil {
		return nil, err
	}
	c.by[key] = cl
	return cl, nil
}

// remote reads the kubeconfig of spec.kubeConfig.secretRef, with the
// run's own access as kustomize-controller reads it with its own.
func (c *clients) remote(ctx context.Context, k *flux.Kustomization) (*rest.Config, error) {
	name := fmt.Sprintf("Kustomization %s/%s: spec.kubeConfig.secretRef Secret %s/%s", k.Namespace, k.Name, k.Namespace, k.KubeConfig.Name)
	data, err := c.run.secret(ctx, k.Namespace, k.KubeConfig.Name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	raw, err := flux.KubeConfig(data, k.KubeConfig.Key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cfg, err := restConfigFrom(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, nil
}

// restConfigFrom reads a kubeconfig from a Secret. It refuses exec and
// auth-provider plugins: a kubeconfig is data, and running a program it
// names would let whoever wrote the Secret run code where tidegate runs
// (kustomize-controller refuses them too unless told otherwise).
func restConfigFrom(raw []byte) (*rest.Config, error) {
	kc, err := clientcmd.Load(raw)
	if err != nil {
		return nil, fmt.Errorf("not a kubeconfig: %w", err)
	}
	for name, a := range kc.AuthInfos {
		if a.Exec != nil {
			return nil, fmt.Errorf("user %q runs a program (exec) to get credentials; tidegate runs none: give a token or a client certificate", name)
		}
		if a.AuthProvider != nil {
			return nil, fmt.Errorf("user %q uses an auth-provider plugin; tidegate runs none: give a token or a client certificate", name)
		}
		if a.TokenFile != "" || a.ClientCertificate != "" || a.ClientKey != "" {
			return nil, fmt.Errorf("user %q names files on the machine; a kubeconfig in a Secret must hold its credentials inline", name)
		}
	}
	for name, cl := range kc.Clusters {
		if cl.CertificateAuthority != "" {
			return nil, fmt.Errorf("cluster %q names a CA file on the machine; give certificate-authority-data", name)
		}
	}
	return clientcmd.NewDefaultClientConfig(*kc, &clientcmd.ConfigOverrides{}).ClientConfig()
}

// clusterClient reads what a unit needs from one cluster, as one access,
// and holds the clients the units with that access reconcile with.
type clusterClient struct {
	cfg    *rest.Config
	dyn    dynamic.Interface
	mapper meta.ResettableRESTMapper
	// disc is the discovery behind mapper, cached.
	disc discovery.CachedDiscoveryInterface
	// caps is the cluster as a chart sees it, discovered once.
	capsOnce sync.Once
	caps     chartrender.Capabilities
	capsErr  error
}

// restMapper is the cluster's kinds, discovered lazily and once for all
// the units with this access.
func (c *clusterClient) restMapper() (meta.RESTMapper, error) {
	if c.mapper == nil {
		return nil, fmt.Errorf("no cluster: %w", errNoCluster)
	}
	return c.mapper, nil
}

func newClusterClient(cfg *rest.Config) (*clusterClient, error) {
	if cfg == nil {
		return &clusterClient{}, nil
	}
	dyn, mapper, disc, err := reconcile.Clients(cfg)
	if err != nil {
		return nil, err
	}
	return &clusterClient{cfg: cfg, dyn: dyn, mapper: mapper, disc: disc}, nil
}

var (
	secretsGVR    = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	configMapsGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
)

// secret returns a Secret's data, decoded.
func (c *clusterClient) secret(ctx context.Context, ns, name string) (map[string][]byte, error) {
	if c.dyn == nil {
		return nil, fmt.Errorf("Secret %s/%s: %w", ns, name, errNoCluster)
	}
	u, err := c.dyn.Resource(secretsGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read Secret %s/%s: %w", ns, name, err)
	}
	out := map[string][]byte{}
	for k, v := range objectData(u) {
		out[k] = []byte(v)
	}
	return out, nil
}

// optionalSecret is secret, or nil when no name is given.
func (c *clusterClient) optionalSecret(ctx context.Context, ns, name string) (map[string][]byte, error) {
	if name == "" {
		return nil, nil
	}
	return c.secret(ctx, ns, name)
}

// data reads a ConfigMap's or Secret's data for substituteFrom.
func (c *clusterClient) data(ctx context.Context, kind, ns, name string) (map[string]string, bool, error) {
	gvr := configMapsGVR
	if kind == "Secret" {
		gvr = secretsGVR
	}
	if c.dyn == nil {
		return nil, false, fmt.Errorf("%s %s/%s: %w", kind, ns, name, errNoCluster)
	}
	u, err := c.dyn.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s %s/%s: %w", kind, ns, name, err)
	}
	return objectData(u), true, nil
}

// source reads a live Flux source, in whichever version the cluster
// serves.
func (c *clusterClient) source(ctx context.Context, ref flux.Ref) (*unstructured.Unstructured, error) {
	if c.dyn == nil {
		return nil, fmt.Errorf("%s: %w", ref, errNoCluster)
	}
	resource := map[string]string{"GitRepository": "gitrepositories", "OCIRepository": "ocirepositories", "HelmRepository": "helmrepositories"}[ref.Kind]
	var last error
	for _, v := range []string{"v1", "v1beta2"} {
		u, err := c.dyn.Resource(schema.GroupVersionResource{Group: sourceGroup, Version: v, Resource: resource}).Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			return u, nil
		}
		last = err
		if !apierrors.IsNotFound(err) {
			break
		}
	}
	if apierrors.IsNotFound(last) {
		return nil, fmt.Errorf("%s is neither in the repository nor in the cluster; add it to Git or create it", ref)
	}
	return nil, fmt.Errorf("read %s: %w", ref, last)
}

// UnitConfig is the cluster access unit u runs with: the run's own, or
// impersonating its ServiceAccount, or its kubeconfig's (what tidegate
// check asks the API server about, as the unit).
func (f *Fleet) UnitConfig(ctx context.Context, u *Unit) (*rest.Config, error) {
	cl, err := f.clients.forUnit(ctx, u.Kustomization)
	if err != nil {
		return nil, err
	}
	return cl.cfg, nil
}

// Discover reads the cluster's kinds into the run's REST mapper, for a
// caller that has something to wait for before Run (its Lease) and can
// read them meanwhile. The kinds are the cluster's API, no object a run
// decides on; a kind made after they were read (a CRD another run
// applied) is what discovery misses anyway until it refreshes, as when
// this run applies CRDs itself.
func (f *Fleet) Discover(ctx context.Context) {
	if f.clients.run.mapper == nil {
		return
	}
	_, _ = meta.ToRESTMapperWithContext(f.clients.run.mapper).RESTMappingWithContext(ctx, schema.GroupKind{Kind: "Namespace"}, "v1")
}
