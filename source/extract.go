package source

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// extractFile extracts the tar+gzip at blob into dir; see extractLayer.
func extractFile(blob, dir string, maxBytes int64, maxFiles int) error {
	f, err := os.Open(blob)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // read only: nothing to flush
	return extractLayer(f, dir, maxBytes, maxFiles)
}

// extractLayer extracts a tar+gzip stream into dir, which exists and is
// empty. An artifact comes from a registry anyone may push to, so the
// stream is hostile until proven otherwise: an entry whose name is
// absolute or climbs out with "..", a symbolic or hard link (Flux's own
// untar refuses links too, and `flux push artifact` never writes them),
// a device, FIFO or any other special file, more than maxFiles entries or
// more than maxBytes of content (a tar bomb) stops the extraction with an
// error naming the entry. Nothing is ever written outside dir: names are
// checked before use, and since no link is ever created no path can lead
// elsewhere. The caller removes dir on error.
func extractLayer(r io.Reader, dir string, maxBytes int64, maxFiles int) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("the layer is not gzip-compressed (%w): an artifact layer is a tar+gzip", err)
	}
	// Close only releases the reader; a corrupt stream fails in Next.
	defer func() { _ = zr.Close() }()
	tr := tar.NewReader(zr)
	var written int64
	entries := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("the layer is not a valid tar: %w", err)
		}
		entries++
		if entries > maxFiles {
			return fmt.Errorf("more than %d entries: refusing a tar bomb (raise the file limit if the artifact is real)", maxFiles)
		}
		rel, err := entryPath(h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if rel == "." {
				continue
			}
			if err := os.MkdirAll(filepath.Join(dir, rel), 0o700); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old archives still write TypeRegA
			if rel == "." {
				return fmt.Errorf("entry %q: a file without a name", h.Name)
			}
			if h.Size < 0 || h.Size > maxBytes-written {
				return fmt.Errorf("entry %q: %d bytes would take the content past %d bytes: refusing a tar bomb (raise the size limit if the artifact is real)", h.Name, h.Size, maxBytes)
			}
			n, err := writeEntry(filepath.Join(dir, rel), tr, h)
			written += n
			if err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
		case tar.TypeSymlink:
			return fmt.Errorf("entry %q is a symbolic link (to %q): links are refused, as Flux refuses them; archive the files themselves", h.Name, h.Linkname)
		case tar.TypeLink:
			return fmt.Errorf("entry %q is a hard link (to %q): links are refused, as Flux refuses them; archive the files themselves", h.Name, h.Linkname)
		case tar.TypeChar, tar.TypeBlock:
			return fmt.Errorf("entry %q is a device node: an artifact holds files and directories only", h.Name)
		case tar.TypeFifo:
			return fmt.Errorf("entry %q is a FIFO: an artifact holds files and directories only", h.Name)
		default:
			return fmt.Errorf("entry %q has tar type %q, which tidegate does not extract: an artifact holds files and directories only", h.Name, h.Typeflag)
		}
	}
}

// entryPath is the name of a tar entry as a path relative to the
// extraction root, or an error when it would leave it.
func entryPath(name string) (string, error) {
	switch {
	case name == "":
		return "", errors.New("an entry without a name")
	case strings.ContainsRune(name, 0):
		return "", fmt.Errorf("entry %q: a NUL byte in the name", name)
	case strings.Contains(name, `\`):
		return "", fmt.Errorf("entry %q: a backslash in the name (a Windows path?); tar names use /", name)
	case path.IsAbs(name):
		return "", fmt.Errorf("entry %q: an absolute path; refusing to write outside the artifact directory", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("entry %q: the name climbs out with \"..\"; refusing to write outside the artifact directory", name)
		}
	}
	return filepath.FromSlash(path.Clean(name)), nil
}

// writeEntry writes one regular file. Its parents are made as needed;
// the mode keeps the owner's read/write and the execute bits only.
func writeEntry(p string, r io.Reader, h *tar.Header) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return 0, err
	}
	mode := os.FileMode(0o600) | os.FileMode(h.Mode)&0o755
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, io.LimitReader(r, h.Size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != h.Size {
		err = fmt.Errorf("truncated: %d of %d bytes", n, h.Size)
	}
	return n, err
}
