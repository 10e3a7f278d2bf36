// Command bench measures tidegate's whole reconcile against baselines run
// in the same process and on the same API server, and prints each result
// as a ratio to the floor: raw client-go server-side-apply PATCHes with 16
// goroutines and no client rate limit. kubectl apply --server-side is
// measured too when kubectl is installed.
//
//	go run ./hack/bench -n 1000
//
// Scenarios: create (N new objects), no-op (the same N again), and prune
// (10% changed, 10% removed from Git), each repeated (-reps) from empty
// namespaces; a row is the best repetition of the floor and of tidegate.
// The numbers are wall-clock times on a shared machine: compare ratios,
// not seconds.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/tidegate/tidegate/internal/testenv"
)

func main() {
	n := flag.Int("n", 1000, "number of ConfigMaps")
	workers := flag.Int("workers", 16, "goroutines of the raw client-go floor")
	units := flag.Int("units", 20, "Flux Kustomizations the same objects are split into for the flux rows (0: no flux rows)")
	withKubectl := flag.Bool("kubectl", true, "also measure kubectl apply --server-side when it is installed (slow: minutes at 5,000 objects)")
	reps := flag.Int("reps", 3, "repetitions of every scenario; each row is the best one")
	flag.Parse()
	if err := run(*n, *workers, *units, *reps, *withKubectl); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type result struct {
	seconds float64
	cpu     float64 // user + system seconds of the process
	rssMB   float64
}

// best is the faster of two results, with the larger peak RSS: the row
// shows the best time and the worst memory.
func best(a, b result) result {
	if a.seconds == 0 {
		return b
	}
	out := a
	if b.seconds < 0 || a.seconds < 0 {
		out.seconds = -1
	} else if b.seconds < a.seconds {
		out.seconds, out.cpu = b.seconds, b.cpu
	}
	out.rssMB = max(a.rssMB, b.rssMB)
	return out
}

// runs are one repetition's results by scenario.
type runs struct{ floor, tide map[string]result }

// repetition measures every scenario once, in namespaces of its own.
func repetition(ctx context.Context, client kubernetes.Interface, kubeconfig, bin, work string, rep, n, workers, units int) (*runs, error) {
	r := &runs{floor: map[string]result{}, tide: map[string]result{}}
	nsFloor, nsTide, nsFlux := fmt.Sprintf("bench-floor-%d", rep), fmt.Sprintf("bench-tidegate-%d", rep), fmt.Sprintf("bench-flux-%d", rep)
	for _, ns := range []string{nsFloor, nsTide, nsFlux} {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
	}

	// Floor: the same three steps with raw PATCHes and DELETEs.
	all := indexes(0, n)
	changed, removed := indexes(0, n/10), indexes(n-n/10, n)
	r.floor["create"] = timed(func() error { return floorApply(ctx, client, nsFloor, all, "v1", workers) })
	r.floor["no-op"] = timed(func() error { return floorApply(ctx, client, nsFloor, all, "v1", workers) })
	r.floor["prune"] = timed(func() error {
		if err := floorApply(ctx, client, nsFloor, changed, "v2", workers); err != nil {
			return err
		}
		return floorDelete(ctx, client, nsFloor, removed, workers)
	})

	// tidegate: the real binary, a fresh process per run, as a CronJob runs it.
	repo := filepath.Join(work, "repo")
	if err := writeRepo(repo, nsTide, n, nil, nil); err != nil {
		return nil, err
	}
	args := []string{"--kubeconfig", kubeconfig, "--log-level", "warn", "reconcile", "--source", repo, "--path", ".",
		"--inventory-namespace", nsTide, "--inventory-name", "bench", "--no-wait", "--allow-mass-prune"}
	r.tide["create"] = process(bin, args...)
	r.tide["no-op"] = process(bin, args...)
	if err := writeRepo(repo, nsTide, n, set(changed), set(removed)); err != nil {
		return nil, err
	}
	r.tide["prune"] = process(bin, args...)

	// The same objects as a Flux repository of independent units, run
	// as `--path clusters/bench`.
	if units > 0 {
		frepo := filepath.Join(work, "frepo")
		if err := writeFluxRepo(frepo, nsFlux, n, units); err != nil {
			return nil, err
		}
		fargs := []string{"--kubeconfig", kubeconfig, "--log-level", "warn", "reconcile", "--source", frepo, "--path", "clusters/bench",
			"--inventory-namespace", nsFlux, "--inventory-name", "bench", "--no-wait", "--allow-mass-prune"}
		r.tide["flux-create"] = process(bin, fargs...)
		r.tide["flux-no-op"] = process(bin, fargs...)
	}
	return r, nil
}

func run(n, workers, units, reps int, withKubectl bool) error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "tidegate-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	fmt.Fprintln(os.Stderr, "bench: building tidegate")
	bin := filepath.Join(work, "tidegate")
	// As releases build it (Dockerfile, .goreleaser.yaml): static and
	// stripped. A cgo build of the same code links the plugin package
	// kustomize imports, exports every symbol, and starts with about
	// 35 MB more RSS than the binary users run.
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	fmt.Fprintln(os.Stderr, "bench: starting kube-apiserver + etcd")
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer env.Stop()
	kubeconfig := filepath.Join(work, "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.Kubeconfig, 0o600); err != nil {
		return err
	}
	client := env.Client()
	for _, ns := range []string{"bench-helm", "bench-helm-floor"} {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return err
		}
	}

	scenarios := []string{"create", "no-op", "prune"}
	if units > 0 {
		scenarios = append(scenarios, "flux-create", "flux-no-op")
	}
	floor := map[string]result{}
	tide := map[string]result{}
	kube := map[string]result{}
	// Each repetition starts from empty namespaces; a scenario's row is
	// its best repetition, for the floor and tidegate alike, so that a
	// busy machine moves both less than it moves one.
	for rep := 1; rep <= reps; rep++ {
		fmt.Fprintf(os.Stderr, "bench: repetition %d of %d\n", rep, reps)
		r, err := repetition(ctx, client, kubeconfig, bin, work, rep, n, workers, units)
		if err != nil {
			return err
		}
		for s, res := range r.floor {
			floor[s] = best(floor[s], res)
		}
		for s, res := range r.tide {
			tide[s] = best(tide[s], res)
		}
	}
	floor["flux-create"], floor["flux-no-op"] = floor["create"], floor["no-op"]

	// The same count of objects rendered from HelmReleases.
	htide, hfloor, err := helmRows(ctx, client, bin, kubeconfig, work, n, workers)
	if err != nil {
		return err
	}
	for _, s := range []string{"helm-create", "helm-no-op", "helm-render"} {
		if _, ok := htide[s]; ok {
			tide[s], floor[s] = htide[s], hfloor[s]
			scenarios = append(scenarios, s)
		}
	}

	kubectl, _ := exec.LookPath("kubectl")
	if kubectl != "" && withKubectl {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench-kubectl"}}, metav1.CreateOptions{}); err != nil {
			return err
		}
		krepo := filepath.Join(work, "krepo")
		if err := writeRepo(krepo, "bench-kubectl", n, nil, nil); err != nil {
			return err
		}
		kargs := []string{"--kubeconfig", kubeconfig, "apply", "--server-side", "-f", krepo, "-o", "name"}
		kube["create"] = process(kubectl, kargs...)
		kube["no-op"] = process(kubectl, kargs...)
	}

	fmt.Printf("tidegate benchmark: %d ConfigMaps, kube-apiserver %s + etcd on this machine, tidegate built as released (CGO_ENABLED=0, -s -w)\n", n, testenv.KubeVersion)
	fmt.Printf("floor = raw client-go server-side-apply PATCHes, %d goroutines, no rate limit (prune: 10%% PATCH + 10%% DELETE)\n\n", workers)
	fmt.Printf("%-12s %8s %22s %22s %14s %14s\n", "scenario", "floor", "tidegate", "kubectl", "tidegate CPU", "tidegate RSS")
	for _, s := range scenarios {
		f := floor[s]
		fmt.Printf("%-12s %7.2fs %22s %22s %13.2fs %11.0f MB\n", s, f.seconds, cell(tide[s], f), cell(kube[s], f), tide[s].cpu, tide[s].rssMB)
	}
	fmt.Printf("\nbest of %d repetitions each; tidegate CPU = user + system seconds of the tidegate process, RSS its peak (the largest over the repetitions)\n", reps)
	fmt.Println("ratio = seconds / floor seconds; lower is better. targets: create <= 1.5x, no-op <= 0.6x, prune <= 1.5x; tidegate RSS <= 150 MB at -n 5000")
	if units > 0 {
		fmt.Printf("flux rows: the same %d objects as %d independent Flux Kustomizations (%d objects each), against the floor of the same objects; targets: flux-create <= 1.5x, flux-no-op <= 0.5x\n", n, units, n/units)
	}
	fmt.Printf("helm rows: %d HelmReleases of one chart from an HTTP chart repository (%d ConfigMaps each) in one Flux unit, against the floor of the same rendered objects; the no-op run sends no write request (fleet's TestFleetHelmNoOpWritesNothing)\n", helmReleases, n/helmReleases)
	if _, ok := tide["helm-render"]; ok {
		fmt.Println("helm-render: tidegate render of one of those HelmReleases (chart fetched over HTTP) against `helm template` of the same chart and values as the floor (TIDEGATE_HELM; best of 3 processes each); target <= 1.2x")
	}
	return nil
}

func cell(r, floor result) string {
	if r.seconds == 0 {
		return "n/a"
	}
	if r.seconds < 0 {
		return "failed"
	}
	return fmt.Sprintf("%.2fs (%.2fx)", r.seconds, r.seconds/floor.seconds)
}

func timed(f func() error) result {
	start := time.Now()
	if err := f(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return result{seconds: -1}
	}
	return result{seconds: time.Since(start).Seconds()}
}

// process runs a command and returns its wall time and peak RSS.
func process(bin string, args ...string) result { return processEnv(nil, bin, args...) }

// processEnv is process with more environment.
func processEnv(env []string, bin string, args ...string) result {
	cmd := exec.Command(bin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stderr = os.Stderr
	start := time.Now()
	out, err := cmd.Output()
	d := time.Since(start)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s: %v\n%s\n", filepath.Base(bin), err, out)
		return result{seconds: -1}
	}
	rss := 0.0
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = float64(ru.Maxrss) / 1024
	}
	cpu := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	return result{seconds: d.Seconds(), cpu: cpu, rssMB: rss}
}

func indexes(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func set(xs []int) map[int]bool {
	m := map[int]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func configMapName(i int) string { return fmt.Sprintf("bench-%05d", i) }

func configMapJSON(ns string, i int, version string) []byte {
	return []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q,"namespace":%q},"data":{"index":"%d","version":%q}}`,
		configMapName(i), ns, i, version))
}

// writeRepo writes the ConfigMaps as a plain YAML directory of 100
// documents per file, the shape of a real generated repository.
func writeRepo(dir, ns string, n int, changed, removed map[int]bool) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var files [][]byte
	for i := 0; i < n; i++ {
		if removed[i] {
			continue
		}
		version := "v1"
		if changed[i] {
			version = "v2"
		}
		if i%100 == 0 || len(files) == 0 {
			files = append(files, nil)
		}
		files[len(files)-1] = append(files[len(files)-1], []byte(fmt.Sprintf("---\n%s\n", configMapJSON(ns, i, version)))...)
	}
	for i, f := range files {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%03d-configmaps.yaml", i)), f, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// parallel runs f on every item, workers at a time, and returns the
// first error; a failure stops none of the others.
func parallel(items []int, workers int, f func(int) error) error {
	var g errgroup.Group
	g.SetLimit(workers)
	for _, i := range items {
		g.Go(func() error { return f(i) })
	}
	return g.Wait()
}

func floorApply(ctx context.Context, c kubernetes.Interface, ns string, items []int, version string, workers int) error {
	force := true
	return parallel(items, workers, func(i int) error {
		_, err := c.CoreV1().ConfigMaps(ns).Patch(ctx, configMapName(i), types.ApplyPatchType, configMapJSON(ns, i, version),
			metav1.PatchOptions{FieldManager: "bench", Force: &force})
		return err
	})
}

func floorDelete(ctx context.Context, c kubernetes.Interface, ns string, items []int, workers int) error {
	return parallel(items, workers, func(i int) error {
		return c.CoreV1().ConfigMaps(ns).Delete(ctx, configMapName(i), metav1.DeleteOptions{})
	})
}

// writeFluxRepo writes the ConfigMaps as a Flux repository: a cluster
// directory of units Kustomizations that do not depend on each other,
// each pointing at a directory of its share of the objects.
func writeFluxRepo(dir, ns string, n, units int) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	var ks bytes.Buffer
	for u := 0; u < units; u++ {
		fmt.Fprintf(&ks, "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: unit-%02d\n  namespace: %s\nspec:\n  interval: 10m\n  path: ./units/%02d\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n", u, ns, u)
		udir := filepath.Join(dir, "units", fmt.Sprintf("%02d", u))
		if err := os.MkdirAll(udir, 0o755); err != nil {
			return err
		}
		var b bytes.Buffer
		for i := u * n / units; i < (u+1)*n/units; i++ {
			fmt.Fprintf(&b, "---\n%s\n", configMapJSON(ns, i, "v1"))
		}
		if err := os.WriteFile(filepath.Join(udir, "configmaps.yaml"), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "clusters", "bench"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "clusters", "bench", "units.yaml"), ks.Bytes(), 0o644)
}
