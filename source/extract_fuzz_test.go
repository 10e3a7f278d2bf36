package source

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzExtractLayer builds a tar+gzip of two entries from fuzzed names,
// types and link targets and extracts it: whatever the entries, nothing
// may appear outside the extraction directory, no link and no special
// file may appear inside it, and the caps hold.
func FuzzExtractLayer(f *testing.F) {
	f.Add("a.yaml", byte(tar.TypeReg), "", "b/c.yaml", byte(tar.TypeReg), "", []byte("x: 1\n"))
	f.Add("../escape", byte(tar.TypeReg), "", "ok", byte(tar.TypeReg), "", []byte("x"))
	f.Add("/abs", byte(tar.TypeReg), "", "ok", byte(tar.TypeDir), "", []byte("x"))
	f.Add("l", byte(tar.TypeSymlink), "..", "l/x", byte(tar.TypeReg), "", []byte("x"))
	f.Add("h", byte(tar.TypeLink), "/etc/passwd", "d", byte(tar.TypeDir), "", []byte(""))
	f.Add("./a/./b/../c", byte(tar.TypeReg), "", "a", byte(tar.TypeDir), "", []byte("x"))
	f.Add("dev", byte(tar.TypeChar), "", "fifo", byte(tar.TypeFifo), "", []byte(""))
	f.Add("a\\..\\..\\x", byte(tar.TypeReg), "", "big", byte(tar.TypeReg), "", bytes.Repeat([]byte("z"), 5000))
	f.Fuzz(func(t *testing.T, name1 string, type1 byte, link1, name2 string, type2 byte, link2 string, body []byte) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		for _, e := range []struct {
			name, link string
			typ        byte
		}{{name1, link1, type1}, {name2, link2, type2}} {
			h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o777}
			if e.typ == tar.TypeReg {
				h.Size = int64(len(body))
			}
			if err := tw.WriteHeader(h); err != nil {
				return // archive/tar will not write it; nor could an attacker's tar hold it as such
			}
			if h.Size > 0 {
				if _, err := tw.Write(body); err != nil {
					return
				}
			}
		}
		if tw.Close() != nil || zw.Close() != nil {
			return
		}

		root := t.TempDir()
		dir := filepath.Join(root, "a", "b", "artifact")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		const maxBytes, maxFiles = 4096, 8
		err := extractLayer(bytes.NewReader(buf.Bytes()), dir, maxBytes, maxFiles)

		var total int64
		filepath.WalkDir(root, func(p string, d fs.DirEntry, werr error) error {
			if werr != nil {
				return nil
			}
			if p != dir && !strings.HasPrefix(p, dir+string(filepath.Separator)) {
				if p != root && p != filepath.Join(root, "a") && p != filepath.Join(root, "a", "b") {
					t.Errorf("written outside the directory: %s (err %v)", p, err)
				}
				return nil
			}
			info, ierr := os.Lstat(p)
			if ierr != nil {
				return nil
			}
			switch {
			case info.Mode()&fs.ModeSymlink != 0:
				t.Errorf("a link was created: %s", p)
			case info.Mode().IsRegular():
				total += info.Size()
			case !info.IsDir():
				t.Errorf("a special file was created: %s (%s)", p, info.Mode())
			}
			return nil
		})
		if total > maxBytes {
			t.Errorf("%d bytes extracted past the cap of %d", total, maxBytes)
		}
	})
}
