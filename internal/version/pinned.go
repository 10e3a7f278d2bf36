package version

// Pinned is the release the repository's shipped files name: the image of
// deploy/base/cronjob.yaml, TIDEGATE_IMAGE of .gitlab-ci-template.yml, the
// README's examples, and what `tidegate init` of a development build
// writes. Bump it and those files (TestShippedFilesPinOneRelease in
// deploy/ lists them) in the commit that is tagged; release.yml refuses a
// release tag the files do not name.
const Pinned = "v0.1.0"

// ImageRepository is where release.yml publishes tidegate's image.
const ImageRepository = "ghcr.io/tidegate/tidegate"

// Release returns the release to point at for this binary: its own
// version when it is a release, else Pinned.
func Release() string {
	if v := Version(); Released(v) {
		return v
	}
	return Pinned
}
