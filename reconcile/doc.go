// Package reconcile is tidegate's main job told as one story:
//
//	source → render → apply → prune → wait → report
//
// Each stage lives in its own package and knows nothing of the others;
// this package alone knows their order and the rules that hold between
// them, the ones users trust tidegate for:
//
//   - nothing is applied when the render fails, and nothing is pruned when
//     the render or any apply failed;
//   - the inventory (an ApplySet parent object) is updated only by a run
//     that wrote, so a dry-run leaves no trace in the cluster;
//   - with --drift=report, live objects that were changed by hand since
//     tidegate last applied them are shown as a diff and nothing at all is
//     written, so a person can look before drift is reverted;
//   - Flux image automation objects (ImageRepository, ImagePolicy) in the
//     repository are tidegate's own configuration and are never applied.
//
// Run and Diff start the same way (start: render, read the inventory,
// plan against the live objects, decide whose objects are whose) and
// read the cluster only there: the diff, the drift report and the prune
// all work from that one plan. Every stage answers with object.Change,
// which the report prints.
//
// Drift is told apart from a change in Git with a digest: every object
// tidegate applies carries the annotation tidegate.dev/digest, the hash of
// its rendered form. A live object whose digest equals the rendered one
// but whose content differs was changed in the cluster, not in Git.
package reconcile
