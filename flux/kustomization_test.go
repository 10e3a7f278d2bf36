package flux

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// ks is a Kustomization document with the given spec lines added under a
// minimal valid spec.
func ks(version string, spec string) string {
	return `apiVersion: kustomize.toolkit.fluxcd.io/` + version + `
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
` + spec
}

func TestParseKustomizationFields(t *testing.T) {
	base := Kustomization{
		Namespace: "flux-system", Name: "apps", File: "clusters/prod/apps.yaml",
		Path:      ".",
		SourceRef: Ref{Kind: "GitRepository", Namespace: "flux-system", Name: "flux-system"},
		Prune:     true,
		Interval:  10 * time.Minute,
		Timeout:   10*time.Minute - 30*time.Second,

		SubstituteStrategy: "WithVariables",
		DeletionPolicy:     "MirrorPrune",
	}
	for _, tc := range []struct {
		name string
		spec string
		edit func(k *Kustomization)
	}{
		{"defaults", "", func(*Kustomization) {}},
		{"path dot slash", "  path: ./\n", func(*Kustomization) {}},
		{"path cleaned", "  path: ./apps//production/./\n", func(k *Kustomization) { k.Path = "apps/production" }},
		{"path absolute is under the root", "  path: /apps\n", func(k *Kustomization) { k.Path = "apps" }},
		{"path with inner dotdot", "  path: ./apps/../infra\n", func(k *Kustomization) { k.Path = "infra" }},
		{"sourceRef namespace", "  sourceRef: {kind: OCIRepository, name: m, namespace: other, apiVersion: source.toolkit.fluxcd.io/v1}\n", func(k *Kustomization) {
			k.SourceRef = Ref{Kind: "OCIRepository", Namespace: "other", Name: "m", APIVersion: "source.toolkit.fluxcd.io/v1"}
		}},
		{"sourceRef bucket parses", "  sourceRef: {kind: Bucket, name: b}\n", func(k *Kustomization) {
			k.SourceRef = Ref{Kind: "Bucket", Namespace: "flux-system", Name: "b"}
		}},
		{"dependsOn defaults and dedupes", "  dependsOn:\n  - name: infra\n  - name: infra\n    namespace: flux-system\n  - name: db\n    namespace: data\n    readyExpr: 'dep.status.x'\n", func(k *Kustomization) {
			k.DependsOn = []Ref{{Kind: "Kustomization", Namespace: "flux-system", Name: "infra"}, {Kind: "Kustomization", Namespace: "data", Name: "db"}}
		}},
		{"booleans", "  suspend: true\n  force: true\n  wait: true\n", func(k *Kustomization) { k.Suspend, k.Force, k.Wait = true, true, true }},
		{"prune false", "  prune: false\n", func(k *Kustomization) { k.Prune = false }},
		{"timeout", "  timeout: 2m30s\n", func(k *Kustomization) { k.Timeout = 150 * time.Second }},
		{"short interval gives 30s", "  interval: 45s\n", func(k *Kustomization) { k.Interval, k.Timeout = 45*time.Second, 30*time.Second }},
		{"short timeout gives 30s", "  timeout: 5s\n", func(k *Kustomization) { k.Timeout = 30 * time.Second }},
		{"fractional hours", "  interval: 1.5h\n", func(k *Kustomization) { k.Interval, k.Timeout = 90*time.Minute, 90*time.Minute-30*time.Second }},
		{"targetNamespace and serviceAccountName", "  targetNamespace: web\n  serviceAccountName: team-a\n", func(k *Kustomization) { k.TargetNamespace, k.ServiceAccountName = "web", "team-a" }},
		{"healthChecks", "  healthChecks:\n  - {apiVersion: apps/v1, kind: Deployment, name: web, namespace: web}\n  - {kind: StatefulSet, name: redis}\n", func(k *Kustomization) {
			k.HealthChecks = []Ref{{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "web", Name: "web"}, {APIVersion: "apps/v1", Kind: "StatefulSet", Name: "redis"}}
		}},
		{"kubeConfig", "  kubeConfig:\n    secretRef: {name: spoke, key: config}\n", func(k *Kustomization) { k.KubeConfig = &SecretKeyRef{Name: "spoke", Key: "config"} }},
		{"kubeConfig default key", "  kubeConfig:\n    secretRef: {name: spoke}\n", func(k *Kustomization) { k.KubeConfig = &SecretKeyRef{Name: "spoke"} }},
		{"decryption", "  decryption: {provider: sops, secretRef: {name: sops-age}}\n", func(k *Kustomization) { k.Decryption = &Decryption{Provider: "sops", SecretName: "sops-age"} }},
		{"decryption with run keys", "  decryption: {provider: sops}\n", func(k *Kustomization) { k.Decryption = &Decryption{Provider: "sops"} }},
		{"postBuild", "  postBuild:\n    substitute: {a: '1', b: x}\n    substituteFrom:\n    - {kind: ConfigMap, name: vars}\n    - {kind: Secret, name: secret-vars, optional: true}\n", func(k *Kustomization) {
			k.HasPostBuild = true
			k.Substitute = map[string]string{"a": "1", "b": "x"}
			k.SubstituteFrom = []SubstituteRef{{Kind: "ConfigMap", Name: "vars"}, {Kind: "Secret", Name: "secret-vars", Optional: true}}
		}},
		{"substituteStrategy and deletionPolicy", "  postBuild: {substituteStrategy: Always}\n  deletionPolicy: Orphan\n", func(k *Kustomization) {
			k.HasPostBuild, k.SubstituteStrategy, k.DeletionPolicy = true, "Always", "Orphan"
		}},
		{"empty postBuild", "  postBuild: {}\n", func(k *Kustomization) { k.HasPostBuild = true; k.Substitute = nil }},
		{"build fields", "  namePrefix: p-\n  nameSuffix: -s\n  components: [../c]\n  images: [{name: x, newTag: '2'}]\n  patches: [{patch: 'x'}]\n  commonMetadata: {labels: {a: b}}\n", func(*Kustomization) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := obj(t, ks("v1", tc.spec))
			got, err := ParseKustomization(u, "clusters/prod/apps.yaml")
			if err != nil {
				t.Fatal(err)
			}
			want := base
			tc.edit(&want)
			if got.Object != u {
				t.Error("Object is not the parsed object")
			}
			if diff := cmp.Diff(&want, got, cmpopts.IgnoreFields(Kustomization{}, "Object")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseKustomizationVersions(t *testing.T) {
	spec := "  path: ./apps\n  dependsOn: [{name: infra}]\n  decryption: {provider: sops, secretRef: {name: k}}\n  kubeConfig: {secretRef: {name: spoke}}\n  healthChecks: [{kind: Deployment, name: w, namespace: w}]\n"
	for _, v := range []string{"v1", "v1beta2", "v1beta1"} {
		t.Run(v, func(t *testing.T) {
			u := obj(t, ks(v, spec))
			if !IsKustomization(u) {
				t.Fatal("IsKustomization = false")
			}
			k, err := ParseKustomization(u, "f.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if k.Path != "apps" || len(k.DependsOn) != 1 || k.Decryption.SecretName != "k" || k.KubeConfig.Name != "spoke" || len(k.HealthChecks) != 1 {
				t.Errorf("%s read as %+v", v, k)
			}
		})
	}
	t.Run("v1beta1 patches fields", func(t *testing.T) {
		_, err := ParseKustomization(obj(t, ks("v1beta1", "  validation: client\n  patchesStrategicMerge: [{kind: X}]\n  patchesJson6902: [{target: {kind: X}}]\n")), "f.yaml")
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown version", func(t *testing.T) {
		u := obj(t, ks("v2", ""))
		if !IsKustomization(u) {
			t.Fatal("IsKustomization = false for an unknown version: the object would be applied as a plain object")
		}
		_, err := ParseKustomization(u, "f.yaml")
		wantErr(t, err, "Kustomization/flux-system/apps (f.yaml): apiVersion: ", "kustomize.toolkit.fluxcd.io/v2", "v1, v1beta2, v1beta1")
	})
	t.Run("kustomize's own Kustomization", func(t *testing.T) {
		u := obj(t, "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [a.yaml]\n")
		if IsKustomization(u) {
			t.Error("IsKustomization = true for kustomize.config.k8s.io")
		}
		_, err := ParseKustomization(u, "k/kustomization.yaml")
		wantErr(t, err, "is not a Flux Kustomization")
	})
}

func TestParseKustomizationErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want []string
	}{
		{"no spec", "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: a, namespace: ns}\n", []string{"Kustomization/ns/a (f.yaml): spec: is missing"}},
		{"null spec", "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: a, namespace: ns}\nspec:\n", []string{"Kustomization/ns/a (f.yaml): spec: is missing"}},
		{"no namespace", "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: a}\nspec: {interval: 1m, sourceRef: {kind: GitRepository, name: x}}\n", []string{"Kustomization/a (f.yaml): metadata.namespace: is missing", "flux-system"}},
		{"no name", "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {namespace: n}\nspec: {interval: 1m, sourceRef: {kind: GitRepository, name: x}}\n", []string{`metadata.name: is missing`}},
		{"no interval", strings.Replace(ks("v1", ""), "  interval: 10m\n", "", 1), []string{"spec.interval: is missing", "interval: 10m"}},
		{"no sourceRef", strings.Replace(ks("v1", ""), "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n", "", 1), []string{"spec.sourceRef: is missing"}},
		{"sourceRef kind", ks("v1", "  sourceRef: {kind: HelmRepository, name: x}\n"), []string{"spec.sourceRef.kind: is HelmRepository", "GitRepository, OCIRepository"}},
		{"sourceRef no kind", ks("v1", "  sourceRef: {name: x}\n"), []string{"spec.sourceRef.kind: is missing"}},
		{"sourceRef no name", ks("v1", "  sourceRef: {kind: GitRepository}\n"), []string{"spec.sourceRef.name: is missing: name the GitRepository"}},
		{"bad duration", ks("v1", "  timeout: 5 minutes\n"), []string{`spec.timeout: "5 minutes" is not a duration`, "1h30m"}},
		{"days are not a Flux duration", ks("v1", "  interval: 1d\n"), []string{`spec.interval: 1d is not a duration`}},
		{"negative duration", ks("v1", "  retryInterval: -1m\n"), []string{`spec.retryInterval: -1m is not a duration`}},
		{"dependsOn without name", ks("v1", "  dependsOn: [{namespace: x}]\n"), []string{"spec.dependsOn[0].name: is missing"}},
		{"dependsOn bad namespace", ks("v1", "  dependsOn: [{name: a, namespace: Upper}]\n"), []string{"spec.dependsOn[0].namespace: Upper is not a valid namespace name"}},
		{"targetNamespace", ks("v1", "  targetNamespace: my_ns\n"), []string{"spec.targetNamespace: my_ns is not a valid namespace name"}},
		{"healthCheck without kind", ks("v1", "  healthChecks: [{name: a}]\n"), []string{"spec.healthChecks[0].kind: is missing"}},
		{"healthCheck apiVersion", ks("v1", "  healthChecks: [{apiVersion: a/b/c, kind: X, name: a}]\n"), []string{"spec.healthChecks[0].apiVersion: a/b/c is not an API version"}},
		{"kubeConfig without secretRef", ks("v1", "  kubeConfig: {}\n"), []string{"spec.kubeConfig.secretRef: is missing", "remove spec.kubeConfig"}},
		{"kubeConfig configMapRef", ks("v1", "  kubeConfig: {configMapRef: {name: c}}\n"), []string{"spec.kubeConfig.configMapRef: is not supported"}},
		{"kubeConfig secret without name", ks("v1", "  kubeConfig: {secretRef: {key: x}}\n"), []string{"spec.kubeConfig.secretRef.name: is missing"}},
		{"decryption provider", ks("v1", "  decryption: {provider: vault}\n"), []string{"spec.decryption.provider: is vault", "sops"}},
		{"decryption no provider", ks("v1", "  decryption: {secretRef: {name: k}}\n"), []string{"spec.decryption.provider: is missing", "provider: sops"}},
		{"substituteFrom kind", ks("v1", "  postBuild: {substituteFrom: [{kind: Opaque, name: x}]}\n"), []string{"spec.postBuild.substituteFrom[0].kind: is Opaque", "ConfigMap or a Secret"}},
		{"substituteFrom no name", ks("v1", "  postBuild: {substituteFrom: [{kind: Secret}]}\n"), []string{"spec.postBuild.substituteFrom[0].name: is missing: name the Secret"}},
		{"substituteStrategy", ks("v1", "  postBuild: {substituteStrategy: Never}\n"), []string{"spec.postBuild.substituteStrategy: is Never"}},
		{"deletionPolicy", ks("v1", "  deletionPolicy: Keep\n"), []string{"spec.deletionPolicy: is Keep"}},
		{"two problems at once", ks("v1", "  wait: yes-please\n  timeout: soon\n"), []string{"spec.wait: is a string, want true or false", `spec.timeout: soon is not a duration`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKustomization(obj(t, tc.doc), "f.yaml")
			if k != nil {
				t.Errorf("returned a unit with an error: %+v", k)
			}
			wantErr(t, err, tc.want...)
			var fe *Error
			if !errors.As(err, &fe) || fe.File != "f.yaml" {
				t.Errorf("error is not an *Error naming the file: %#v", err)
			}
		})
	}
}

func TestSelfRef(t *testing.T) {
	run := Ref{Kind: "GitRepository", Namespace: "flux-system", Name: "flux-system", APIVersion: "source.toolkit.fluxcd.io/v1"}
	k := &Kustomization{Namespace: "flux-system", Name: "flux-system", Path: "clusters/production", SourceRef: Ref{Kind: "GitRepository", Namespace: "flux-system", Name: "flux-system"}}
	for _, tc := range []struct {
		name    string
		k       *Kustomization
		source  Ref
		runPath string
		want    bool
	}{
		{"bootstrap", k, run, "clusters/production", true},
		{"run path with dot slash and trailing slash", k, run, "./clusters/production/", true},
		{"another cluster", k, run, "clusters/staging", false},
		{"a sub-directory", k, run, "clusters/production/apps", false},
		{"the parent", k, run, "clusters", false},
		{"another source", k, Ref{Kind: "GitRepository", Namespace: "flux-system", Name: "other"}, "clusters/production", false},
		{"another kind", k, Ref{Kind: "OCIRepository", Namespace: "flux-system", Name: "flux-system"}, "clusters/production", false},
		{"another namespace", k, Ref{Kind: "GitRepository", Namespace: "default", Name: "flux-system"}, "clusters/production", false},
		{"escaping run path", k, run, "../clusters/production", false},
		{"root", &Kustomization{Path: ".", SourceRef: run}, run, "", true},
		{"nil", nil, run, ".", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SelfRef(tc.k, tc.source, tc.runPath); got != tc.want {
				t.Errorf("SelfRef = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRefString(t *testing.T) {
	for _, tc := range []struct {
		r    Ref
		want string
	}{
		{Ref{Kind: "Kustomization", Namespace: "flux-system", Name: "apps"}, "Kustomization/flux-system/apps"},
		{Ref{Kind: "Namespace", Name: "web"}, "Namespace/web"},
		{Ref{Kind: "Kustomization", Namespace: "n", Name: "a\x1b[31mred"}, `Kustomization/n/"a\x1b[31mred"`},
		{Ref{Kind: "Kustomization", Namespace: "n", Name: "a/b"}, `Kustomization/n/"a/b"`},
		{Ref{Kind: "Kustomization", Namespace: "n", Name: ""}, `Kustomization/n/""`},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%#v.String() = %s, want %s", tc.r, got, tc.want)
		}
	}
}
