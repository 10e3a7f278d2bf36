package charts

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"helm.sh/helm/v4/pkg/chart/loader/archive"
	"helm.sh/helm/v4/pkg/chart/v2/loader"

	"github.com/tidegate/tidegate/internal/atomicfile"
)

// load unpacks and loads an archive, checking that it is the chart that
// was asked for.
func (f *Fetcher) load(data []byte, digest, from, name, version string, cached bool) (*Chart, error) {
	where := fmt.Sprintf("chart %s %s from %s", name, version, from)
	files, err := unpack(data, f.opts.MaxChartBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if ch.Metadata.Name != name {
		return nil, fmt.Errorf("%s: the archive holds chart %q: the repository serves the wrong package", where, ch.Metadata.Name)
	}
	if version != "" && ch.Metadata.Version != version {
		return nil, fmt.Errorf("%s: the archive holds version %s: the repository serves the wrong package", where, ch.Metadata.Version)
	}
	return &Chart{Chart: ch, Name: name, Version: ch.Metadata.Version, Digest: digest, URL: from, Cached: cached}, nil
}

// unpack reads a chart archive in memory: every entry under one top
// directory, none outside it, no links, and at most limit bytes in all.
// Helm's own loader has the same checks but a global limit; this one
// also names the entry that was refused.
func unpack(data []byte, limit int64) ([]*archive.BufferedFile, error) {
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("not a gzip archive (%w): the URL may point at an HTML page or a plain tar", err)
	}
	defer func() { _ = gz.Close() }()
	tr := tar.NewReader(gz)
	var files []*archive.BufferedFile
	remaining := limit
	for {
		hd, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("archive: %w", err)
		}
		switch hd.Typeflag {
		case tar.TypeDir, tar.TypeXGlobalHeader, tar.TypeXHeader:
			continue
		case tar.TypeReg:
		case tar.TypeSymlink, tar.TypeLink:
			return nil, fmt.Errorf("archive entry %q is a link: charts hold plain files only; the archive is refused", hd.Name)
		default:
			return nil, fmt.Errorf("archive entry %q is not a regular file (type %q): the archive is refused", hd.Name, hd.Typeflag)
		}
		name := strings.ReplaceAll(hd.Name, `\`, "/")
		if path.IsAbs(name) || filepath.VolumeName(name) != "" || (len(name) > 1 && name[1] == ':') {
			return nil, fmt.Errorf("archive entry %q has an absolute path: the archive is malformed or hostile and is refused", hd.Name)
		}
		_, rel, ok := strings.Cut(name, "/")
		if !ok {
			return nil, fmt.Errorf("archive entry %q is not inside the chart's directory: package charts with helm package", hd.Name)
		}
		clean := path.Clean(rel)
		if clean == "." || clean == ".." || strings.HasPrefix(clean, "../") || hasDotDot(name) {
			return nil, fmt.Errorf("archive entry %q leaves the chart's directory: the archive is malformed or hostile and is refused", hd.Name)
		}
		if hd.Size > remaining {
			return nil, fmt.Errorf("archive entry %q: the chart unpacks to more than %s: raise the limit if the chart is trusted", hd.Name, size(limit))
		}
		b, err := io.ReadAll(io.LimitReader(tr, remaining+1))
		if err != nil {
			return nil, fmt.Errorf("archive entry %q: %w", hd.Name, err)
		}
		remaining -= int64(len(b))
		if remaining < 0 {
			return nil, fmt.Errorf("archive entry %q: the chart unpacks to more than %s: raise the limit if the chart is trusted", hd.Name, size(limit))
		}
		files = append(files, &archive.BufferedFile{Name: clean, ModTime: hd.ModTime, Data: bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF"))})
	}
	if len(files) == 0 {
		return nil, errors.New("the archive holds no file")
	}
	return files, nil
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func hasDotDot(name string) bool {
	for _, p := range strings.Split(name, "/") {
		if p == ".." {
			return true
		}
	}
	return false
}

// cachePath names a digest's file; digests are checked to be sha256 hex
// before they become names.
func (f *Fetcher) cachePath(digest string) (string, bool) {
	hexSum, ok := strings.CutPrefix(digest, "sha256:")
	if f.opts.CacheDir == "" || !ok || len(hexSum) != 64 {
		return "", false
	}
	if _, err := hex.DecodeString(hexSum); err != nil {
		return "", false
	}
	return filepath.Join(f.opts.CacheDir, "sha256-"+hexSum+".tgz"), true
}

// cached returns a cached archive that still has its digest.
func (f *Fetcher) cached(digest string) ([]byte, bool) {
	p, ok := f.cachePath(digest)
	if !ok {
		return nil, false
	}
	st, err := os.Stat(p)
	if err != nil || st.Size() > f.opts.MaxArchiveBytes {
		return nil, false
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	if digestOf(data) != digest {
		f.opts.Logger.Warn("chart cache entry does not match its digest; fetching again", "file", p)
		return nil, false
	}
	return data, true
}

// store keeps a verified archive; a cache that cannot be written only
// costs the next run a download.
func (f *Fetcher) store(digest string, data []byte) {
	p, ok := f.cachePath(digest)
	if !ok {
		return
	}
	if err := os.MkdirAll(f.opts.CacheDir, 0o755); err != nil {
		f.opts.Logger.Warn("chart cache not writable", "dir", f.opts.CacheDir, "error", err)
		return
	}
	if err := atomicfile.Write(p, data, 0o644); err != nil {
		f.opts.Logger.Warn("chart cache not writable", "file", p, "error", err)
	}
}
