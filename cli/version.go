package cli

import (
	"context"
	"fmt"
	"runtime"

	"github.com/tidegate/tidegate/internal/version"
)

// VersionCmd prints tidegate's version.
type VersionCmd struct{}

// Run prints the version, as text or JSON.
func (c *VersionCmd) Run(ctx context.Context, g *Globals) error {
	info := struct {
		Version string `json:"version"`
		Go      string `json:"go"`
		OS      string `json:"os"`
		Arch    string `json:"arch"`
	}{version.Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH}
	if g.Output == "json" {
		return printJSON(g.stdout(), info)
	}
	_, err := fmt.Fprintf(g.stdout(), "tidegate %s (%s %s/%s)\n", info.Version, info.Go, info.OS, info.Arch)
	return err
}
