// Package inventory records what one tidegate run owns in a cluster, and
// computes what it should own next.
//
// An inventory is an ApplySet (KEP-3659), so kubectl can read it: a
// parent object, a ConfigMap or Secret, labelled applyset.kubernetes.io/id,
// whose members are labelled applyset.kubernetes.io/part-of with the same
// id. The id is derived from the parent's name, namespace, kind and group,
// exactly as kubectl does (Parent.ID). Beyond the standard, the parent
// records the Git revision last applied and the full member list, one
// namespace_name_group_kind line each (object.ID.Encode, the format of
// cli-utils and Flux), so a prune reads one object instead of listing
// every type in the cluster. In a Secret the list is base64 encoded, as
// every Secret value is.
//
// Reading is strict. A parent written by another ApplySet tool (its
// applyset.kubernetes.io/tooling annotation) or carrying another id is
// refused: tidegate never adopts kubectl's or Helm's inventory. A member
// line that does not parse makes Load fail with a CorruptError, because
// nothing may be pruned from an inventory read only in part; the error
// holds what could be read, for a run asked to repair the inventory by
// writing it again without the unreadable lines.
//
// Who owns an object follows from the inventory: an object is a member
// when it carries this inventory's part-of label or the previous
// inventory lists it; a part-of label naming another id makes it that
// inventory's, whatever ours lists. Package prune decides from these rules
// what a run may write (an unowned object only when adopted, another
// inventory's only with force) and what it may delete (only members whose
// live copy still carries our label).
//
// The arithmetic of a run is pure and lives in this package, on Set, a
// value type of object IDs:
//
//   - Widened, written before anything is applied: the previous members
//     and every object about to be applied, at the previous revision. A
//     run that dies half-way then leaves nothing untracked (kubectl widens
//     the parent's group-kinds before applying for the same reason).
//   - Stale, what a prune may consider: previous members Git no longer has.
//   - Final, written after the prune: the objects applied and the stale
//     members still held (deletes that failed, objects outside the
//     namespaces the run may touch, or every stale member when the run
//     does not prune), at the revision applied.
//
// Changed tells whether a next inventory differs from the previous one,
// so that a run that changes nothing writes nothing.
package inventory
