package chartrender_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tidegate/tidegate/chartrender"
)

// labelAll is a post-renderer that labels every object it is given and
// records which it saw.
func labelAll(seen *[]string) chartrender.PostRenderer {
	return func(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
		for _, o := range objs {
			*seen = append(*seen, o.GetKind()+"/"+o.GetName())
			l := o.GetLabels()
			if l == nil {
				l = map[string]string{}
			}
			l["post-rendered"] = "true"
			o.SetLabels(l)
		}
		return objs, nil
	}
}

// TestRenderPostRender: the post-renderer sees the templates' objects
// (hooks too under combined and separate, not under nohooks; never the
// crds/ files), its changes are what Render returns, each object keeps
// its template file, and the file annotation it travels with is gone.
func TestRenderPostRender(t *testing.T) {
	ch := load(t, "app")
	for _, c := range []struct {
		strategy     chartrender.PostRenderStrategy
		hooksPatched bool
		calls        int
	}{
		{"", true, 1},
		{chartrender.PostRenderCombined, true, 1},
		{chartrender.PostRenderSeparate, true, 2},
		{chartrender.PostRenderNoHooks, false, 1},
	} {
		t.Run(string(c.strategy)+"-", func(t *testing.T) {
			var seen []string
			calls := 0
			label := labelAll(&seen)
			pr := func(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
				calls++
				return label(objs)
			}
			plain, err := chartrender.Render(context.Background(), ch, nil, chartrender.Options{ReleaseName: "rel", Namespace: "apps", Capabilities: chartrender.Capabilities{KubeVersion: kube}})
			if err != nil {
				t.Fatal(err)
			}
			res, err := chartrender.Render(context.Background(), ch, nil, chartrender.Options{ReleaseName: "rel", Namespace: "apps", Capabilities: chartrender.Capabilities{KubeVersion: kube}, PostRender: pr, PostRenderStrategy: c.strategy})
			if err != nil {
				t.Fatal(err)
			}
			if calls != c.calls {
				t.Errorf("%d calls, want %d", calls, c.calls)
			}
			if len(res.Objects) != len(plain.Objects) || len(res.Hooks) != len(plain.Hooks) || len(res.CRDs) != len(plain.CRDs) || len(res.CRDs) == 0 {
				t.Fatalf("objects %d/%d hooks %d/%d crds %d/%d", len(res.Objects), len(plain.Objects), len(res.Hooks), len(plain.Hooks), len(res.CRDs), len(plain.CRDs))
			}
			for i, o := range res.Objects {
				if o.Object.GetLabels()["post-rendered"] != "true" {
					t.Errorf("%s not post-rendered", o.Object.GetName())
				}
				if o.Source != plain.Objects[i].Source {
					t.Errorf("%s: source %s, want %s", o.Object.GetName(), o.Source, plain.Objects[i].Source)
				}
				if _, ok := o.Object.GetAnnotations()["postrenderer.helm.sh/postrender-filename"]; ok {
					t.Errorf("%s keeps the file annotation", o.Object.GetName())
				}
			}
			for _, h := range res.Hooks {
				if got := h.Object.Object.GetLabels()["post-rendered"] == "true"; got != c.hooksPatched {
					t.Errorf("hook %s post-rendered %v, want %v", h.Object.Object.GetName(), got, c.hooksPatched)
				}
				if len(h.Events) == 0 {
					t.Errorf("hook %s lost its events", h.Object.Object.GetName())
				}
			}
			for _, crd := range res.CRDs {
				if crd.Object.GetLabels()["post-rendered"] != "" {
					t.Errorf("crds/ file %s was post-rendered", crd.Source)
				}
			}
			for _, s := range seen {
				if strings.HasPrefix(s, "CustomResourceDefinition/") {
					t.Errorf("the post-renderer saw %s", s)
				}
			}
		})
	}
	t.Run("an error names the chart", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := chartrender.Render(context.Background(), ch, nil, chartrender.Options{ReleaseName: "rel", Namespace: "apps", Capabilities: chartrender.Capabilities{KubeVersion: kube}, PostRender: func([]*unstructured.Unstructured) ([]*unstructured.Unstructured, error) { return nil, boom }})
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "chart app") || !strings.Contains(err.Error(), "post-render") {
			t.Errorf("error %v", err)
		}
	})
}

// TestWithValuesFiles: the files merged in order replace the chart's
// values; values.yaml counts where it is listed; the chart is unchanged.
func TestWithValuesFiles(t *testing.T) {
	ch := load(t, "app")
	before := ch.Values["greeting"]
	got, err := chartrender.WithValuesFiles(ch, []chartrender.ValuesFile{
		{Name: "values.yaml"},
		{Name: "prod.yaml", Data: []byte("greeting: prod\nimage:\n  tag: \"9.9.9\"\n")},
		{Name: "last.yaml", Data: []byte("replicas: 5\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	img := got.Values["image"].(map[string]any)
	if got.Values["greeting"] != "prod" || img["tag"] != "9.9.9" || img["repository"] != "ghcr.io/example/app" || got.Values["replicas"] != float64(5) {
		t.Errorf("merged values %v", got.Values)
	}
	if ch.Values["greeting"] != before || ch.Values["image"].(map[string]any)["tag"] != "4.5.0" {
		t.Errorf("the chart was changed: %v", ch.Values)
	}
	only, err := chartrender.WithValuesFiles(ch, []chartrender.ValuesFile{{Name: "prod.yaml", Data: []byte("greeting: prod\n")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := only.Values["image"]; ok || only.Values["greeting"] != "prod" {
		t.Errorf("without values.yaml listed the chart's values stay: %v", only.Values)
	}
	if _, err := chartrender.WithValuesFiles(ch, []chartrender.ValuesFile{{Name: "bad.yaml", Data: []byte("- a list\n")}}); err == nil || !strings.Contains(err.Error(), "bad.yaml") {
		t.Errorf("a file that is not a map: %v", err)
	}
}
