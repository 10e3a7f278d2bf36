package cli

import (
	"context"
	"fmt"
	"runtime"

	"github.com/tidegate/tidegate/internal/version"
)

// VersionCmd prints tidegate's version.
type VersionCmd struct{}

// versionInfo is what `tidegate version -o json` prints; a release's
// archive, image and `version` agree on Version and Commit.
type versionInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Date     string `json:"date"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
}

// Run prints the version, as text or JSON.
func (c *VersionCmd) Run(ctx context.Context, g *Globals) error {
	info := versionInfo{
		Version: version.Version(), Commit: version.Commit(), Date: version.Date(),
		Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, OS: runtime.GOOS, Arch: runtime.GOARCH,
	}
	if g.Output == "json" {
		return printJSON(g.stdout(), info)
	}
	commit := ""
	if info.Commit != "" {
		commit = ", commit " + info.Commit
		if info.Date != "" {
			commit += " of " + info.Date
		}
	}
	_, err := fmt.Fprintf(g.stdout(), "tidegate %s (%s %s%s)\n", info.Version, info.Go, info.Platform, commit)
	return err
}
