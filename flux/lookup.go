package flux

import (
	"context"
	"encoding/base64"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Objects is a Lookup over objects in hand, such as the ConfigMaps and
// (decrypted) Secrets a run renders: a unit's substituteFrom may name one
// that an earlier unit, or the same directory, brings. A ConfigMap gives
// its data; a Secret its data, base64-decoded, with stringData over it as
// the API server merges them. Objects are matched by kind, namespace and
// name exactly; two matches are an error, since which one the cluster
// ends up with depends on the order they are applied in.
type Objects []*unstructured.Unstructured

// Get implements Lookup.
func (o Objects) Get(_ context.Context, kind, namespace, name string) (map[string]string, bool, error) {
	var found *unstructured.Unstructured
	for _, u := range o {
		if u == nil || u.GetAPIVersion() != "v1" || u.GetKind() != kind || u.GetNamespace() != namespace || u.GetName() != name {
			continue
		}
		if found != nil {
			return nil, false, fmt.Errorf("%s is in the run twice: keep one", Ref{Kind: kind, Namespace: namespace, Name: name})
		}
		found = u
	}
	if found == nil {
		return nil, false, nil
	}
	self := Ref{Kind: kind, Namespace: namespace, Name: name}
	f := newFields()
	out := map[string]string{}
	switch kind {
	case "ConfigMap":
		for k, v := range f.stringMap(found.Object, "data") {
			out[k] = v
		}
	case "Secret":
		for k, v := range f.stringMap(found.Object, "data") {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				// The value is not shown: it is a Secret's.
				f.fail("data."+quote(k), "is not base64: encode it, or put the plain value under stringData")
				continue
			}
			out[k] = string(b)
		}
		for k, v := range f.stringMap(found.Object, "stringData") {
			out[k] = v
		}
	default:
		return nil, false, fmt.Errorf("%s: substituteFrom reads only ConfigMaps and Secrets", self)
	}
	if !f.ok() {
		return nil, false, f.errs(self, "")
	}
	return out, true, nil
}

// Lookups is a Lookup that asks each of its Lookups in turn and answers
// with the first that has the object: the run's own objects before the
// cluster's, since what the run applies is what the cluster will hold.
type Lookups []Lookup

// Get implements Lookup.
func (l Lookups) Get(ctx context.Context, kind, namespace, name string) (map[string]string, bool, error) {
	for _, lu := range l {
		if lu == nil {
			continue
		}
		data, found, err := lu.Get(ctx, kind, namespace, name)
		if err != nil || found {
			return data, found, err
		}
	}
	return nil, false, nil
}
