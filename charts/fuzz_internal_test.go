package charts

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"path"
	"strings"
	"testing"
)

func fuzzArchive(entries map[string]string, links map[string]string) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range entries {
		_ = tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		_, _ = tw.Write([]byte(body))
	}
	for name, target := range links {
		_ = tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target})
	}
	_ = tw.Close()
	_ = gz.Close()
	return buf.Bytes()
}

// FuzzUnpack: whatever the archive, unpack never panics, and what it
// accepts stays inside the chart and within the size limit.
func FuzzUnpack(f *testing.F) {
	f.Add(fuzzArchive(map[string]string{"app/Chart.yaml": "name: app\n", "app/templates/a.yaml": "x"}, nil))
	f.Add(fuzzArchive(map[string]string{"app/../../etc/passwd": "x"}, nil))
	f.Add(fuzzArchive(map[string]string{`app\..\..\evil`: "x", "/abs": "y", "C:/win": "z"}, nil))
	f.Add(fuzzArchive(map[string]string{"app/Chart.yaml": "n"}, map[string]string{"app/l": "/etc/passwd"}))
	f.Add(fuzzArchive(map[string]string{"app/big": strings.Repeat("a", 5000)}, nil))
	f.Add([]byte{0x1f, 0x8b, 0x08})
	const limit = 4096
	f.Fuzz(func(t *testing.T, data []byte) {
		files, err := unpack(data, limit)
		if err != nil {
			return
		}
		total := 0
		for _, file := range files {
			total += len(file.Data)
			n := file.Name
			if n == "" || path.IsAbs(n) || path.Clean(n) != n || n == ".." || strings.HasPrefix(n, "../") || strings.Contains(n, `\`) || (len(n) > 1 && n[1] == ':') {
				t.Fatalf("accepted entry %q outside the chart", n)
			}
		}
		if total > limit {
			t.Fatalf("accepted %d bytes past the %d limit", total, limit)
		}
	})
}
