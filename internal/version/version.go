// Package version reports which tidegate build is running. Release builds
// (GoReleaser, see .goreleaser.yaml) set the version, commit and date with
// -ldflags "-X ...version.version=v1.2.3 -X ...version.commit=… -X
// ...version.date=…"; other builds fall back to what Go recorded in the
// binary (the module version of `go install …@v1.2.3`, the VCS stamp of
// a build inside a checkout), then to "dev" and empty.
package version

import (
	"regexp"
	"runtime/debug"
)

// The linker writes these for release builds; they are the package-level
// variables the build needs to write into.
var (
	version = ""
	commit  = ""
	date    = ""
)

// Version returns the running tidegate's version.
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Commit returns the Git commit the binary was built from, or "".
func Commit() string {
	if commit != "" {
		return commit
	}
	return buildSetting("vcs.revision")
}

// Date returns when the binary was built (release builds: the commit's
// date, RFC 3339), or "".
func Date() string {
	if date != "" {
		return date
	}
	return buildSetting("vcs.time")
}

func buildSetting(key string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// Released reports whether v names a release (vMAJOR.MINOR.PATCH, or a
// release candidate such as v1.2.0-rc.1), as opposed to "dev", a snapshot
// (v1.2.4-SNAPSHOT-abc1234) or a Go pseudo-version: only a release has
// published archives and an image to point at.
func Released(v string) bool {
	return regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-(alpha|beta|rc)\.[0-9]+)?$`).MatchString(v)
}
