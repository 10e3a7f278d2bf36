// Package images keeps the image references in a Git repository's
// manifests at the tags their policies select, the way Flux's image
// automation does, but in one run with no controllers.
//
// A repository says what to automate in two ways, and tidegate reads both:
//
// Flux v2 declares an ImageRepository (spec.image, the repository to scan;
// spec.secretRef, a kubernetes.io/dockerconfigjson Secret with its
// credentials; spec.exclusionList, tags never to consider, by default
// "^.*\.sig$") and an ImagePolicy that picks a tag from it (semver,
// alphabetical or numerical, after an optional filterTags pattern and
// extract). Manifests then carry setter markers, line comments naming the
// policy by "namespace:name" (see package marker). Only marked scalars
// change; a marker naming a policy the repository does not declare is
// left alone with a warning, because Flux repositories often keep their
// policies in another repository (Options.Strict makes it an error).
//
// Flux v1 annotated workloads instead: fluxcd.io/automated: "true" on a
// Deployment, StatefulSet, DaemonSet, CronJob or Job, with
// fluxcd.io/tag.<container> (or filter.fluxcd.io/<container>) holding a
// "semver:", "glob:" or "regex:" pattern. Every container of an automated
// workload follows its pattern, glob "*" by default; glob and regex pick
// the most recently built image. fluxcd.io/locked: "true" freezes a
// workload (markers inside it included) and fluxcd.io/ignore: "true"
// hides it from automation. The older flux.weave.works/ prefix is read
// too.
//
// HelmReleases carry images in spec.values. Setter markers there work as
// in any manifest (a Flux v2 HelmRelease's values are YAML like the
// rest). A Flux v1 helm-operator HelmRelease (helm.fluxcd.io/v1) takes
// the same annotations as a Deployment, its images found in its values
// under the names Flux v1 gave them (chart-image, a key of spec.values,
// or an alias of repository.fluxcd.io/<alias>, see helmrelease.go).
// Charts are never fetched here: an image only a chart's templates name
// is not automated.
//
// The work is split so that each step's result is data: Load parses the
// tree into Sources (pure, no network), Resolve asks the registries and
// applies the policies (Plan), and Rewrite edits only the bytes of the
// scalars that change, so comments, quoting, key order and indentation
// survive byte for byte. Update runs all three on any directory, for
// example a temporary clone on which a pull request is prepared.
package images
