package apply

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/csaupgrade"

	"github.com/tidegate/tidegate/object"
)

const (
	// DigestAnnotation holds the hash of an object as Git rendered it.
	DigestAnnotation = "tidegate.dev/digest"
	// ForceAnnotation with value "enabled" applies Force to one object.
	ForceAnnotation = "tidegate.dev/force"
	// lastApplied is kubectl client-side apply's annotation.
	lastApplied = "kubectl.kubernetes.io/last-applied-configuration"
)

// Action says what happened, or would happen, to one object: the one
// vocabulary of object.Action, which prune and the report share.
type Action = object.Action

// The actions Apply and Diff return.
const (
	Created    = object.Created
	Configured = object.Configured
	Unchanged  = object.Unchanged
	Skipped    = object.Skipped
	Failed     = object.Failed
)

// Options configures a Manager. Zero values take the defaults.
type Options struct {
	// FieldManager names tidegate in managedFields; default "tidegate".
	FieldManager string
	// Concurrency is the number of objects in flight per stage; default 16.
	Concurrency int
	// CRDTimeout bounds the wait for CRDs to be Established; default 60s.
	CRDTimeout time.Duration
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
	// Mask, when set, masks in place what a diff must not show of an
	// object beyond a Secret's values (masked by kind anyway): desired
	// and live are copies of the two sides, live possibly nil. tidegate
	// masks there what came from a SOPS-encrypted file, whatever its kind.
	Mask func(desired, live *unstructured.Unstructured)
	// TakeOverManagers are field managers whose server-side apply
	// ownership moves to FieldManager before an object they applied is
	// written: their Apply entries in managedFields become tidegate's, as
	// if tidegate had applied those fields, so the apply meets no
	// conflict and a field Git drops later is removed from the object.
	TakeOverManagers []string
	// KeepLabels are label keys whose ownership stays with the
	// TakeOverManagers: marks Git does not set (Flux's labels), which
	// moving them would make tidegate's next apply remove.
	KeepLabels []string
}

func (o *Options) defaults() {
	if o.FieldManager == "" {
		o.FieldManager = "tidegate"
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.CRDTimeout == 0 {
		o.CRDTimeout = 60 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Manager applies objects to one cluster.
type Manager struct {
	dyn    dynamic.Interface
	mapper meta.ResettableRESTMapper
	opts   Options
}

// New returns a Manager. The mapper is reset after CRDs are applied so
// that their kinds become known.
func New(dyn dynamic.Interface, mapper meta.ResettableRESTMapper, opts Options) *Manager {
	opts.defaults()
	return &Manager{dyn: dyn, mapper: mapper, opts: opts}
}

// ApplyOptions are the per-run choices.
type ApplyOptions struct {
	// DryRun sends every write as a server-side dry-run.
	DryRun bool
	// Force takes over fields owned by other managers and deletes and
	// recreates objects whose immutable fields changed.
	Force bool
	// RevertDrift takes back, from whoever changed them, the fields of
	// objects Plan found drifted: Git's values win for the fields Git sets.
	RevertDrift bool
	// TakeOver are objects adopted in this run: Git's values win for the
	// fields Git sets, as with Force, for these objects only.
	TakeOver map[object.ID]bool
	// Plan, when the caller already planned these objects, saves reading
	// the live state again. Objects whose kind was unknown when it was
	// made (their CRD comes in this run) are planned again.
	Plan *Plan
}

// Change is what happened to one object.
type Change = object.Change

// ChangeSet is the result of Apply.
type ChangeSet struct{ Changes []Change }

// Apply applies objs in stages. The change set holds every object that
// was handled, also when Apply fails; the error joins one error per failed
// object, each starting with Kind/namespace/name. Like Plan, it sets the
// digest annotation on objs in place.
func (m *Manager) Apply(ctx context.Context, objs []*unstructured.Unstructured, o ApplyOptions) (*ChangeSet, error) {
	cs := &ChangeSet{}
	var errs []error
	// A dry-run creates no Namespace, so objects inside one this run
	// creates cannot be dry-run; they are reported as to be created.
	newNamespaces := map[string]bool{}
	for s, stageObjs := range byStage(objs) {
		if len(stageObjs) == 0 {
			continue
		}
		plan, err := m.stagePlan(ctx, stageObjs, o.Plan)
		if err != nil {
			return cs, err
		}
		changes := make([]Change, len(plan.Items))
		stageErrs := make([]error, len(plan.Items))
		m.parallel(len(plan.Items), func(i int) {
			changes[i], stageErrs[i] = m.applyOne(ctx, plan.Items[i], o)
			p := plan.Items[i]
			if o.DryRun && inNewNamespace(p, stageErrs[i], newNamespaces) {
				changes[i] = Change{ID: p.ID, Action: Created, Reason: "in a namespace this run creates (a dry-run cannot check it on the server)"}
				stageErrs[i] = nil
			}
		})
		if o.DryRun {
			for k, it := range plan.Items {
				if isNamespace(it.ID) && changes[k].Action == Created {
					newNamespaces[it.ID.Name] = true
				}
			}
		}
		cs.Changes = append(cs.Changes, changes...)
		for _, e := range stageErrs {
			if e != nil {
				errs = append(errs, e)
			}
		}
		if s == 0 && !o.DryRun {
			if err := m.waitForCRDs(ctx, changes); err != nil {
				errs = append(errs, err)
			}
			// The next stages' lookups discover the new kinds, under ctx.
			meta.ToResettableRESTMapperWithContext(m.mapper).ResetWithContext(ctx)
		}
		m.opts.Logger.Debug("applied stage", "stage", s, "objects", len(stageObjs))
	}
	return cs, errors.Join(errs...)
}

// stagePlan reuses the caller's plan where it is complete and plans the
// rest.
func (m *Manager) stagePlan(ctx context.Context, objs []*unstructured.Unstructured, given *Plan) (*Plan, error) {
	if given == nil {
		return m.Plan(ctx, objs)
	}
	known := make(map[object.ID]Planned, len(given.Items))
	for _, it := range given.Items {
		if it.err == nil {
			known[it.ID] = it
		}
	}
	out := &Plan{Items: make([]Planned, len(objs))}
	var missing []*unstructured.Unstructured
	var at []int
	for i, o := range objs {
		if it, ok := known[object.FromUnstructured(o)]; ok {
			out.Items[i] = it
			continue
		}
		missing = append(missing, o)
		at = append(at, i)
	}
	if len(missing) > 0 {
		p, err := m.Plan(ctx, missing)
		if err != nil {
			return nil, err
		}
		for j, i := range at {
			out.Items[i] = p.Items[j]
		}
	}
	return out, nil
}

// parallel runs f(0..n-1), Concurrency at a time, and waits for all. f
// records its own result and error: no object's failure stops the
// others, since the change set reports every one.
func (m *Manager) parallel(n int, f func(i int)) {
	var g errgroup.Group
	g.SetLimit(m.opts.Concurrency)
	for i := range n {
		g.Go(func() error {
			f(i)
			return nil
		})
	}
	_ = g.Wait() // always nil: f returns nothing
}

func (m *Manager) applyOne(ctx context.Context, p Planned, o ApplyOptions) (Change, error) {
	c := Change{ID: p.ID, Action: p.Action}
	if p.err != nil {
		c.Action, c.Reason = Failed, p.err.Error()
		return c, fmt.Errorf("%s: %w", p.ID, p.err)
	}
	if p.Action == Unchanged {
		return c, nil
	}
	force := o.Force || p.Desired.GetAnnotations()[ForceAnnotation] == "enabled" || (p.Drifted && o.RevertDrift) || o.TakeOver[p.ID]
	if p.Live != nil && !o.DryRun {
		live, err := m.takeOverFromKubectl(ctx, p)
		if err != nil {
			c.Action, c.Reason = Failed, err.Error()
			return c, fmt.Errorf("%s: take over from kubectl client-side apply: %w", p.ID, err)
		}
		if err := m.takeOverFromManagers(ctx, p.client, live); err != nil {
			c.Action, c.Reason = Failed, err.Error()
			return c, fmt.Errorf("%s: take over the fields of %s: %w", p.ID, strings.Join(m.opts.TakeOverManagers, ", "), err)
		}
	}
	res, err := m.patch(ctx, p, o.DryRun, force)
	if err != nil && isImmutable(err) && force && p.Live != nil {
		m.opts.Logger.Info("recreating object with changed immutable fields", "object", p.ID.String())
		if err = m.recreate(ctx, p, o.DryRun); err == nil {
			c.Reason = "recreated: an immutable field changed"
			return c, nil
		}
	}
	if err != nil {
		c.Action = Failed
		err = explain(p.ID, err)
		c.Reason = strings.TrimPrefix(err.Error(), p.ID.String()+": ")
		return c, err
	}
	if p.Live != nil {
		// A write that changed nothing keeps resourceVersion; a dry-run
		// never bumps it, so compare its result instead.
		if o.DryRun {
			if unified(p.ID, p.Live, res, nil) == "" {
				c.Action = Unchanged
			}
		} else if res.GetResourceVersion() == p.Live.GetResourceVersion() {
			c.Action = Unchanged
		}
	}
	return c, nil
}

// patch sends one server-side apply.
func (m *Manager) patch(ctx context.Context, p Planned, dryRun, force bool) (*unstructured.Unstructured, error) {
	send, manager := p.Desired, m.opts.FieldManager
	if dryRun {
		send, manager = m.asTakenOver(p)
	}
	body, err := json.Marshal(send.Object)
	if err != nil {
		return nil, err
	}
	opts := metav1.PatchOptions{FieldManager: manager, Force: &force}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return p.client.Patch(ctx, p.ID.Name, types.ApplyPatchType, body, opts)
}

// recreate deletes an object and applies it again: the only way to change
// an immutable field.
func (m *Manager) recreate(ctx context.Context, p Planned, dryRun bool) error {
	if dryRun {
		return nil
	}
	uid := p.Live.GetUID()
	bg := metav1.DeletePropagationBackground
	err := p.client.Delete(ctx, p.ID.Name, metav1.DeleteOptions{PropagationPolicy: &bg, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		cur, err := p.client.Get(ctx, p.ID.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return err == nil && cur.GetUID() != uid, err
	})
	if err != nil {
		return fmt.Errorf("wait for the old object to be deleted (finalizers?): %w", err)
	}
	_, err = m.patch(ctx, Planned{ID: p.ID, Desired: p.Desired, client: p.client}, false, true)
	return err
}

// takeOverFromKubectl migrates kubectl client-side apply's field
// ownership to tidegate, so fields Git later drops are really removed.
// It returns the live object as it is afterwards.
func (m *Manager) takeOverFromKubectl(ctx context.Context, p Planned) (*unstructured.Unstructured, error) {
	if _, ok := p.Live.GetAnnotations()[lastApplied]; !ok {
		hasCSA := false
		for _, f := range p.Live.GetManagedFields() {
			if f.Manager == "kubectl-client-side-apply" {
				hasCSA = true
			}
		}
		if !hasCSA {
			return p.Live, nil
		}
	}
	patch, err := csaupgrade.UpgradeManagedFieldsPatch(p.Live, sets.New(csaManagers...), m.opts.FieldManager)
	if err != nil || patch == nil {
		return p.Live, err
	}
	return p.client.Patch(ctx, p.ID.Name, types.JSONPatchType, patch, metav1.PatchOptions{})
}

// waitForCRDs waits until every CRD applied in this run is Established.
func (m *Manager) waitForCRDs(ctx context.Context, changes []Change) error {
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	var errs []error
	for _, c := range changes {
		if c.Action == Failed {
			continue
		}
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, m.opts.CRDTimeout, true, func(ctx context.Context) (bool, error) {
			crd, err := m.dyn.Resource(gvr).Get(ctx, c.ID.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				cm, _ := c.(map[string]any)
				if cm["type"] == "Established" && cm["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: not Established after %s: %w", c.ID, m.opts.CRDTimeout, err))
		}
	}
	return errors.Join(errs...)
}

func isImmutable(err error) bool {
	if !apierrors.IsInvalid(err) {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "immutable") || strings.Contains(msg, "may not change once set")
}

// explain turns API errors into errors that say what to do.
func explain(id object.ID, err error) error {
	switch {
	case apierrors.IsConflict(err):
		return fmt.Errorf("%s: %w (another field manager owns these fields; change them there, or pass --force to take them over)", id, err)
	case isImmutable(err):
		return fmt.Errorf("%s: %w (the field cannot change in place; pass --force, or annotate the object %s: enabled, to delete and recreate it)", id, err, ForceAnnotation)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s: %w (tidegate's service account lacks RBAC for this; see deploy/rbac)", id, err)
	}
	return fmt.Errorf("%s: %w", id, err)
}

// Digest is the hash of an object as rendered, without the digest itself.
// encoding/json sorts map keys, so equal objects hash equal.
func Digest(u *unstructured.Unstructured) string {
	d, _ := strip(u.DeepCopy(), DigestAnnotation)
	return d
}

// strip removes the annotations named from u, in place, and returns the
// hash of what is left with u's remaining annotations (nil for none).
func strip(u *unstructured.Unstructured, names ...string) (string, map[string]string) {
	ann := u.GetAnnotations()
	for _, n := range names {
		delete(ann, n)
	}
	if len(ann) == 0 {
		ann = nil
	}
	u.SetAnnotations(ann)
	b, _ := json.Marshal(u.Object)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16]), ann
}

// prepare makes u, in place, the object to send: kubectl's last-applied
// annotation removed (it would keep stale ownership alive) and the digest
// set. In place, because a copy would hold every rendered object twice
// while the live ones are read; preparing twice gives the same object.
// The digest is Digest's, computed without Digest's copy.
func prepare(u *unstructured.Unstructured) *unstructured.Unstructured {
	normalizeSecret(u)
	d, ann := strip(u, lastApplied, DigestAnnotation)
	if ann == nil {
		ann = map[string]string{}
	}
	ann[DigestAnnotation] = d
	u.SetAnnotations(ann)
	return u
}

// normalizeSecret moves stringData into data, as the API server does on
// write, so that a Secret's desired form compares equal to its live form.
func normalizeSecret(u *unstructured.Unstructured) {
	if u.GetAPIVersion() != "v1" || u.GetKind() != "Secret" {
		return
	}
	sd, ok := u.Object["stringData"].(map[string]any)
	if !ok {
		return
	}
	data, _ := u.Object["data"].(map[string]any)
	if data == nil {
		data = map[string]any{}
	}
	for k, v := range sd {
		s, _ := v.(string)
		data[k] = base64.StdEncoding.EncodeToString([]byte(s))
	}
	u.Object["data"] = data
	delete(u.Object, "stringData")
}
