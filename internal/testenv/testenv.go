// Package testenv starts a real kube-apiserver and etcd for tests, the
// demo and the benchmarks.
//
// tidegate's apply, diff and prune logic leans on behaviour that only the
// real API machinery has: server-side apply and managed fields, dry-run,
// admission, RBAC and CRD establishment. A fake clientset would let those
// tests pass while the binary fails against a cluster, so every test that
// touches Kubernetes goes through this package instead.
//
// Fault tests start an Env of their own and stop its kube-apiserver in
// the middle of a run with StopAPIServer (outage.go), which also restarts
// it on the same port with the same certificates and etcd data.
//
// The binaries come from hack/testenv.sh, which builds kube-apiserver from
// source through the Go module proxy and takes etcd from Debian's
// etcd-server; the directory it prints is found again here through
// TIDEGATE_TESTENV_ASSETS or the default cache directory.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// KubeVersion is the kube-apiserver version hack/testenv.sh builds.
const KubeVersion = "v1.34.1"

// AssetsEnv names the environment variable that points at a directory
// holding the kube-apiserver and etcd binaries.
const AssetsEnv = "TIDEGATE_TESTENV_ASSETS"

// Env is a running API server with an admin client configuration.
type Env struct {
	// Config authenticates as a member of system:masters.
	Config *rest.Config
	// Kubeconfig is Config as a kubeconfig file's contents.
	Kubeconfig []byte

	env    *envtest.Environment
	client kubernetes.Interface
	// restarted are kube-apiservers StopAPIServer's restart started.
	restarted []*exec.Cmd
}

// AssetsDir returns the directory holding kube-apiserver and etcd, or an
// error that says how to get them.
func AssetsDir() (string, error) {
	dir := os.Getenv(AssetsEnv)
	if dir == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("locate the test API server binaries: %w", err)
			}
			cache = filepath.Join(home, ".cache")
		}
		dir = filepath.Join(cache, "tidegate-testenv", KubeVersion)
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("test API server binary %s not found in %s: run `make testenv` (hack/testenv.sh) to build it, or set %s", bin, dir, AssetsEnv)
		}
	}
	return dir, nil
}

// Start launches etcd and kube-apiserver on free loopback ports and waits
// until the default namespace exists.
func Start() (*Env, error) {
	dir, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	te := &envtest.Environment{
		BinaryAssetsDirectory:    dir,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	// The API server runs no controllers: nothing would ever create the
	// default ServiceAccount, so pods would be rejected by its admission.
	te.ControlPlane.GetAPIServer().Configure().
		Set("disable-admission-plugins", "ServiceAccount").
		Set("advertise-address", "127.0.0.1")
	cfg, err := te.Start()
	if err != nil {
		return nil, fmt.Errorf("start kube-apiserver and etcd from %s: %w", dir, err)
	}
	// Tests measure tidegate, not client-go's default limiter of 5 QPS.
	cfg.QPS, cfg.Burst = -1, -1
	client, err := newClient(cfg)
	if err != nil {
		_ = te.Stop()
		return nil, err
	}
	return &Env{Config: cfg, Kubeconfig: te.KubeConfig, env: te, client: client}, nil
}

// Stop ends the API server and etcd and removes their data.
func (e *Env) Stop() error {
	if e == nil || e.env == nil {
		return nil
	}
	for _, cmd := range e.restarted {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	return e.env.Stop()
}

// Client returns a typed client with admin rights, for test set-up and
// assertions.
func (e *Env) Client() kubernetes.Interface { return e.client }

// AddUser provisions a client-certificate user in the given groups and
// returns a configuration that authenticates as it, for RBAC tests.
func (e *Env) AddUser(name string, groups ...string) (*rest.Config, error) {
	u, err := e.env.AddUser(envtest.User{Name: name, Groups: groups}, e.Config)
	if err != nil {
		return nil, err
	}
	cfg := u.Config()
	cfg.QPS, cfg.Burst = -1, -1
	return cfg, nil
}

// Namespace creates a namespace unique to t and deletes it when t ends.
// Without controllers the namespace never finishes terminating, which is
// harmless: names are never reused.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	name := strings.ToLower(t.Name())
	name = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		return '-'
	}, name)
	if len(name) > 40 {
		name = name[:40]
	}
	name = strings.Trim(name, "-") + "-" + randomSuffix()
	ctx := context.Background()
	_, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		err := e.client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})
	return name
}

func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Main starts one API server for a test binary, runs its tests and stops
// the server. Use it from TestMain:
//
//	var env *testenv.Env
//	func TestMain(m *testing.M) { testenv.Main(m, &env) }
//
// A missing binary fails the package with instructions rather than
// skipping it, so that CI can never pass without the real server.
func Main(m *testing.M, env **Env) {
	e, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		os.Exit(1)
	}
	*env = e
	code := m.Run()
	if err := e.Stop(); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "testenv: stop:", err)
	}
	os.Exit(code)
}

func newClient(cfg *rest.Config) (kubernetes.Interface, error) { return kubernetes.NewForConfig(cfg) }
