package flux

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// full is a Kustomization with every field tidegate reads set to a value
// of the right type, for the wrong-type cases to spoil one at a time.
const full = `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  retryInterval: 1m
  timeout: 5m
  path: ./apps
  prune: true
  suspend: false
  force: false
  wait: true
  sourceRef: {kind: GitRepository, name: flux-system, namespace: flux-system, apiVersion: source.toolkit.fluxcd.io/v1}
  dependsOn: [{name: infra, namespace: flux-system, readyExpr: "true"}]
  targetNamespace: web
  serviceAccountName: deployer
  healthChecks: [{apiVersion: apps/v1, kind: Deployment, name: web, namespace: web}]
  kubeConfig: {secretRef: {name: spoke, key: value}}
  decryption: {provider: sops, secretRef: {name: sops-age}, serviceAccountName: kms}
  postBuild:
    substituteStrategy: Always
    substitute: {env: prod}
    substituteFrom: [{kind: ConfigMap, name: vars, optional: true}]
  namePrefix: p-
  nameSuffix: -s
  patches: [{patch: x}]
  patchesStrategicMerge: [{kind: X}]
  patchesJson6902: [{target: {kind: X}, patch: [{op: replace, path: /a, value: 1}]}]
  images: [{name: x, newTag: "1"}]
  components: [../c]
  ignoreMissingComponents: false
  deletionPolicy: Delete
  commonMetadata: {labels: {team: a}, annotations: {owner: b}}
`

// TestHostileWrongTypes puts a value of every wrong type into every field
// of a Kustomization, one at a time: each must be refused, naming the
// field, without a panic and without a unit.
func TestHostileWrongTypes(t *testing.T) {
	base := obj(t, full)
	if _, err := ParseKustomization(base, "f.yaml"); err != nil {
		t.Fatalf("the full object does not parse: %v", err)
	}
	wrong := []any{"text", int64(7), 1.5, true, []any{"x"}, map[string]any{"x": "y"}}
	cases := 0
	for _, p := range leafPaths(base.Object, nil) {
		field := fieldName(p)
		if field == "apiVersion" || field == "kind" || strings.HasPrefix(field, "spec.patchesStrategicMerge[0].") || strings.HasSuffix(field, ".value") {
			continue // TestHostileNotFlux; a strategic merge patch is any partial object
		}
		orig := lookupPath(base.Object, p)
		t.Run(field+"=null", func(t *testing.T) {
			// null reads as absent: a required field is missing, an
			// optional one is not set; either way a unit or an error.
			u := &unstructured.Unstructured{Object: deepCopy(base.Object)}
			setPath(u.Object, p, nil)
			k, err := ParseKustomization(u, "f.yaml")
			if (k == nil) == (err == nil) {
				t.Errorf("unit %v and error %v", k, err)
			}
		})
		for _, w := range wrong {
			if typeName(w) == typeName(orig) {
				continue
			}
			cases++
			t.Run(fmt.Sprintf("%s=%s", field, typeName(w)), func(t *testing.T) {
				u := &unstructured.Unstructured{Object: deepCopy(base.Object)}
				setPath(u.Object, p, w)
				k, err := ParseKustomization(u, "f.yaml")
				if k != nil {
					t.Fatalf("a unit from a spoiled object: %+v", k)
				}
				if err == nil {
					t.Fatal("no error")
				}
				// Spoiling a mapping names the mapping; spoiling a leaf
				// names the leaf.
				if !strings.Contains(err.Error(), field+": is "+typeName(w)) {
					t.Errorf("error does not say %s is %s:\n%v", field, typeName(w), err)
				}
				if !strings.HasPrefix(err.Error(), "Kustomization/flux-system/apps (f.yaml): ") && !strings.HasPrefix(field, "metadata") {
					t.Errorf("error does not start with the object and file:\n%v", err)
				}
			})
		}
	}
	if cases < 200 {
		t.Fatalf("only %d cases: the walk of the object missed fields", cases)
	}
}

// TestHostileWrongTypesSources does the same for GitRepository and
// OCIRepository.
func TestHostileWrongTypesSources(t *testing.T) {
	for _, src := range []struct {
		doc   string
		parse func(*unstructured.Unstructured, string) (any, error)
	}{
		{gitRepo("v1", "  ref: {branch: main, tag: v1, semver: '1', name: refs/heads/x, commit: c}\n  secretRef: {name: s}\n  timeout: 1m\n  ignore: x\n  provider: generic\n  recurseSubmodules: true\n  include: [{repository: {name: r}}]\n  verify: {mode: HEAD}\n  sparseCheckout: [a]\n  suspend: false\n"),
			func(u *unstructured.Unstructured, f string) (any, error) { return ParseGitRepository(u, f) }},
		{ociRepo("v1", "  ref: {tag: v1, semver: '1', digest: d, semverFilter: x}\n  layerSelector: {mediaType: m, operation: copy}\n  secretRef: {name: s}\n  certSecretRef: {name: c}\n  timeout: 1m\n  ignore: x\n  provider: generic\n  insecure: true\n  verify: {provider: cosign}\n"),
			func(u *unstructured.Unstructured, f string) (any, error) { return ParseOCIRepository(u, f) }},
	} {
		base := obj(t, src.doc)
		if _, err := src.parse(base, "f.yaml"); err != nil {
			t.Fatalf("the full object does not parse: %v", err)
		}
		for _, p := range leafPaths(base.Object, nil) {
			field := fieldName(p)
			if field == "apiVersion" || field == "kind" || strings.HasPrefix(field, "spec.verify.") {
				continue // verify's inside is not read
			}
			for _, w := range []any{int64(7), true, []any{"x"}, map[string]any{"x": "y"}, "text"} {
				if typeName(w) == typeName(lookupPath(base.Object, p)) {
					continue
				}
				t.Run(base.GetKind()+"/"+field+"="+typeName(w), func(t *testing.T) {
					u := &unstructured.Unstructured{Object: deepCopy(base.Object)}
					setPath(u.Object, p, w)
					_, err := src.parse(u, "f.yaml")
					if err == nil || !strings.Contains(err.Error(), field+": is "+typeName(w)) {
						t.Errorf("error does not say %s is %s: %v", field, typeName(w), err)
					}
				})
			}
		}
	}
}

func TestHostileNotFlux(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: 7\nkind: Kustomization\n",
		"apiVersion: [kustomize.toolkit.fluxcd.io/v1]\nkind: {a: b}\n",
		"kind: Kustomization\n",
		"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: 7\nspec: []\n",
		"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: [a], namespace: {b: c}}\nspec: {sourceRef: 1, dependsOn: {a: b}, healthChecks: [1, 2], postBuild: [], kubeConfig: x}\n",
	} {
		u := obj(t, doc)
		k, err := ParseKustomization(u, "f.yaml")
		if k != nil || err == nil {
			t.Errorf("%q parsed: %+v, %v", doc, k, err)
		}
		if _, err := ParseGitRepository(u, "f.yaml"); err == nil {
			t.Errorf("%q parsed as a GitRepository", doc)
		}
		IsConfig(u)
	}
	for _, fn := range []func() error{
		func() error { _, err := ParseKustomization(nil, "f.yaml"); return err },
		func() error { _, err := ParseKustomization(&unstructured.Unstructured{}, "f.yaml"); return err },
		func() error { _, err := ParseGitRepository(nil, "f.yaml"); return err },
		func() error { _, err := ParseOCIRepository(&unstructured.Unstructured{}, "f.yaml"); return err },
	} {
		if err := fn(); err == nil {
			t.Error("no error for a missing object")
		}
	}
}

// TestHostileNames puts control characters, quotes and slashes into every
// name a Kustomization carries: they are refused, echoed quoted, and no
// raw control character reaches the error.
func TestHostileNames(t *testing.T) {
	for _, tc := range []struct {
		name, field, value, want string
	}{
		{"escape in name", "metadata.name", "a\x1b[2Jb", `"a\x1b[2Jb"`},
		{"newline in namespace", "metadata.namespace", "ns\nINFO forged line", `"ns\nINFO forged line"`},
		{"carriage return in a dependency", "spec.dependsOn[0].name", "infra\r", `"infra\r"`},
		{"slash in sourceRef name", "spec.sourceRef.name", "../../x", `"../../x"`},
		{"quote in secret name", "spec.kubeConfig.secretRef.name", `a"b`, `"a\"b"`},
		{"bell in substituteFrom", "spec.postBuild.substituteFrom[0].name", "v\a", `"v\a"`},
		{"NUL in targetNamespace", "spec.targetNamespace", "web\x00", `"web\x00"`},
		{"right-to-left override in serviceAccountName", "spec.serviceAccountName", "sa\u202egnp.exe", `"sa\u202egnp.exe"`},
		{"NUL in path", "spec.path", "./apps\x00/../..", `"./apps\x00/../.."`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := obj(t, full)
			setPath(u.Object, parseField(tc.field), tc.value)
			k, err := ParseKustomization(u, "clusters/prod/apps.yaml")
			if k != nil || err == nil {
				t.Fatalf("parsed: %+v", k)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.field+": "+tc.want) {
				t.Errorf("error does not echo %s quoted as %s:\n%s", tc.field, tc.want, msg)
			}
			for _, r := range msg {
				if r != '\n' && (unicode.IsControl(r) || r == '\u202e') {
					t.Errorf("error holds a raw control character %U:\n%q", r, msg)
				}
			}
		})
	}
	t.Run("file name", func(t *testing.T) {
		_, err := ParseKustomization(obj(t, ks("v1", "  wait: 1\n")), "apps\x1b[31m.yaml")
		if err == nil || !strings.HasPrefix(err.Error(), `Kustomization/flux-system/apps ("apps\x1b[31m.yaml"): `) {
			t.Errorf("file not quoted: %q", err)
		}
	})
	t.Run("huge name", func(t *testing.T) {
		u := obj(t, full)
		setPath(u.Object, parseField("metadata.name"), strings.Repeat("\x01", 1<<20))
		_, err := ParseKustomization(u, "f.yaml")
		if err == nil || len(err.Error()) > 8<<10 {
			t.Errorf("error of %d bytes for a 1 MiB name", len(fmt.Sprint(err)))
		}
	})
}

// TestHostilePaths refuses every spec.path that leaves the source root.
func TestHostilePaths(t *testing.T) {
	for _, p := range []string{"..", "../", "../other-repo", "./..", "apps/../../..", "./apps/../../../etc", "/../etc", "a/b/../../../c", "..\u0000"} {
		t.Run(strconv.Quote(p), func(t *testing.T) {
			k, err := ParseKustomization(obj(t, ks("v1", "  path: "+strconv.Quote(p)+"\n")), "clusters/prod/apps.yaml")
			if k != nil {
				t.Fatalf("parsed with Path %q", k.Path)
			}
			wantErr(t, err, "Kustomization/flux-system/apps (clusters/prod/apps.yaml): spec.path: ")
			if !strings.Contains(err.Error(), "leaves the root of the source") && !strings.Contains(err.Error(), "control character") {
				t.Errorf("error does not say why: %v", err)
			}
		})
	}
	// Dots that stay inside are fine, and cleaned.
	for p, want := range map[string]string{"./a/../b": "b", "...": "...", "..a": "..a", "a/..": ".", "/": "."} {
		k, err := ParseKustomization(obj(t, ks("v1", "  path: "+strconv.Quote(p)+"\n")), "f.yaml")
		if err != nil || k.Path != want {
			t.Errorf("path %q = %v, %v; want %q", p, k, err, want)
		}
	}
}

// TestHostileDependsOn feeds huge dependency lists and graphs: they are
// read in linear time, and errors about them stay short.
func TestHostileDependsOn(t *testing.T) {
	const n = 100_000
	deps := make([]any, n)
	for i := range deps {
		deps[i] = map[string]any{"name": "dep-" + strconv.Itoa(i)}
	}
	u := obj(t, ks("v1", ""))
	u.Object["spec"].(map[string]any)["dependsOn"] = deps
	start := time.Now()
	k, err := ParseKustomization(u, "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(k.DependsOn) != n {
		t.Fatalf("%d dependencies read, want %d", len(k.DependsOn), n)
	}
	_, err = Order([]*Kustomization{k})
	if err == nil {
		t.Fatal("no error for 100,000 missing dependencies")
	}
	if lines := strings.Count(err.Error(), "\n") + 1; lines > maxNamed+1 || !strings.Contains(err.Error(), fmt.Sprintf("and %d more missing dependencies", n-maxNamed)) {
		t.Errorf("error of %d lines for %d missing dependencies:\n%.2000s", lines, n, err)
	}

	t.Run("many wrong entries", func(t *testing.T) {
		bad := make([]any, n)
		for i := range bad {
			bad[i] = int64(i)
		}
		u := obj(t, ks("v1", ""))
		u.Object["spec"].(map[string]any)["dependsOn"] = bad
		_, err := ParseKustomization(u, "f.yaml")
		if err == nil || strings.Count(err.Error(), "\n") > maxProblems || !strings.Contains(err.Error(), fmt.Sprintf("and %d more problems", n-maxProblems)) {
			t.Errorf("error for %d wrong entries: %.2000v", n, err)
		}
	})

	t.Run("long chain and long cycle", func(t *testing.T) {
		const m = 20_000
		chain := make([]*Kustomization, m)
		for i := range chain {
			chain[i] = unit("f", fmt.Sprintf("u%05d", i))
			if i > 0 {
				chain[i].DependsOn = []Ref{chain[i-1].Ref()}
			}
		}
		levels, err := Order(chain)
		if err != nil || len(levels) != m {
			t.Fatalf("chain of %d: %d levels, %v", m, len(levels), err)
		}
		if got := Dependents(levels, chain[0].Ref()); len(got) != m-1 {
			t.Errorf("Dependents of the chain's head = %d, want %d", len(got), m-1)
		}
		chain[0].DependsOn = []Ref{chain[m-1].Ref()}
		_, err = Order(chain)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("… %d more", m-maxNamed)) || len(err.Error()) > 4<<10 {
			t.Errorf("cycle of %d: %.2000v", m, err)
		}
	})
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %s: not linear", d)
	}
}

// TestHostileSecretValues checks that what a Secret holds reaches no error.
func TestHostileSecretValues(t *testing.T) {
	const canary = "CANARY-7f3a-secret-value"
	k := &Kustomization{Namespace: "flux-system", Name: "apps", SubstituteFrom: []SubstituteRef{{Kind: "Secret", Name: "s"}}}
	for _, data := range []map[string]string{
		{"bad key!": canary},
		{canary + "-as-key with space": "x"},
	} {
		_, _, err := Vars(context.Background(), k, &objects{data: map[string]map[string]string{"Secret/flux-system/s": data}})
		if err == nil {
			t.Fatal("no error for an invalid variable name")
		}
		if _, isValue := data["bad key!"]; isValue && strings.Contains(err.Error(), canary) {
			t.Errorf("error shows a Secret's value: %v", err)
		}
	}
	_, _, err := DecryptionKeys(map[string][]byte{"k.agekey": []byte("AGE-SECRET-KEY-1" + canary)})
	if err == nil || strings.Contains(err.Error(), canary) {
		t.Errorf("DecryptionKeys error = %v", err)
	}
	_, err = KubeConfig(map[string][]byte{"other": []byte(canary)}, "")
	if err == nil || strings.Contains(err.Error(), canary) {
		t.Errorf("KubeConfig error = %v", err)
	}
	_, err = ParseGitRepository(obj(t, gitRepo("v1", "  url: gopher://u:"+canary+"@host/x\n")), "f.yaml")
	if err == nil || strings.Contains(err.Error(), canary) {
		t.Errorf("GitRepository error = %v", err)
	}
}

// leafPaths lists the path of every value in m, mappings and lists
// included, list items by index.
func leafPaths(v any, prefix []any) [][]any {
	var out [][]any
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			p := append(append([]any{}, prefix...), k)
			out = append(out, p)
			out = append(out, leafPaths(c, p)...)
		}
	case []any:
		for i, c := range t {
			p := append(append([]any{}, prefix...), i)
			out = append(out, p)
			out = append(out, leafPaths(c, p)...)
		}
	}
	return out
}

func fieldName(p []any) string {
	var b strings.Builder
	for _, s := range p {
		switch s := s.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", s)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s)
		}
	}
	return b.String()
}

// parseField is the inverse of fieldName.
func parseField(f string) []any {
	var p []any
	for _, part := range strings.Split(f, ".") {
		name, idx, ok := strings.Cut(part, "[")
		p = append(p, name)
		if ok {
			i, _ := strconv.Atoi(strings.TrimSuffix(idx, "]"))
			p = append(p, i)
		}
	}
	return p
}

func lookupPath(v any, p []any) any {
	for _, s := range p {
		switch s := s.(type) {
		case int:
			v = v.([]any)[s]
		case string:
			v = v.(map[string]any)[s]
		}
	}
	return v
}

func setPath(m map[string]any, p []any, val any) {
	parent := lookupPath(m, p[:len(p)-1])
	switch s := p[len(p)-1].(type) {
	case int:
		parent.([]any)[s] = val
	case string:
		parent.(map[string]any)[s] = val
	}
}

func deepCopy(v map[string]any) map[string]any {
	return (&unstructured.Unstructured{Object: v}).DeepCopy().Object
}
