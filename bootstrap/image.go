package bootstrap

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/tidegate/tidegate/internal/version"
)

// Image is the tidegate a generated CronJob or pipeline runs: an image
// pinned by tag or digest, never :latest, so that the files keep running
// the tidegate that wrote them until someone bumps them in Git.
type Image struct {
	// Ref is the image as written, e.g. ghcr.io/tidegate/tidegate:v0.3.0.
	Ref string
	// Repository, and Tag or Digest, for a kustomize images: entry.
	Repository, Tag, Digest string
	// Release names the GitHub action and GitLab template to use: the
	// tag when it is a release, else this binary's release.
	Release string
}

// ParseImage checks the --image value ref, or makes the default for "":
// this binary's own release.
func ParseImage(ref string) (Image, error) {
	given := ref
	if ref == "" {
		ref = version.ImageRepository + ":" + version.Release()
	}
	hint := "name a version tag or a digest, e.g. " + version.ImageRepository + ":" + version.Release()
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		return Image{}, fmt.Errorf("--image %q: %w; %s", given, err, hint)
	}
	img := Image{Ref: ref, Repository: r.Context().Name(), Release: version.Release()}
	switch r := r.(type) {
	case name.Tag:
		if strings.EqualFold(r.TagStr(), "latest") {
			return Image{}, fmt.Errorf("--image %q: :latest changes under a running CronJob or pipeline without a commit saying so; %s", given, hint)
		}
		img.Tag = r.TagStr()
		if version.Released(img.Tag) {
			img.Release = img.Tag
		}
	case name.Digest:
		img.Digest = r.DigestStr()
	}
	return img, nil
}

// GitLabTemplateURL is the GitLab CI template of one release.
func GitLabTemplateURL(release string) string {
	return "https://raw.githubusercontent.com/tidegate/tidegate/" + release + "/" + GitLabTemplate
}
