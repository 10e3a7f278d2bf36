package main

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/tidegate/tidegate"

// stages are the packages of the data flow. Each does one step and knows
// nothing of the others; only packages outside them combine stages: the
// orchestrators (reconcile, fleet for a Flux repository's units, cli),
// which know the order, and check and propose, which read across stages
// for one command. Keeping the stages apart keeps each one testable on
// its own. Beside them are the nouns they share (object, inventory), the
// pure steps (desired, flux, chartrender, bootstrap) and internal/'s
// leaves.
var stages = []string{"source", "render", "apply", "prune", "images", "forge", "charts"}

// TestImportRules keeps the layout described in the README honest.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		deps[f[0]] = f[1:]
	}
	if len(deps) < 5 {
		t.Fatalf("go list found only %d packages; the check would prove nothing", len(deps))
	}
	for _, p := range []string{"object", "inventory", "bootstrap", "internal/gitremote", "flux", "handover", "desired", "chartrender", "fleet", "internal/resource"} {
		if _, ok := deps[module+"/"+p]; !ok {
			t.Fatalf("go list did not list %s; the rules for it would prove nothing", p)
		}
	}

	clientsetViaHelmOnly := helmVersionClientset(t)
	for pkg, ds := range deps {
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
		for _, d := range ds {
			// Only main parses the command line and talks to GitHub
			// Actions; everything below it takes plain values.
			if pkg != module && (strings.HasPrefix(d, "github.com/alecthomas/kong") || strings.HasPrefix(d, "github.com/sethvargo/go-githubactions")) {
				t.Errorf("%s depends on %s; only package main may", pkg, d)
			}
			// Test harnesses never end up in the binary (hack/ holds
			// developer tools such as the benchmark, which may use them).
			if !strings.Contains(rel, "testenv") && !strings.HasPrefix(rel, "hack/") && (strings.HasPrefix(d, module+"/internal/testenv") || strings.HasPrefix(d, "sigs.k8s.io/controller-runtime")) {
				t.Errorf("%s depends on %s, a test-only package", pkg, d)
			}
			// The full typed clientset links every API group's client
			// (~12 MB); the binary uses dynamic and narrow typed clients.
			if !strings.Contains(rel, "testenv") && !strings.HasPrefix(rel, "hack/") && d == "k8s.io/client-go/kubernetes" && !clientsetViaHelmOnly[pkg] {
				t.Errorf("%s depends on the full clientset k8s.io/client-go/kubernetes; use the dynamic client or one typed group (k8s.io/client-go/kubernetes/typed/...)", pkg)
			}
			// flux reads Flux objects without a cluster: the caller
			// reads the cluster and hands the data through flux.Lookup.
			if rel == "flux" && strings.HasPrefix(d, "k8s.io/client-go") {
				t.Errorf("flux depends on %s: it has no cluster client; the caller reads the cluster and hands flux.Vars a Lookup", d)
			}
			if !strings.HasPrefix(d, module+"/") {
				continue
			}
			drel := strings.TrimPrefix(d, module+"/")
			from, to := stageOf(rel), stageOf(drel)
			if from != "" && to != "" && from != to {
				t.Errorf("stage %s imports stage %s (%s -> %s); only packages outside the stages (reconcile, fleet, cli, check, propose) may combine them", from, to, pkg, d)
			}
			if (from != "" || rel == "object") && (topOf(drel) == "cli" || topOf(drel) == "reconcile" || topOf(drel) == "fleet") {
				t.Errorf("%s imports %s: lower layers must not import the orchestrators", pkg, d)
			}
			if rel == "object" {
				t.Errorf("object must stay a leaf package, but imports %s", d)
			}
			// desired is the pure step between render and the stages that
			// act on its result: reconcile, check and cli call it, and it
			// reads nothing but a render and one question about scopes.
			if rel == "desired" && to != "" && to != "render" {
				t.Errorf("desired imports stage %s (%s): it decides on a render alone, and the stages that act on it import desired, not the other way round", to, d)
			}
			if rel == "desired" && (topOf(drel) == "cli" || topOf(drel) == "reconcile" || topOf(drel) == "check") {
				t.Errorf("desired imports %s: reconcile and check call the step, it must not call them", d)
			}
			// The inventory is a noun beside object, not a stage: prune
			// and the orchestrators read and write it, and it knows
			// nothing of how objects are rendered, applied or deleted.
			if rel == "inventory" && drel != "object" {
				t.Errorf("inventory may import only object, but imports %s", d)
			}
			// handover reads and suspends Flux's Kustomization for the
			// orchestrators; it decides nothing about objects, so it needs
			// no stage, and the stages never learn about Flux from it.
			if rel == "handover" && drel != "object" {
				t.Errorf("handover may import only object, but imports %s", d)
			}
			if from != "" && drel == "handover" {
				t.Errorf("stage %s imports handover (%s): only the orchestrators call the Flux guard", from, pkg)
			}
			// gitremote is the one parse of a Git remote that source,
			// forge and cli share; a leaf, so neither stage reaches the
			// other through it.
			if rel == "internal/gitremote" {
				t.Errorf("internal/gitremote must stay a leaf package, but imports %s", d)
			}
			// flux reads Flux's objects as instructions, from values it
			// is handed; the orchestrators call it, never the reverse.
			if rel == "flux" && (to != "" || topOf(drel) == "cli" || topOf(drel) == "reconcile") {
				t.Errorf("flux imports %s: it reads Flux objects from plain values, and only the orchestrators combine it with the stages", d)
			}
			if rel == "flux" && drel != "object" {
				t.Errorf("flux may import only object among tidegate's packages, but imports %s", d)
			}
			// chartrender renders a chart it is handed, offline: charts
			// fetches it and fleet combines the two, so rendering never
			// reaches the network or a cluster through tidegate's code.
			if rel == "chartrender" && drel != "object" {
				t.Errorf("chartrender may import only object among tidegate's packages, but imports %s", d)
			}
			// internal/ holds the leaves several layers share (HTTP
			// clients, confined writes, YAML edits, the dynamic client
			// lookup): a stage reaching one must not reach another stage,
			// a noun or an orchestrator through it.
			if strings.HasPrefix(rel, "internal/") && !strings.HasPrefix(drel, "internal/") {
				t.Errorf("%s imports %s: internal packages import only other internal packages", pkg, d)
			}
			// bootstrap is what init writes: plain values in, file contents
			// out. The command layer reads the repository and delivers the
			// files; bootstrap never acts on a stage or a cluster.
			if rel == "bootstrap" && (to != "" || topOf(drel) == "cli" || topOf(drel) == "reconcile" || topOf(drel) == "propose") {
				t.Errorf("bootstrap imports %s: it renders files from plain values, and only cli combines it with the stages", d)
			}
		}
	}
}

func topOf(rel string) string {
	top, _, _ := strings.Cut(rel, "/")
	return top
}

func stageOf(rel string) string {
	top := topOf(rel)
	for _, s := range stages {
		if top == s {
			return s
		}
	}
	return ""
}
