// Package version reports which tidegate build is running. Release builds
// set the version with -ldflags "-X ...version.version=v1.2.3"; other
// builds fall back to the module version Go recorded, then to "dev".
package version

import "runtime/debug"

// version is set by the linker for release builds; it is the one
// package-level variable the build needs to write into.
var version = ""

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
