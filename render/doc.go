// Package render turns paths of a Git repository into the exact list of
// Kubernetes objects a run applies.
//
// A path is one of two things, as in Flux:
//
//   - a kustomization: a directory holding kustomization.yaml,
//     kustomization.yml or Kustomization, built with kustomize's krusty
//     with plugins and exec functions off;
//   - a plain directory: every .yaml, .yml and .json file below it, in
//     lexical path order, each possibly holding several documents, as if a
//     kustomization listed them all, which is what Flux generates for a
//     directory without one (fluxcd/pkg/kustomize's generator): a
//     sub-directory that holds a kustomization file is one entry of that
//     list, built with kustomize in its place and not descended into.
//
// What a Flux source leaves out is left out here too (ignore.go): Flux's
// default ignore rules, every .sourceignore (each scoped to its own
// directory), and Options.Ignore. An ignored file is neither a manifest
// of a plain directory nor readable by kustomize.
//
// Options.Flux builds each path as kustomize-controller builds a Flux
// Kustomization's spec.path (fluxbuild.go): the directory's
// kustomization, or the generated one, with the object's build fields
// merged over it and served to krusty from memory, so that the checkout
// is never written to; then spec.postBuild substitution with Flux's own
// engine, and spec.commonMetadata (postbuild.go). Values that come from a
// Secret are handled as decrypted ones (below).
//
// Each object says where it came from (Origin): the --path, and the
// repository file, which for kustomize output is read from kustomize's
// origin annotations (turned on for the build, then removed again unless
// the kustomization asked for them), with the kustomizations that built
// it (Origin.Kustomizations, from the transformer annotations kustomize
// records along). The tracking doubles the cost of a build with
// transformers, so a run that only applies asks for it lazily
// (Options.LazyFiles): only builds whose objects need their file, for
// masking or for Flux objects' errors, are built again with it.
//
// Nothing is read outside the repository root: a kustomization that
// reaches for ../../elsewhere, or a symlink that leaves the root, is an
// error that names the file. Nothing is read from the network and no
// program runs: a kustomization entry that would make kustomize clone a
// Git repository, download a URL, run helm or run a plugin is refused
// before kustomize runs (remote.go says how). The one exception is
// helmCharts, when the caller hands render a HelmInflater
// (Options.Helm): render reads the entry and its files in the
// repository, and the inflater, outside this stage, fetches and renders
// the chart (helm.go). In a plain directory, links to directories
// inside the root are followed, with loops refused.
//
// Every file is bounded before a parser sees it (limits.go): its size,
// and the nodes its YAML aliases would add when expanded, so that a
// small hostile file cannot exhaust memory. Manifests and
// kustomizations may not give a key twice in one mapping, and YAML
// errors name the repository file and line.
//
// SOPS-encrypted files (whole manifests, and the .env, .json, .yaml and
// .ini files a secretGenerator reads) are decrypted in memory with the
// keys the caller hands over, never with whatever keys the machine
// happens to hold, and plaintext is never written to disk. A file that
// cannot be decrypted is an error naming the file and the recipients it
// was encrypted for, so the user knows which key is missing; ciphertext
// is never applied.
//
// Every value decrypted is recorded in Options.Plaintext (package
// plaintext), so the caller can scrub all of a run's output, and each
// object that came, wholly or partly, from a decrypted file is marked
// (Origin.Decrypted) and masked by Result.Mask whatever its kind. Errors
// never quote a decrypted value: sops' own errors, which can (a type:str
// edited to type:int), are replaced by one naming the file and the key
// path, and kustomize's, which can dump a node, are scrubbed.
//
// The result is deterministic: the same tree renders the same objects in
// the same order, and an object ID rendered twice (from two paths, or two
// files) is an error naming both places.
package render
