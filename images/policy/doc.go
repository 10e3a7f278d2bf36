// Package policy selects the tag an image should run from the tags its
// repository holds.
//
// A Policer looks at a list of tags and names the one to use. Each kind of
// policy lives in its own file and follows the controller it comes from:
//
//   - SemVer (Flux v2 spec.policy.semver.range): tags must be full
//     semantic versions (MAJOR.MINOR.PATCH, an optional "v" prefix);
//     anything else is ignored. Pre-releases are only candidates when the
//     range itself names a pre-release, as Masterminds/semver decides.
//   - Alphabetical (spec.policy.alphabetical.order): "asc" picks the
//     greatest tag, "desc" the least. Useful for sortable timestamps.
//   - Numerical (spec.policy.numerical.order): every candidate must parse
//     as a number; one that does not is an error, not a silent skip,
//     because it means the filter lets the wrong tags through.
//
// Filter (spec.filterTags) runs before a policy: only tags matching the
// pattern are candidates, and when extract is set the policy compares the
// extracted value (for example the build number in "main-abc1234-42")
// while the selection is still the original tag. Exclude drops tags before
// anything else (spec.exclusionList, by default signatures "^.*\.sig$").
//
// Flux v1 workload annotations (fluxcd.io/tag.<container>) use Pattern:
// "semver:" ranges are parsed leniently like Flux v1 did, while "glob:" and
// "regex:" patterns only filter and leave the choice to the most recently
// built image, so they need the creation time of each candidate
// (ByCreated).
package policy
