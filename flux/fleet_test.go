package flux

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestFleetLayout reads a repository laid out as flux bootstrap lays one
// out (testdata/fleet) the way Flux mode reads it: Flux's installation is
// configuration, the Kustomizations are units in dependency order, their
// sources are parsed, and the bootstrap Kustomization is the run itself.
func TestFleetLayout(t *testing.T) {
	var (
		units    []*Kustomization
		config   = map[string]string{}
		workload []string
		gits     = map[string]*GitRepository{}
		ocis     = map[string]*OCIRepository{}
	)
	for _, fo := range readTree(t, "testdata/fleet") {
		id := fo.u.GetKind() + "/" + fo.u.GetNamespace() + "/" + fo.u.GetName()
		reason, isConfig := IsConfig(fo.u)
		if isConfig {
			config[id] = reason
		} else {
			workload = append(workload, id)
		}
		switch {
		case IsKustomization(fo.u):
			k, err := ParseKustomization(fo.u, fo.file)
			if err != nil {
				t.Fatal(err)
			}
			units = append(units, k)
		case IsGitRepository(fo.u):
			g, err := ParseGitRepository(fo.u, fo.file)
			if err != nil {
				t.Fatal(err)
			}
			gits[g.Name] = g
		case IsOCIRepository(fo.u):
			o, err := ParseOCIRepository(fo.u, fo.file)
			if err != nil {
				t.Fatal(err)
			}
			ocis[o.Name] = o
		}
	}

	if diff := cmp.Diff([]string{"ConfigMap/flux-system/cluster-vars"}, workload); diff != "" {
		t.Errorf("objects applied as workload (-want +got):\n%s", diff)
	}
	for _, id := range []string{
		"Namespace//flux-system",
		"CustomResourceDefinition//kustomizations.kustomize.toolkit.fluxcd.io",
		"CustomResourceDefinition//gitrepositories.source.toolkit.fluxcd.io",
		"ServiceAccount/flux-system/kustomize-controller",
		"ClusterRole//crd-controller-flux-system",
		"ClusterRoleBinding//cluster-reconciler-flux-system",
		"NetworkPolicy/flux-system/allow-egress",
		"Service/flux-system/source-controller",
		"Deployment/flux-system/kustomize-controller",
		"GitRepository/flux-system/flux-system",
		"Kustomization/flux-system/flux-system",
		"Kustomization/team-a/team-a",
		"OCIRepository/flux-system/edge-manifests",
	} {
		if config[id] == "" {
			t.Errorf("%s is not recognised as Flux configuration", id)
		}
	}
	if got := config["Kustomization/flux-system/apps"]; got != "Flux configuration, read by tidegate" {
		t.Errorf("reason for a Kustomization = %q", got)
	}

	levels, err := Order(units)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"Kustomization/flux-system/flux-system", "Kustomization/flux-system/infra-controllers"},
		{"Kustomization/flux-system/infra-configs", "Kustomization/team-a/team-a"},
		{"Kustomization/flux-system/apps"},
		{"Kustomization/flux-system/edge"},
	}
	if diff := cmp.Diff(want, names(levels)); diff != "" {
		t.Errorf("levels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Ref{
		{Kind: "Kustomization", Namespace: "flux-system", Name: "apps"},
		{Kind: "Kustomization", Namespace: "flux-system", Name: "edge"},
	}, Dependents(levels, Ref{Kind: "Kustomization", Namespace: "flux-system", Name: "infra-configs"})); diff != "" {
		t.Errorf("dependents of infra-configs (-want +got):\n%s", diff)
	}

	run := Ref{Kind: "GitRepository", Namespace: "flux-system", Name: "flux-system"}
	var self []string
	for _, u := range units {
		if SelfRef(u, run, "clusters/production") {
			self = append(self, u.String())
		}
	}
	if diff := cmp.Diff([]string{"Kustomization/flux-system/flux-system"}, self); diff != "" {
		t.Errorf("SelfRef (-want +got):\n%s", diff)
	}

	byName := map[string]*Kustomization{}
	for _, u := range units {
		byName[u.Name] = u
	}
	cfg := byName["infra-configs"]
	if diff := cmp.Diff([]SubstituteRef{{Kind: "ConfigMap", Name: "cluster-vars"}, {Kind: "Secret", Name: "cluster-secrets", Optional: true}}, cfg.SubstituteFrom); diff != "" {
		t.Errorf("infra-configs substituteFrom (-want +got):\n%s", diff)
	}
	if cfg.Decryption == nil || cfg.Decryption.SecretName != "sops-age" || cfg.File != "clusters/production/infrastructure.yaml" {
		t.Errorf("infra-configs = %+v", cfg)
	}
	if c := byName["infra-controllers"]; c.Timeout != 5*time.Minute || !c.Wait || c.Path != "infrastructure/controllers" {
		t.Errorf("infra-controllers = %+v", c)
	}
	for _, u := range units {
		if u.Unsupported() != "" {
			t.Errorf("%s: %s", u, u.Unsupported())
		}
	}
	if e := byName["edge"]; !e.Suspend || e.KubeConfig == nil || *e.KubeConfig != (SecretKeyRef{Name: "edge-kubeconfig", Key: "kubeconfig"}) || e.Path != "." || e.SourceRef.Kind != "OCIRepository" {
		t.Errorf("edge = %+v", e)
	}
	if g := gits["team-a"]; g == nil || g.Ref != (GitRef{Tag: "v1.2.0"}) || !g.IgnoreSet || g.Timeout != time.Minute {
		t.Errorf("GitRepository team-a = %+v", g)
	}
	if o := ocis["edge-manifests"]; o == nil || o.Ref != (OCIRef{SemVer: ">=1.0.0"}) || o.Operation != "extract" {
		t.Errorf("OCIRepository edge-manifests = %+v", o)
	}
}

func names(levels [][]*Kustomization) [][]string {
	var out [][]string
	for _, l := range levels {
		var n []string
		for _, u := range l {
			n = append(n, u.String())
		}
		out = append(out, n)
	}
	return out
}
