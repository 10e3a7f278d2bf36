package fleet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tidegate/tidegate/chartrender"
	"github.com/tidegate/tidegate/charts"
	"github.com/tidegate/tidegate/flux"
	"github.com/tidegate/tidegate/render"
)

// maxValuesFileBytes bounds one values file read from a repository.
const maxValuesFileBytes = 16 << 20

// postRenderer is the release's spec.postRenderers as one post-renderer:
// each kustomize in order on what the one before made, as
// helm-controller combines them; nil without any.
func postRenderer(hr *flux.HelmRelease) chartrender.PostRenderer {
	if len(hr.PostRenderKustomize) == 0 {
		return nil
	}
	return func(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
		for i, k := range hr.PostRenderKustomize {
			out, err := render.PostRender(objs, k)
			if err != nil {
				return nil, fmt.Errorf("spec.postRenderers[%d].kustomize: %w", i, err)
			}
			objs = out
		}
		return objs, nil
	}
}

// withValuesFiles applies spec.chart.spec.valuesFiles to the fetched
// chart as source-controller builds the HelmChart: the files merged in
// order replace the chart's values.yaml. Paths are in the chart for a
// HelmRepository's chart, in the repository for a GitRepository's (as
// Flux reads them: "relative to the source"), and may not leave it; a
// missing file fails unless spec.chart.spec.ignoreMissingValuesFiles.
func (e *expander) withValuesFiles(ctx context.Context, u *Unit, hr *flux.HelmRelease, ch *charts.Chart) (*charts.Chart, error) {
	paths := hr.ValuesFiles
	if len(paths) == 0 || (len(paths) == 1 && path.Clean(paths[0]) == "values.yaml") {
		// Only its own values.yaml: the chart as it is, as in Flux.
		return ch, nil
	}
	fromGit := hr.SourceRef.Kind == "GitRepository"
	var root *os.Root
	if fromGit {
		k := flux.Kustomization{Namespace: hr.Namespace, Name: hr.Name}
		if u.Kustomization != nil {
			k = *u.Kustomization
		}
		k.SourceRef = hr.SourceRef
		src, err := e.source(ctx, &k)
		if err != nil {
			return nil, fmt.Errorf("spec.chart.spec.sourceRef: %w", err)
		}
		if root, err = os.OpenRoot(src.root); err != nil {
			return nil, fmt.Errorf("spec.chart.spec.valuesFiles: %w", err)
		}
		defer root.Close()
	}
	var files []chartrender.ValuesFile
	for i, p := range paths {
		field := fmt.Sprintf("spec.chart.spec.valuesFiles[%d] %s", i, p)
		clean, err := valuesFilePath(hr, i)
		if err != nil {
			return nil, err
		}
		var data []byte
		if fromGit {
			st, err := fs.Stat(root.FS(), clean)
			switch {
			case errors.Is(err, fs.ErrNotExist) && hr.IgnoreMissingValuesFiles:
				continue
			case err != nil:
				return nil, fmt.Errorf("%s: no such file in %s (a path in the repository, not in the chart; or set spec.chart.spec.ignoreMissingValuesFiles): %w", field, hr.SourceRef, err)
			case !st.Mode().IsRegular():
				return nil, fmt.Errorf("%s: not a regular file", field)
			case st.Size() > maxValuesFileBytes:
				return nil, fmt.Errorf("%s: %d bytes, more than the %d a values file may have", field, st.Size(), maxValuesFileBytes)
			}
			if data, err = fs.ReadFile(root.FS(), clean); err != nil {
				return nil, fmt.Errorf("%s: %w", field, err)
			}
		} else if clean != "values.yaml" {
			found := false
			for _, f := range ch.Chart.Files {
				if f.Name == clean {
					data, found = f.Data, true
					break
				}
			}
			if !found {
				if hr.IgnoreMissingValuesFiles {
					continue
				}
				return nil, fmt.Errorf("%s: chart %s %s has no such file: name a file of the chart, or set spec.chart.spec.ignoreMissingValuesFiles", field, ch.Name, ch.Version)
			}
			if data == nil {
				data = []byte{}
			}
		}
		files = append(files, chartrender.ValuesFile{Name: p, Data: data})
	}
	c, err := chartrender.WithValuesFiles(ch.Chart, files)
	if err != nil {
		return nil, fmt.Errorf("spec.chart.spec.valuesFiles: %w", err)
	}
	out := *ch
	out.Chart = c
	return &out, nil
}

// checkValuesFiles refuses, before anything is fetched, a values file
// whose path leaves the chart (or the repository).
func checkValuesFiles(hr *flux.HelmRelease) error {
	for i := range hr.ValuesFiles {
		if _, err := valuesFilePath(hr, i); err != nil {
			return err
		}
	}
	return nil
}

func valuesFilePath(hr *flux.HelmRelease, i int) (string, error) {
	p := hr.ValuesFiles[i]
	clean := path.Clean(strings.TrimPrefix(filepath.ToSlash(p), "./"))
	if p == "" || path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(p, "\x00") {
		where := "the chart"
		if hr.SourceRef.Kind == "GitRepository" {
			where = "the repository"
		}
		return "", fmt.Errorf("spec.chart.spec.valuesFiles[%d] %q: the path leaves %s: name a values file inside it (relative, without ..)", i, p, where)
	}
	return clean, nil
}
