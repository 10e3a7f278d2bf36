package cli

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/tidegate/tidegate/internal/version"
)

// initImage is the tidegate a generated CronJob or pipeline runs: an image
// pinned by tag or digest, never :latest, so that the files keep running
// the tidegate that wrote them until someone bumps them in Git.
type initImage struct {
	// Ref is the image as written, e.g. ghcr.io/tidegate/tidegate:v0.3.0.
	Ref string
	// Repository, and Tag or Digest, for a kustomize images: entry.
	Repository, Tag, Digest string
	// Release names the GitHub action and GitLab template to use: the
	// tag when it is a release, else this binary's release.
	Release string
}

// image checks --image, or makes the default: this binary's own release.
func (c *InitCmd) image() (initImage, error) {
	ref := c.Image
	if ref == "" {
		ref = version.ImageRepository + ":" + version.Release()
	}
	hint := "name a version tag or a digest, e.g. " + version.ImageRepository + ":" + version.Release()
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		return initImage{}, fmt.Errorf("--image %q: %w; %s", c.Image, err, hint)
	}
	img := initImage{Ref: ref, Repository: r.Context().Name(), Release: version.Release()}
	switch r := r.(type) {
	case name.Tag:
		if strings.EqualFold(r.TagStr(), "latest") {
			return initImage{}, fmt.Errorf("--image %q: :latest changes under a running CronJob or pipeline without a commit saying so; %s", c.Image, hint)
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

// kustomizeImages is the images: entry of the top kustomization that sets
// the CronJob's image, whatever deploy/base names.
func (img initImage) kustomizeImages() string {
	var b strings.Builder
	b.WriteString("# The tidegate the CronJob runs: bump it here (or with tidegate init --image).\nimages:\n")
	fmt.Fprintf(&b, "  - name: %s\n    newName: %s\n", version.ImageRepository, yamlScalar(img.Repository))
	if img.Digest != "" {
		fmt.Fprintf(&b, "    digest: %s\n", yamlScalar(img.Digest))
	} else {
		fmt.Fprintf(&b, "    newTag: %s\n", yamlScalar(img.Tag))
	}
	return b.String()
}

// gitlabTemplateURL is the GitLab CI template of one release.
func gitlabTemplateURL(release string) string {
	return "https://raw.githubusercontent.com/tidegate/tidegate/" + release + "/" + gitlabTemplate
}
