package charts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/ignore"
)

// FromDirectory is FromDirectoryContext without a context of its own:
// each fetch of a dependency still has the Timeout deadline.
func (f *Fetcher) FromDirectory(root, dir string) (*Chart, error) {
	return f.FromDirectoryContext(context.Background(), root, dir)
}

// FromDirectoryContext loads the chart at dir (slash-separated, relative
// to root), a Git checkout's work tree, and fetches the dependencies it
// declares that are not in its charts/ (see deps.go). Files are read
// through root, so a symbolic link that leaves the checkout fails
// instead of reading the runner's files; links to directories are
// refused. The SDK's own LoadDir follows every link, which is why it is
// not used here.
func (f *Fetcher) FromDirectoryContext(ctx context.Context, root, dir string) (*Chart, error) {
	where := fmt.Sprintf("chart directory %s", dir)
	clean := path.Clean(strings.TrimPrefix(filepath.ToSlash(dir), "./"))
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return nil, fmt.Errorf("%s: the path must stay inside the repository", where)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	defer r.Close()
	fsys := r.FS()
	ch, used, err := f.readDirectory(fsys, clean, f.opts.MaxChartBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if err := f.dependencies(ctx, fsys, clean, ch, f.opts.MaxChartBytes-used); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return &Chart{Chart: ch, Name: ch.Metadata.Name, Version: ch.Metadata.Version, URL: clean}, nil
}

// readDirectory loads the chart at clean in fsys, at most limit bytes,
// and returns how many it read.
func (f *Fetcher) readDirectory(fsys fs.FS, clean string, limit int64) (*chartv2.Chart, int64, error) {
	st, err := fs.Stat(fsys, clean)
	if err != nil {
		return nil, 0, err
	}
	if !st.IsDir() {
		return nil, 0, errors.New("not a directory: point at the directory that holds Chart.yaml")
	}

	rules := ignore.Empty()
	if data, err := fs.ReadFile(fsys, path.Join(clean, ignore.HelmIgnore)); err == nil {
		if rules, err = ignore.Parse(bytes.NewReader(data)); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", ignore.HelmIgnore, err)
		}
	}
	rules.AddDefaults()

	var files []*archive.BufferedFile
	remaining := limit
	err = fs.WalkDir(fsys, clean, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, clean), "/")
		if rel == "" {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			// Stat through the root follows the link inside the
			// checkout only.
			if info, err = fs.Stat(fsys, p); err != nil {
				return fmt.Errorf("%s is a symbolic link that does not resolve inside the repository: %w", rel, err)
			}
			if info.IsDir() {
				return fmt.Errorf("%s is a symbolic link to a directory: vendor the directory instead", rel)
			}
		}
		if info.IsDir() {
			if rules.Ignore(rel, info) {
				return fs.SkipDir
			}
			return nil
		}
		if rules.Ignore(rel, info) {
			return nil
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", rel)
		}
		if info.Size() > remaining {
			return fmt.Errorf("the chart is larger than %s: raise the limit if the repository is trusted", size(limit))
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		remaining -= int64(len(data))
		if remaining < 0 {
			return fmt.Errorf("the chart is larger than %s: raise the limit if the repository is trusted", size(limit))
		}
		files = append(files, &archive.BufferedFile{Name: rel, ModTime: info.ModTime(), Data: bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))})
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if len(files) == 0 {
		return nil, 0, errors.New("no files: point at the directory that holds Chart.yaml")
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, 0, err
	}
	return ch, limit - remaining, nil
}
